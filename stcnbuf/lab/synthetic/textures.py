"""Textures of the default scene model: smooth multi-scale noise, the objects' textures and the background."""

from __future__ import annotations

import colorsys
import math
from typing import List, Optional, Tuple

import cv2
import numpy as np


def smooth_noise(rng: np.random.Generator, h: int, w: int, cells: List[float]) -> np.ndarray:
    """Multi-scale smoothed noise in 0..1 (``h×w`` float32): octaves of upsampled random grids."""
    acc = np.zeros((h, w), np.float32)
    for octave, cell in enumerate(cells):
        cell = max(float(cell), 1.0)
        gh, gw = int(math.ceil(h / cell)) + 2, int(math.ceil(w / cell)) + 2
        grid = rng.standard_normal((gh, gw)).astype(np.float32)
        up = cv2.resize(grid, (int(gw * cell), int(gh * cell)), interpolation=cv2.INTER_CUBIC)
        oy, ox = int(rng.integers(0, max(1, up.shape[0] - h + 1))), int(rng.integers(0, max(1, up.shape[1] - w + 1)))
        acc += up[oy:oy + h, ox:ox + w] * (0.6 ** (len(cells) - 1 - octave))
    lo, hi = np.percentile(acc, (1, 99))
    return np.clip((acc - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), np.float32)


def _object_colours(rng: np.random.Generator, avoid_hue: float, n: int = 3) -> List[np.ndarray]:
    """Saturated colours whose hues keep away from the background's hue."""
    base = avoid_hue + rng.uniform(0.2, 0.8)
    colours = []
    for i in range(n):
        hue = base + (rng.uniform(0.06, 0.2) * (1 if i % 2 else -1) if i else 0.0)
        colours.append(_hsv(hue, rng.uniform(0.55, 1.0), rng.uniform(0.25 if i else 0.6, 1.0)))
    return colours


def _mix(field: np.ndarray, colours: List[np.ndarray]) -> np.ndarray:
    """Map a 0..1 field through a piecewise-linear colour ramp → ``h×w×3`` float32."""
    n = len(colours)
    pos = np.clip(field, 0, 1) * (n - 1)
    i = np.minimum(pos.astype(np.int32), n - 2)
    f = (pos - i)[..., None]
    table = np.stack(colours)
    return (table[i] * (1 - f) + table[i + 1] * f).astype(np.float32)


TEXTURE_KINDS = ("noise", "stripes", "checker", "gradient", "dots", "cells", "waves")


def object_texture(rng: np.random.Generator, size: int, unit: float, avoid_hue: float,
                    kind: Optional[str] = None) -> np.ndarray:
    """A ``size×size×3`` float32 texture in 0..1 for an object sprite."""
    kind = kind or str(rng.choice(TEXTURE_KINDS))
    colours = _object_colours(rng, avoid_hue)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    angle = rng.uniform(0, math.pi)
    proj = xx * math.cos(angle) + yy * math.sin(angle)
    if kind == "noise":
        field = smooth_noise(rng, size, size, [c * unit for c in (24, 10, 4)])
        field = np.clip((field - 0.5) * 1.8 + 0.5, 0, 1)
    elif kind == "stripes":
        period = max(3.0, rng.uniform(7, 18) * unit)
        field = 0.5 + 0.5 * np.sin(2 * math.pi * proj / period)
        field = np.clip((field - 0.5) * 3 + 0.5, 0, 1)
    elif kind == "checker":
        cell = max(2.0, rng.uniform(6, 14) * unit)
        ortho = -xx * math.sin(angle) + yy * math.cos(angle)
        field = ((np.floor(proj / cell) + np.floor(ortho / cell)) % 2).astype(np.float32)
    elif kind == "gradient":
        field = (proj - proj.min()) / max(float(proj.max() - proj.min()), 1e-6)
        field = 0.85 * field + 0.15 * smooth_noise(rng, size, size, [c * unit for c in (8, 3)])
    elif kind == "dots":
        period = max(4.0, rng.uniform(9, 18) * unit)
        ortho = -xx * math.sin(angle) + yy * math.cos(angle)
        dy, dx = (proj / period) % 1 - 0.5, (ortho / period) % 1 - 0.5
        field = (np.hypot(dy, dx) < rng.uniform(0.2, 0.4)).astype(np.float32)
        field = 0.8 * field + 0.2 * smooth_noise(rng, size, size, [c * unit for c in (12, 4)])
    elif kind == "cells":  # a Voronoi mosaic: every cell one shade, dark seams between cells
        seeds = rng.uniform(0, size, (int(rng.integers(6, 20)), 2)).astype(np.float32)
        distances = np.hypot(xx[..., None] - seeds[:, 0], yy[..., None] - seeds[:, 1])
        nearest = np.argmin(distances, axis=2)
        first, second = np.moveaxis(np.partition(distances, 1, axis=2)[..., :2], 2, 0)
        field = rng.uniform(0, 1, len(seeds)).astype(np.float32)[nearest]
        field = field * np.clip((second - first) / max(1.5 * unit, 1.0), 0.3, 1)
    elif kind == "waves":  # warped bands
        warp = smooth_noise(rng, size, size, [c * unit for c in (30, 12)]) * rng.uniform(10, 30) * unit
        field = 0.5 + 0.5 * np.sin(2 * math.pi * (proj + warp) / max(4.0, rng.uniform(10, 24) * unit))
    else:
        raise ValueError(kind)
    texture = _mix(field, colours[:2] if kind in ("stripes", "checker", "dots") else colours)
    # a little fine grain so that every texture has something to track
    grain = smooth_noise(rng, size, size, [max(1.0, 2 * unit)])
    return np.clip(texture * (0.9 + 0.2 * grain[..., None]), 0, 1)


def background(rng: np.random.Generator, h: int, w: int, unit: float) -> Tuple[np.ndarray, float]:
    """A textured background canvas ``h×w×3`` uint8 and its dominant hue."""
    hue = rng.uniform(0, 1)
    palette = [_hsv(hue + rng.uniform(-0.08, 0.08), rng.uniform(0.1, 0.55), rng.uniform(0.2, 0.85))
               for _ in range(3)]
    palette.sort(key=lambda c: float(c.mean()))
    field = smooth_noise(rng, h, w, [c * unit for c in (160, 80, 40, 20)])
    image = _mix(field, palette)
    style = str(rng.choice(("blobs", "stripes", "tiles", "plain")))
    if style == "blobs":
        layer = (image * 255).astype(np.uint8)
        for _ in range(int(rng.integers(15, 40))):
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            axes = (int(rng.uniform(8, 50) * unit) + 1, int(rng.uniform(8, 50) * unit) + 1)
            colour = _hsv(hue + rng.uniform(-0.15, 0.15), rng.uniform(0.1, 0.6), rng.uniform(0.15, 0.9)) * 255
            cv2.ellipse(layer, centre, axes, float(rng.uniform(0, 180)), 0, 360,
                        tuple(float(c) for c in colour), -1, cv2.LINE_AA)
        sigma = max(0.5, 1.5 * unit)
        image = cv2.GaussianBlur(layer, (0, 0), sigma).astype(np.float32) / 255
    elif style == "stripes":
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        angle = rng.uniform(0, math.pi)
        period = rng.uniform(20, 60) * unit
        warp = smooth_noise(rng, h, w, [c * unit for c in (120, 60)]) * period * 1.5
        stripes = 0.5 + 0.5 * np.sin(2 * math.pi * (xx * math.cos(angle) + yy * math.sin(angle) + warp) / period)
        image = image * (0.7 + 0.3 * stripes[..., None])
    elif style == "tiles":
        cell = max(4, int(rng.uniform(25, 60) * unit))
        yy, xx = np.mgrid[0:h, 0:w]
        lines = ((yy % cell) < max(1, cell // 12)) | ((xx % cell) < max(1, cell // 12))
        image = image * np.where(lines, 0.55, 1.0)[..., None].astype(np.float32)
    detail = smooth_noise(rng, h, w, [c * unit for c in (6, 3)])
    image = np.clip(image * (0.88 + 0.24 * detail[..., None]), 0, 1)
    return (image * 255 + 0.5).astype(np.uint8), hue
