"""The embedded default dataset: deterministic synthetic videos written in the DAVIS 2017 layout.

Every sequence is a textured background seen by a camera that pans, zooms, rotates and sometimes shakes,
with 1 to ``max_objects`` textured, often shaded shapes (polygons, ellipses, blobs, stars, rings with a hole,
crescents, clusters of lobes, bars) that move smoothly with occasional quick moves, rotate, change scale,
sometimes bend and stretch (non-rigid), cast shadows, occlude each other (fixed z-order), leave the frame and
come back, and sometimes change appearance (gradually or at one frame). Up to two unannotated distractors,
some wearing an object's texture, move among them. Global brightness / contrast / colour gains drift, light
and shade move over the scene, exposure sometimes flickers; some sequences are slightly blurred, most carry
sensor noise. Every object is clearly visible in frame 0, so frame 0's mask holds every id 1..K.

Layout written (read like DAVIS 2017)::

    ROOT/JPEGImages/480p/<seq>/00000.jpg ...      RGB JPEG (quality 90)
    ROOT/Annotations/480p/<seq>/00000.png ...     palette PNG (DAVIS palette), every frame annotated
    ROOT/ImageSets/2017/{train,val,long}.txt      one sequence name per line
    ROOT/synthetic.json                           generation parameters + format version (written last)

Every random choice comes from ``np.random.default_rng([seed, split id, index])``: a sequence does not
depend on the other sequences, the order of generation, or how many sequences its split has.

Command line::

    python -m stcnbuf.lab.synthetic.default --root DIR [--seed N --height H --width W ...]
"""

from __future__ import annotations

import argparse
import colorsys
import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import re
import shutil
import socket
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import cv2
import numpy as np
from tqdm import tqdm

from stcnbuf.io import atomic_write_text, write_label_png
from stcnbuf.io.atomic import process_running

log = logging.getLogger(__name__)

#: Bump when the generated content or layout changes: a dataset with another version is regenerated.
FORMAT_VERSION = 2
SPLITS = ("train", "val", "long")
_SPLIT_IDS = {"train": 1, "val": 2, "long": 3}
META_FILE = "synthetic.json"
JPEG_QUALITY = 90
_NOISE_PAD = 32   # noise images are this much larger than a frame: each frame takes them at a random offset
#: a light field drifts at most this many ``unit`` pixels from where it started, then turns back
DRIFT_LIMIT = 2000


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of the synthetic dataset (all of them go into :meth:`key` and ``synthetic.json``)."""

    seed: int = 0
    height: int = 240
    width: int = 432
    train_sequences: int = 40
    train_frames: int = 40
    val_sequences: int = 8
    val_frames: int = 50
    long_sequences: int = 2
    long_frames: int = 400
    max_objects: int = 3

    def __post_init__(self) -> None:
        check_generator_ints(self, [f.name for f in dataclasses.fields(self)])
        if self.height < 16 or self.width < 16:
            raise ValueError(f"frames must be at least 16×16, got {self.height}×{self.width}")
        if not 1 <= self.max_objects <= 254:
            raise ValueError(f"max_objects must be in 1..254, got {self.max_objects}")
        for split in SPLITS:
            if self.sequences(split) < 0:
                raise ValueError(f"{split}_sequences must be >= 0, got {self.sequences(split)}")
            if self.frames(split) < 1:
                raise ValueError(f"{split}_frames must be >= 1, got {self.frames(split)}")

    def sequences(self, split: str) -> int:
        _check_split(split)
        return int(getattr(self, f"{split}_sequences"))

    def frames(self, split: str) -> int:
        _check_split(split)
        return int(getattr(self, f"{split}_frames"))

    def as_dict(self) -> Dict[str, int]:
        return {f.name: int(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def key(self) -> str:
        """A short stable hash of every field (see :func:`parameters_key`)."""
        return parameters_key(self.as_dict())


def check_generator_ints(config: object, names: List[str]) -> None:
    """Refuse generator parameters ``names`` of ``config`` that are not ints, and a negative ``seed``."""
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise TypeError(f"{type(config).__name__}.{name} must be an int, got {value!r}")
    if config.seed < 0:
        raise ValueError(f"seed must be >= 0, got {config.seed}")


def parameters_key(parameters: dict) -> str:
    """A short stable hash of generator parameters: sha1 of their sorted JSON, 10 hex digits."""
    text = json.dumps(parameters, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")


def sequence_name(split: str, index: int) -> str:
    return f"{split}_{index:03d}"


# ----------------------------------------------------------------------------------------------------------
# Textures


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: List[float]) -> np.ndarray:
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


def _object_texture(rng: np.random.Generator, size: int, unit: float, avoid_hue: float,
                    kind: Optional[str] = None) -> np.ndarray:
    """A ``size×size×3`` float32 texture in 0..1 for an object sprite."""
    kind = kind or str(rng.choice(TEXTURE_KINDS))
    colours = _object_colours(rng, avoid_hue)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    angle = rng.uniform(0, math.pi)
    proj = xx * math.cos(angle) + yy * math.sin(angle)
    if kind == "noise":
        field = _smooth_noise(rng, size, size, [c * unit for c in (24, 10, 4)])
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
        field = 0.85 * field + 0.15 * _smooth_noise(rng, size, size, [c * unit for c in (8, 3)])
    elif kind == "dots":
        period = max(4.0, rng.uniform(9, 18) * unit)
        ortho = -xx * math.sin(angle) + yy * math.cos(angle)
        dy, dx = (proj / period) % 1 - 0.5, (ortho / period) % 1 - 0.5
        field = (np.hypot(dy, dx) < rng.uniform(0.2, 0.4)).astype(np.float32)
        field = 0.8 * field + 0.2 * _smooth_noise(rng, size, size, [c * unit for c in (12, 4)])
    elif kind == "cells":  # a Voronoi mosaic: every cell one shade, dark seams between cells
        seeds = rng.uniform(0, size, (int(rng.integers(6, 20)), 2)).astype(np.float32)
        distances = np.hypot(xx[..., None] - seeds[:, 0], yy[..., None] - seeds[:, 1])
        nearest = np.argmin(distances, axis=2)
        first, second = np.moveaxis(np.partition(distances, 1, axis=2)[..., :2], 2, 0)
        field = rng.uniform(0, 1, len(seeds)).astype(np.float32)[nearest]
        field = field * np.clip((second - first) / max(1.5 * unit, 1.0), 0.3, 1)
    elif kind == "waves":  # warped bands
        warp = _smooth_noise(rng, size, size, [c * unit for c in (30, 12)]) * rng.uniform(10, 30) * unit
        field = 0.5 + 0.5 * np.sin(2 * math.pi * (proj + warp) / max(4.0, rng.uniform(10, 24) * unit))
    else:
        raise ValueError(kind)
    texture = _mix(field, colours[:2] if kind in ("stripes", "checker", "dots") else colours)
    # a little fine grain so that every texture has something to track
    grain = _smooth_noise(rng, size, size, [max(1.0, 2 * unit)])
    return np.clip(texture * (0.9 + 0.2 * grain[..., None]), 0, 1)


def _background(rng: np.random.Generator, h: int, w: int, unit: float) -> Tuple[np.ndarray, float]:
    """A textured background canvas ``h×w×3`` uint8 and its dominant hue."""
    hue = rng.uniform(0, 1)
    palette = [_hsv(hue + rng.uniform(-0.08, 0.08), rng.uniform(0.1, 0.55), rng.uniform(0.2, 0.85))
               for _ in range(3)]
    palette.sort(key=lambda c: float(c.mean()))
    field = _smooth_noise(rng, h, w, [c * unit for c in (160, 80, 40, 20)])
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
        warp = _smooth_noise(rng, h, w, [c * unit for c in (120, 60)]) * period * 1.5
        stripes = 0.5 + 0.5 * np.sin(2 * math.pi * (xx * math.cos(angle) + yy * math.sin(angle) + warp) / period)
        image = image * (0.7 + 0.3 * stripes[..., None])
    elif style == "tiles":
        cell = max(4, int(rng.uniform(25, 60) * unit))
        yy, xx = np.mgrid[0:h, 0:w]
        lines = ((yy % cell) < max(1, cell // 12)) | ((xx % cell) < max(1, cell // 12))
        image = image * np.where(lines, 0.55, 1.0)[..., None].astype(np.float32)
    detail = _smooth_noise(rng, h, w, [c * unit for c in (6, 3)])
    image = np.clip(image * (0.88 + 0.24 * detail[..., None]), 0, 1)
    return (image * 255 + 0.5).astype(np.uint8), hue


# ----------------------------------------------------------------------------------------------------------
# Shapes


SHAPE_KINDS = ("ellipse", "polygon", "blob", "star", "ring", "crescent", "cluster", "bar")


def _ellipse_points(a: float, b: float, rotation: float, n: int = 72) -> np.ndarray:
    theta = np.linspace(0, 2 * math.pi, n, endpoint=False)
    x, y = a * np.cos(theta), b * np.sin(theta)
    return np.stack([x * math.cos(rotation) - y * math.sin(rotation), x * math.sin(rotation) + y * math.cos(rotation)], 1)


def _shape_outlines(rng: np.random.Generator, radius: float, kind: str) -> List[Tuple[np.ndarray, int]]:
    """A random shape of ``kind`` as outlines (N×2, centred on 0, within ``radius``) to fill in order, each
    with the alpha it paints (0 cuts a hole)."""
    if kind == "ellipse":
        return [(_ellipse_points(radius, radius * rng.uniform(0.45, 1.0), rng.uniform(0, math.pi)), 255)]
    if kind == "polygon":
        n = int(rng.integers(5, 10))
        theta = np.sort(rng.uniform(0, 2 * math.pi, n))
        # spread the angles so that no gap is huge (keeps polygons chunky)
        theta = 0.5 * theta + 0.5 * (np.arange(n) * 2 * math.pi / n + theta[0])
        r = radius * rng.uniform(0.6, 1.0, n)
        return [(np.stack([r * np.cos(theta), r * np.sin(theta)], 1), 255)]
    if kind == "blob":
        theta = np.linspace(0, 2 * math.pi, 96, endpoint=False)
        r = np.ones_like(theta)
        for k in range(2, 6):
            r += rng.uniform(0, 0.28 / (k - 1)) * np.cos(k * theta + rng.uniform(0, 2 * math.pi))
        r = radius * r / r.max()
        return [(np.stack([r * np.cos(theta), r * np.sin(theta)], 1), 255)]
    if kind == "star":
        n = int(rng.integers(4, 9))
        theta = np.arange(2 * n) * math.pi / n + rng.uniform(0, 2 * math.pi)
        r = radius * np.where(np.arange(2 * n) % 2 == 0, 1.0, rng.uniform(0.4, 0.65)) * rng.uniform(0.85, 1.0, 2 * n)
        return [(np.stack([r * np.cos(theta), r * np.sin(theta)], 1), 255)]
    if kind == "ring":
        rotation, squash = rng.uniform(0, math.pi), rng.uniform(0.6, 1.0)
        outer = _ellipse_points(radius, radius * squash, rotation)
        return [(outer, 255), (outer * rng.uniform(0.35, 0.6), 0)]
    if kind == "crescent":
        bite = rng.uniform(0.35, 0.6) * radius
        direction = rng.uniform(0, 2 * math.pi)
        cut = _ellipse_points(radius * rng.uniform(0.75, 0.95), radius * rng.uniform(0.75, 0.95), 0.0)
        return [(_ellipse_points(radius, radius, 0.0), 255),
                (cut + bite * np.array([math.cos(direction), math.sin(direction)]), 0)]
    if kind == "cluster":
        lobes = int(rng.integers(2, 4))
        start = rng.uniform(0, 2 * math.pi)
        outlines = []
        for i in range(lobes):
            size = radius * rng.uniform(0.4, 0.55)
            reach = radius - size
            angle = start + i * 2 * math.pi / lobes + rng.uniform(-0.4, 0.4)
            centre = reach * rng.uniform(0.6, 1.0) * np.array([math.cos(angle), math.sin(angle)])
            outlines.append((_ellipse_points(size, size * rng.uniform(0.6, 1.0), rng.uniform(0, math.pi)) + centre, 255))
        return outlines
    if kind == "bar":  # a capsule
        half = rng.uniform(0.15, 0.3) * radius
        theta = np.linspace(-math.pi / 2, math.pi / 2, 24)
        length = radius - half
        right = np.stack([length + half * np.cos(theta), half * np.sin(theta)], 1)
        rotation = rng.uniform(0, math.pi)
        points = np.concatenate([right, -right])
        c, s = math.cos(rotation), math.sin(rotation)
        return [(points @ np.array([[c, s], [-s, c]]), 255)]
    raise ValueError(kind)


def _shape_alpha(rng: np.random.Generator, radius: float, size: int) -> np.ndarray:
    """The anti-aliased alpha (``size×size`` uint8) of a random shape centred in the sprite, within ``radius``."""
    centre = (size - 1) / 2.0
    alpha = np.zeros((size, size), np.uint8)
    for outline, value in _shape_outlines(rng, radius, str(rng.choice(SHAPE_KINDS))):
        cv2.fillPoly(alpha, [np.round((outline + centre) * 16).astype(np.int32)], value, cv2.LINE_AA, shift=4)
    return alpha


def _shaded(rng: np.random.Generator, texture: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``texture`` lit as a rounded body (brighter inside, darker rim, a directional gradient and a highlight)
    on most objects; flat on the others."""
    if rng.random() >= 0.6:
        return texture
    size = alpha.shape[0]
    inside = cv2.distanceTransform((alpha > 127).astype(np.uint8), cv2.DIST_L2, 5)
    bulge = np.sqrt(inside / max(float(inside.max()), 1.0))
    light = rng.uniform(0, 2 * math.pi)
    lx, ly = math.cos(light), math.sin(light)
    yy, xx = (np.mgrid[0:size, 0:size].astype(np.float32) - (size - 1) / 2) / size
    shading = 0.6 + 0.35 * bulge - 0.5 * (xx * lx + yy * ly)
    highlight = np.exp(-((xx + 0.2 * lx) ** 2 + (yy + 0.2 * ly) ** 2) / 0.01) * rng.uniform(0, 0.35)
    return np.clip(texture * shading[..., None] + highlight[..., None], 0, 1).astype(np.float32)


# ----------------------------------------------------------------------------------------------------------
# Motion


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, 1)
    return x * x * (3 - 2 * x)


def _sines(rng: np.random.Generator, t: np.ndarray, amplitudes: Tuple[float, float], periods: Tuple[float, float],
           n: int, anchored: bool = True) -> np.ndarray:
    """A sum of ``n`` random sinusoids over ``t`` (0 at t=0 when anchored)."""
    out = np.zeros_like(t, dtype=np.float64)
    for _ in range(n):
        a, p, phi = rng.uniform(*amplitudes), rng.uniform(*periods), rng.uniform(0, 2 * math.pi)
        out += a * (np.sin(2 * math.pi * t / p + phi) - (math.sin(phi) if anchored else 0.0))
    return out


@dataclass
class _Object:
    oid: int
    sprite: np.ndarray            # S×S×4 uint8, RGB premultiplied by alpha, alpha in channel 3 (first look)
    sprite_b: Optional[np.ndarray]  # second look (appearance change) or None
    change: np.ndarray            # T weights of the second look (0..1)
    centre: float                 # sprite centre (pixels)
    radius: float                 # farthest outline point from the centre, in sprite pixels
    area: float                   # shape area in sprite pixels (alpha sum)
    scale: np.ndarray             # T: frame pixels per sprite pixel
    angle: np.ndarray             # T: radians
    drift: np.ndarray             # T×2 (x, y) displacement from the start position, without excursions
    position: np.ndarray          # T×2 (x, y) final trajectory (set after placement)
    excursions: List[Tuple[int, int]]
    visible_from: int = 0         # not drawn before this frame (an object that enters the video late)
    texture: Optional[np.ndarray] = None  # S×S×3 float32 first look before the alpha (a distractor may wear it)
    #: non-rigid bending: (amplitude in sprite pixels, wavelength in sprite pixels, radians per frame, phase x,
    #: phase y), or None for a rigid object
    bend: Optional[Tuple[float, float, float, float, float]] = None


class _Scene:
    """One synthetic sequence: everything is drawn from the sequence's generator at construction."""

    def __init__(self, config: SyntheticConfig, split: str, index: int) -> None:
        _check_split(split)
        count = config.sequences(split)
        if not 0 <= index < count:
            raise ValueError(f"sequence index {index} out of range for split {split!r} with {count} sequences")
        rng = np.random.default_rng([config.seed, _SPLIT_IDS[split], index])
        self._setup(rng, sequence_name(split, index), config.frames(split), config.height, config.width)
        self._add_objects(rng, int(rng.integers(1, config.max_objects + 1)))
        self._add_distractors(rng, int(rng.choice(3, p=(0.4, 0.35, 0.25))))
        self._place(rng, self.t)

    def _setup(self, rng: np.random.Generator, name: str, num_frames: int, height: int, width: int) -> None:
        """The background canvas, the camera path over it and the lighting drift."""
        self.name = name
        self.num_frames = T = num_frames
        H, W = self.height, self.width = height, width
        unit = self.unit = min(H, W) / 240.0
        t = self.t = np.arange(T, dtype=np.float64)

        # background canvas, larger than the frame, and the camera path over it
        self.margin = (int(math.ceil(0.22 * H)) + 4, int(math.ceil(0.22 * W)) + 4)
        ch, cw = H + 2 * self.margin[0], W + 2 * self.margin[1]
        self.canvas, self.bg_hue = _background(rng, ch, cw, unit)
        my, mx = self.margin
        self.cam_x = _sines(rng, t, (0.15 * mx, 0.4 * mx), (60, 220), 2, anchored=False)
        self.cam_y = _sines(rng, t, (0.15 * my, 0.4 * my), (60, 220), 2, anchored=False)
        zoom = rng.uniform(0.03, 0.15)
        self.cam_zoom = 1.0 + zoom * (0.5 + 0.5 * np.sin(2 * math.pi * t / rng.uniform(80, 240) + rng.uniform(0, 6.3)))
        self.cam_rot = np.deg2rad(_sines(rng, t, (0.3, 1.2), (80, 240), 1, anchored=False))
        if rng.random() < 0.5:  # a hand-held camera: smoothed jitter of a few pixels
            for axis in ("cam_x", "cam_y"):
                jitter = cv2.GaussianBlur(rng.normal(0, 1, (1, T)), (0, 0), 1.5).ravel()
                setattr(self, axis, getattr(self, axis) + jitter / max(float(np.abs(jitter).max()), 1e-6)
                        * rng.uniform(1, 4) * unit)

        # lighting drift: brightness offset, contrast, per-channel gains
        trend = rng.uniform(0.05, 0.11) * rng.choice((-1.0, 1.0))
        u = t / max(T - 1, 1) - 0.5
        self.brightness = _sines(rng, t, (0.02, 0.06), (40, 160), 1, anchored=False) + trend * u
        self.contrast = 1.0 + _sines(rng, t, (0.04, 0.15), (50, 200), 1, anchored=False)
        self.gains = np.stack([1.0 + _sines(rng, t, (0.02, 0.08), (60, 240), 1, anchored=False) for _ in range(3)], 1)
        if rng.random() < 0.25:  # exposure flicker: a few frames brighter or darker
            flicker = rng.random(T) < 0.06
            self.brightness = self.brightness + flicker * rng.uniform(-0.12, 0.12, T)
        # light and shade moving over the scene (objects and background alike)
        self.shade_depth = rng.uniform(0.1, 0.35) if rng.random() < 0.7 else 0.0
        pad, self.shade_offset = drifting_offsets(t, rng.uniform(-1.2, 1.2, 2)[::-1] * unit, DRIFT_LIMIT * unit)
        self.shade_field = _smooth_noise(rng, H + 2 * pad, W + 2 * pad, [c * unit for c in (140, 70)])
        # objects' shadows on the background: an offset along the light and a strength
        angle = rng.uniform(0, 2 * math.pi)
        self.shadow_offset = rng.uniform(3, 10) * unit * np.array([math.cos(angle), math.sin(angle)])
        self.shadow_depth = rng.uniform(0.2, 0.5) if rng.random() < 0.6 else 0.0
        # the sensor: a slight blur on some sequences, noise on most
        self.blur = rng.uniform(0.4, 1.0) * unit if rng.random() < 0.3 else 0.0
        self.noise = rng.uniform(0.5, 4.0) if rng.random() < 0.7 else 0.0
        self.noise_seed = int(rng.integers(1 << 31))
        self.distractors: List[_Object] = []

    def _add_objects(self, rng: np.random.Generator, count: int) -> None:
        """Objects 1..count and their fixed z-order."""
        self.objects: List[_Object] = [self._make_object(rng, k + 1, self.num_frames, self.t, self.bg_hue)
                                       for k in range(count)]
        #: everything drawn, back to front
        self.layers: List[_Object] = [self.objects[i] for i in rng.permutation(count)]

    def _add_distractors(self, rng: np.random.Generator, count: int) -> None:
        """``count`` unannotated movers (label 0 where they are in front), each at a random depth; half of them
        wear the texture of an annotated object."""
        for _ in range(count):
            twin = self.objects[int(rng.integers(len(self.objects)))] if rng.random() < 0.5 else None
            distractor = self._make_object(rng, 0, self.num_frames, self.t, self.bg_hue, twin)
            self.distractors.append(distractor)
            self.layers.insert(int(rng.integers(len(self.layers) + 1)), distractor)

    @property
    def movers(self) -> List[_Object]:
        """Annotated objects and distractors."""
        return self.objects + self.distractors

    @property
    def z_order(self) -> List[int]:
        """Ids of the annotated objects from back to front."""
        return [obj.oid for obj in self.layers if obj.oid]

    # -- construction ---------------------------------------------------------------------------------------

    def _make_object(self, rng: np.random.Generator, oid: int, T: int, t: np.ndarray, bg_hue: float,
                     twin: Optional[_Object] = None) -> _Object:
        """Object ``oid`` (0: a distractor); ``twin``: an object whose texture it wears."""
        H, W, unit = self.height, self.width, self.unit
        radius = rng.uniform(0.10, 0.19) * min(H, W)   # frame pixels at scale 1
        oversample = 1.35                              # sprite drawn at the largest scale it reaches
        r_sprite = radius * oversample
        size = int(2 * math.ceil(r_sprite) + 6)
        centre = (size - 1) / 2.0
        alpha = _shape_alpha(rng, r_sprite, size)
        ys, xs = np.nonzero(alpha)
        far = float(np.hypot(xs - centre, ys - centre).max()) + 1.0
        if twin is not None:
            texture_a = cv2.resize(twin.texture, (size, size), interpolation=cv2.INTER_LINEAR)
        else:
            texture_a = _shaded(rng, _object_texture(rng, size, unit * oversample, bg_hue), alpha)
        sprite = _premultiply(texture_a, alpha)

        # appearance change: a new texture, or the same one recoloured; gradual or at one frame
        change = np.zeros(T, np.float32)
        sprite_b = None
        if T >= 6 and rng.random() < 0.4:
            if rng.random() < 0.5:
                texture_b = _object_texture(rng, size, unit * oversample, bg_hue)
            else:
                hsv = cv2.cvtColor(texture_a, cv2.COLOR_RGB2HSV)
                hsv[..., 0] = (hsv[..., 0] + rng.uniform(60, 180)) % 360
                texture_b = np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), 0, 1)
            sprite_b = _premultiply(texture_b, alpha)
            start = int(rng.integers(max(1, int(0.25 * T)), max(2, int(0.75 * T))))
            if rng.random() < 0.5:  # sudden
                change[start:] = 1.0
            else:
                duration = rng.uniform(4, 20)
                change[:] = _smoothstep((t - start) / duration)

        scale = rng.uniform(0.8, 1.0) / oversample * np.exp(
            _sines(rng, t, (0.05, 0.14), (50, 200), 2, anchored=False))
        angle = rng.uniform(0, 2 * math.pi) + np.deg2rad(rng.uniform(-1.5, 1.5)) * t \
            + np.deg2rad(_sines(rng, t, (3, 15), (40, 160), 1))
        drift = np.stack([_sines(rng, t, (0.05 * W, 0.16 * W), (45, 180), 2),
                          _sines(rng, t, (0.05 * H, 0.16 * H), (45, 180), 2)], 1)
        if rng.random() < 0.3:  # quick moves
            drift += np.stack([_sines(rng, t, (0.02 * W, 0.05 * W), (10, 25), 1),
                               _sines(rng, t, (0.02 * H, 0.05 * H), (10, 25), 1)], 1)
        bend = None
        if rng.random() < 0.35:
            bend = (rng.uniform(0.04, 0.1) * r_sprite, rng.uniform(0.8, 2.0) * r_sprite, rng.uniform(0.08, 0.3),
                    rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi))
        return _Object(oid, sprite, sprite_b, change, centre, far, float(alpha.sum()) / 255.0,
                       scale, angle, drift, np.zeros_like(drift), [], texture=texture_a, bend=bend)

    def _place(self, rng: np.random.Generator, t: np.ndarray) -> None:
        """Start positions (every object clearly visible in frame 0), crossings (occlusions), excursions (exits)."""
        self._place_starts(rng)
        self._add_crossings(rng, t)
        self._add_excursions(rng, self.movers, t)

    def _place_starts(self, rng: np.random.Generator) -> None:
        H, W = self.height, self.width
        best, best_score = None, -1.0
        for attempt in range(60):
            starts = []
            for obj in self.movers:
                r = min(obj.radius * obj.scale[0], 0.45 * min(H, W))
                starts.append((rng.uniform(r, W - r), rng.uniform(r, H - r)))
            for obj, start in zip(self.movers, starts):
                obj.position = obj.drift + np.asarray(start)
            score = self._frame0_visibility()
            if score > best_score:
                best, best_score = starts, score
            if score >= 0.7:
                break
        for obj, start in zip(self.movers, best):
            obj.position = obj.drift + np.asarray(start)

    def _add_crossings(self, rng: np.random.Generator, t: np.ndarray, keep_in_view: bool = False) -> None:
        """An object steers towards another one, so that they overlap (occlusion) around a time tc.

        Each crossing's offset stays after it; over the many crossings of a long video they add up, so
        ``keep_in_view`` moves each meeting point into the frame (the object's centre at least its radius from
        the borders), which keeps every object within its drift of the frame for any length."""
        T = self.num_frames
        movers = self.movers
        if len(movers) >= 2 and T >= 8:
            n = max(1, int(round(T / 120)))
            previous = 0
            for e in range(n):
                lo, hi = previous + 0.3 * (T - previous) / (n - e), previous + 0.9 * (T - previous) / (n - e)
                tc = int(rng.uniform(lo, hi))
                if rng.random() < 0.3 or tc <= previous + 3:
                    previous = max(previous, tc)
                    continue
                i, j = rng.choice(len(movers), 2, replace=False)
                a, b = movers[i], movers[j]
                gap = (a.radius * a.scale[tc] + b.radius * b.scale[tc]) * rng.uniform(0.1, 0.6)
                direction = rng.uniform(0, 2 * math.pi)
                target = b.position[tc] + gap * np.array([math.cos(direction), math.sin(direction)])
                if keep_in_view:
                    r = min(a.radius * a.scale[tc], 0.45 * min(self.height, self.width))
                    target = np.clip(target, [r, r], [self.width - r, self.height - r])
                offset = target - a.position[tc]
                if 1.5 * float(np.hypot(*offset)) / (tc - previous) > 16.0 * self.unit:
                    continue  # too far to reach at a plausible speed
                ramp = _smoothstep((t - previous) / (tc - previous))
                a.position = a.position + ramp[:, None] * offset[None, :]
                previous = tc

    def _add_excursions(self, rng: np.random.Generator, objects: List[_Object], t: np.ndarray) -> None:
        """Some of ``objects`` leave the frame across the nearest border and come back (8..70 frames later)."""
        T = self.num_frames
        for obj in objects:
            if T < 10 or rng.random() >= 0.55:
                continue
            n = max(1, int(round(T / 160)))
            slot = (T - 2) / n
            for s in range(n):
                length = int(np.clip(rng.uniform(0.45, 0.8) * slot, 8, 70))
                if length > slot:
                    continue
                t0 = 1 + int(s * slot + rng.uniform(0, slot - length))
                self._add_excursion(rng, obj, t0, length, t)

    def _frame0_visibility(self) -> float:
        """Smallest fraction of an object's own area visible in frame 0 (after occlusion and the border)."""
        _, labels, _ = self.render(0, appearance=False, light=False)
        fractions = []
        for obj in self.objects:
            full = obj.area * float(obj.scale[0]) ** 2
            fractions.append(float((labels == obj.oid).sum()) / max(full, 1.0))
        return min(fractions)

    def _add_excursion(self, rng: np.random.Generator, obj: _Object, t0: int, length: int, t: np.ndarray) -> None:
        s = (t - t0) / length
        up, hold = rng.uniform(0.33, 0.43), rng.uniform(0.08, 0.22)
        profile = _smoothstep(s / up) * (1 - _smoothstep((s - up - hold) / up))
        plateau = (s >= up) & (s <= up + hold)
        if not plateau.any():
            return
        mid = int(np.clip(t0 + length // 2, 0, len(t) - 1))
        if self._push_out(obj, profile, plateau, mid, up * length):
            obj.excursions.append((t0, t0 + length))

    def _push_out(self, obj: _Object, profile: np.ndarray, hidden: np.ndarray, mid: int, ramp: float) -> bool:
        """Move ``obj`` across the border nearest to it at frame ``mid`` by ``profile`` times the distance that
        hides it on every ``hidden`` frame; nothing moves (False) when the ``ramp`` frames would need an
        implausible speed."""
        H, W = self.height, self.width
        x, y = obj.position[mid]
        distances = {(-1, 0): x, (1, 0): W - x, (0, -1): y, (0, 1): H - y}
        direction = min(distances, key=distances.get)
        d = np.array(direction, np.float64)
        reach = obj.radius * obj.scale + 3.0            # distance beyond the border that hides the object
        # the object is hidden once its centre is ``reach`` beyond the border along d
        coord = obj.position @ d
        border = {(-1, 0): 0.0, (1, 0): float(W), (0, -1): 0.0, (0, 1): float(H)}[direction] * float(d.sum())
        needed = border + reach - coord
        amplitude = float(needed[hidden].max()) + 2.0
        # the ramp's peak speed (smoothstep: 1.5 × the mean speed of the ramp) stays plausible
        if 1.5 * amplitude / ramp > 16.0 * self.unit:
            return False
        obj.position = obj.position + profile[:, None] * amplitude * d[None, :]
        return True

    # -- rendering ------------------------------------------------------------------------------------------

    def _sprite_at(self, obj: _Object, frame: int, appearance: bool) -> np.ndarray:
        w = float(obj.change[frame]) if appearance and obj.sprite_b is not None else 0.0
        if w <= 0.0:
            return obj.sprite
        if w >= 1.0:
            return obj.sprite_b
        return cv2.addWeighted(obj.sprite, 1.0 - w, obj.sprite_b, w, 0.0)

    def _warp(self, obj: _Object, frame: int, appearance: bool) -> Optional[Tuple[np.ndarray, int, int]]:
        """``obj``'s sprite placed in the frame at ``frame``: (RGBA crop uint8, x0, y0), None when out of view."""
        H, W = self.height, self.width
        s, th = float(obj.scale[frame]), float(obj.angle[frame])
        b = s * np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
        p = obj.position[frame]
        reach = (obj.radius + (obj.bend[0] if obj.bend else 0.0)) * s + 2
        x0, x1 = max(0, int(math.floor(p[0] - reach))), min(W, int(math.ceil(p[0] + reach)) + 1)
        y0, y1 = max(0, int(math.floor(p[1] - reach))), min(H, int(math.ceil(p[1] + reach)) + 1)
        if x1 <= x0 or y1 <= y0 or frame < obj.visible_from:
            return None
        shift = p - b @ np.array([obj.centre, obj.centre]) - np.array([x0, y0])
        sprite = self._sprite_at(obj, frame, appearance)
        if obj.bend is None:
            warped = cv2.warpAffine(sprite, np.hstack([b, shift[:, None]]), (x1 - x0, y1 - y0),
                                    flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            return warped, x0, y0
        # non-rigid: where each pixel comes from in the sprite, then a travelling sinusoidal displacement
        amplitude, wavelength, speed, phase_x, phase_y = obj.bend
        yy, xx = np.mgrid[0:y1 - y0, 0:x1 - x0].astype(np.float32)
        inverse = np.linalg.inv(b).astype(np.float32)
        sx, sy = np.float32(shift[0]), np.float32(shift[1])
        qx = inverse[0, 0] * (xx - sx) + inverse[0, 1] * (yy - sy)
        qy = inverse[1, 0] * (xx - sx) + inverse[1, 1] * (yy - sy)
        k, w = np.float32(2 * math.pi / wavelength), speed * frame
        map_x = qx + np.float32(amplitude) * np.sin(k * qy + np.float32(w + phase_x))
        map_y = qy + np.float32(amplitude) * np.sin(k * qx + np.float32(w + phase_y))
        warped = cv2.remap(sprite, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return warped, x0, y0

    def _noise_bank(self) -> np.ndarray:
        """Sensor noise for the frames: a few noise images, each frame taking one at a random offset."""
        if getattr(self, "_bank", None) is None:
            shape = (4, self.height + _NOISE_PAD, self.width + _NOISE_PAD, 3)
            self._bank = np.random.default_rng(self.noise_seed).standard_normal(shape, np.float32) * np.float32(self.noise)
        return self._bank

    def render(self, frame: int, appearance: bool = True, masks: bool = False, light: bool = True
               ) -> Tuple[np.ndarray, np.ndarray, Dict[int, np.ndarray]]:
        """Frame ``frame``: (RGB image H×W×3 uint8, label map H×W uint8, {id: full mask H×W bool} if asked);
        without ``light``, the image lacks shadows, lighting and sensor effects (the labels are the same)."""
        H, W = self.height, self.width
        my, mx = self.margin
        z, rot = self.cam_zoom[frame], self.cam_rot[frame]
        a = np.array([[math.cos(rot), -math.sin(rot)], [math.sin(rot), math.cos(rot)]]) / z
        src_centre = np.array([W / 2 + mx + self.cam_x[frame], H / 2 + my + self.cam_y[frame]])
        m = np.hstack([a, (src_centre - a @ np.array([W / 2, H / 2]))[:, None]])
        image = cv2.warpAffine(self.canvas, m, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REFLECT_101)
        placed = [(obj, self._warp(obj, frame, appearance)) for obj in self.layers]
        if self.shadow_depth > 0 and light:
            shadow = np.zeros((H, W), np.float32)
            dx, dy = (int(round(v)) for v in self.shadow_offset)
            for _, layer in placed:
                if layer is not None:
                    warped, x0, y0 = layer
                    _add_clipped(shadow, warped[..., 3].astype(np.float32) / 255, x0 + dx, y0 + dy)
            shadow = cv2.GaussianBlur(np.minimum(shadow, 1), (0, 0), 2.5 * self.unit)
            image = (image * (1 - self.shadow_depth * shadow)[..., None] + 0.5).astype(np.uint8)
        labels = np.zeros((H, W), np.uint8)
        full: Dict[int, np.ndarray] = {obj.oid: np.zeros((H, W), bool) for obj in self.objects} if masks else {}
        for obj, layer in placed:
            if layer is None:
                continue
            warped, x0, y0 = layer
            y1, x1 = y0 + warped.shape[0], x0 + warped.shape[1]
            alpha = warped[..., 3:].astype(np.float32) * (1.0 / 255)
            roi = image[y0:y1, x0:x1]
            roi[:] = np.clip(roi * (1 - alpha) + warped[..., :3] + 0.5, 0, 255).astype(np.uint8)
            inside = warped[..., 3] > 127
            labels[y0:y1, x0:x1][inside] = obj.oid
            if masks and obj.oid:
                full[obj.oid][y0:y1, x0:x1] = inside
        if not light:
            return image, labels, full
        # lighting: one lookup table per channel, then light and shade moving over the scene
        v = np.arange(256, dtype=np.float64) / 255.0
        lut = ((v[:, None] - 0.5) * self.contrast[frame] + 0.5 + self.brightness[frame]) * self.gains[frame][None, :]
        lut = np.clip(lut * 255 + 0.5, 0, 255).astype(np.uint8).reshape(256, 1, 3)
        image = cv2.LUT(image, lut)
        if self.shade_depth > 0 or self.blur > 0 or self.noise > 0:
            lit = image.astype(np.float32)
            if self.shade_depth > 0:
                oy, ox = self.shade_offset[frame]
                field = self.shade_field[oy:oy + H, ox:ox + W]
                lit *= (1 + self.shade_depth * (2 * field - 1))[..., None]
            if self.blur > 0:
                lit = cv2.GaussianBlur(lit, (0, 0), self.blur)
            if self.noise > 0:
                bank = self._noise_bank()
                index, dy, dx = np.random.default_rng([self.noise_seed, frame]).integers(0, (len(bank), _NOISE_PAD,
                                                                                             _NOISE_PAD))
                lit += bank[index, dy:dy + H, dx:dx + W]
            image = np.clip(lit + 0.5, 0, 255).astype(np.uint8)
        return image, labels, full

    def __iter__(self) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        for frame in range(self.num_frames):
            image, labels, _ = self.render(frame)
            yield image, labels


def overlap(frame_shape: Tuple[int, ...], patch_shape: Tuple[int, ...], x0: int, y0: int
            ) -> Optional[Tuple[Tuple[slice, slice], Tuple[slice, slice]]]:
    """Where a patch of ``patch_shape`` placed with its top-left corner at ``(x0, y0)`` overlaps a frame of
    ``frame_shape``: (the frame's rows and columns, the patch's rows and columns), or None."""
    H, W = frame_shape[:2]
    h, w = patch_shape[:2]
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    if fx1 <= fx0 or fy1 <= fy0:
        return None
    return (slice(fy0, fy1), slice(fx0, fx1)), (slice(fy0 - y0, fy1 - y0), slice(fx0 - x0, fx1 - x0))


def drifting_offsets(t: np.ndarray, drift: np.ndarray, limit: float) -> Tuple[int, np.ndarray]:
    """A field that drifts ``drift`` (2 pixels per frame, ``(rows, columns)``) under a frame over times ``t``:
    its margin ``pad`` (the field is the frame plus ``pad`` on every side) and the frame's top-left corner in it
    per frame (``T×2`` ints). It moves straight while that stays within ``limit`` pixels of its start, and turns
    back at the margin after, so that the field's size is bounded however long the video."""
    drift = np.asarray(drift, np.float64)
    pad = int(min(np.abs(drift).max() * len(t), limit)) + 2
    travel = np.outer(t, drift)
    if np.abs(drift).max() * len(t) > limit:
        reach = pad - 1
        travel = reflect_into(travel, -reach, 2 * reach)
    return pad, (pad + travel).astype(int)


def reflect_into(values: np.ndarray, low, span) -> np.ndarray:
    """``values`` reflected at ``low`` and ``low + span`` as often as needed (a bounce between two walls), so
    that every one lies in that interval; ``low`` and ``span`` may be arrays that broadcast with ``values``."""
    folded = np.mod(values - low, 2 * span)
    return low + np.where(folded > span, 2 * span - folded, folded)


def _add_clipped(target: np.ndarray, patch: np.ndarray, x0: int, y0: int) -> None:
    """``target[y0:, x0:] += patch`` over the part of ``patch`` that lies inside ``target``."""
    window = overlap(target.shape, patch.shape, x0, y0)
    if window is not None:
        target[window[0]] += patch[window[1]]


def _premultiply(texture: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float32)[..., None] / 255.0
    rgb = np.clip(texture * a * 255 + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.concatenate([rgb, alpha[..., None]], axis=2))


# ----------------------------------------------------------------------------------------------------------
# Public API


def generate_sequence(config: SyntheticConfig, split: str, index: int) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """The frames of sequence ``index`` of ``split``: (RGB frame H×W×3 uint8, label map H×W uint8) each."""
    return iter(_Scene(config, split, index))


def write_frames(frames: Iterator[Tuple[np.ndarray, np.ndarray]], images: Path, annotations: Path) -> int:
    """Write (RGB frame, label map) pairs as ``images/00000.jpg`` and ``annotations/00000.png`` ...; returns
    the number of frames."""
    images.mkdir(parents=True, exist_ok=True)
    annotations.mkdir(parents=True, exist_ok=True)
    count = 0
    for frame, (image, labels) in enumerate(frames):
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for {images / f'{frame:05d}.jpg'}")
        (images / f"{frame:05d}.jpg").write_bytes(data.tobytes())
        write_label_png(annotations / f"{frame:05d}.png", labels)
        count += 1
    return count


def _write_sequence(config: SyntheticConfig, split: str, index: int, root: Path) -> str:
    name = sequence_name(split, index)
    write_frames(generate_sequence(config, split, index), root / "JPEGImages" / "480p" / name,
                 root / "Annotations" / "480p" / name)
    return name


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core already


def _write_sequence_job(args: Tuple[SyntheticConfig, str, int, str]) -> str:
    config, split, index, root = args
    return _write_sequence(config, split, index, Path(root))


def metadata(config: SyntheticConfig) -> dict:
    """What ``synthetic.json`` holds for ``config``."""
    return {
        "format_version": FORMAT_VERSION,
        "generator": "stcnbuf.lab.synthetic.default",
        "key": config.key(),
        "config": config.as_dict(),
        "splits": {split: [sequence_name(split, i) for i in range(config.sequences(split))] for split in SPLITS},
        "layout": "davis2017",
        "resolution": "480p",
    }


def _workers(total_frames: int) -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    # small datasets: a process pool costs more than it saves
    return max(1, min(cpus, 8)) if total_frames >= 600 else 1


@contextlib.contextmanager
def worker_map(workers: int) -> Iterator[Callable]:
    """A ``map`` over ``workers`` spawned processes (the built-in ``map`` for one worker)."""
    if workers <= 1:
        yield map
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    # spawn: safe even when the caller runs threads (torch, data loaders); costs about a second
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker)
    try:
        yield pool.map
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def write_dataset(config: SyntheticConfig, root: Path, workers: Optional[int] = None) -> Path:
    """Write the whole dataset into ``root`` (created if needed); ``synthetic.json`` is written last."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / META_FILE).unlink(missing_ok=True)       # a partly rewritten folder must not look complete
    sets = root / "ImageSets" / "2017"
    sets.mkdir(parents=True, exist_ok=True)
    total = sum(config.sequences(s) * config.frames(s) for s in SPLITS)
    workers = _workers(total) if workers is None else max(1, int(workers))
    with worker_map(workers) as jobs_map:
        for split in SPLITS:
            count = config.sequences(split)
            jobs = [(config, split, i, str(root)) for i in range(count)]
            names = list(tqdm(jobs_map(_write_sequence_job, jobs), total=count, desc=f"synthetic {split}",
                              unit="seq", leave=True))
            atomic_write_text(sets / f"{split}.txt", "".join(f"{n}\n" for n in names))
    atomic_write_text(root / META_FILE, json.dumps(metadata(config), indent=2, sort_keys=True) + "\n")
    return root


def _matches(path: Path, meta: dict) -> bool:
    """``path`` holds a complete dataset whose metadata file names the generator, format version and
    parameters of ``meta``."""
    try:
        found = json.loads((path / meta["meta_file"]).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(found, dict) and all(found.get(k) == meta[k] for k in ("generator", "format_version", "config"))


def _remove_abandoned(data_dir: Path, name: str) -> None:
    """Remove the temporary folders of generations of ``name`` killed on this host (their process is gone);
    those of running processes, or of other hosts sharing the folder, are left alone."""
    pattern = re.compile(rf"\.{re.escape(name)}\.partial-{re.escape(socket.gethostname())}-(\d+)-[0-9a-f]{{8}}")
    for folder in data_dir.glob(f".{name}.partial-*"):
        match = pattern.fullmatch(folder.name)
        if match and not process_running(int(match[1])):
            log.info("removing %s, left by an interrupted generation", folder)
            shutil.rmtree(folder, ignore_errors=True)


def ensure_generated(data_dir: Path, name: str, meta: dict, write: Callable[[Path], Path]) -> Path:
    """The generated dataset ``data_dir/name``, written by ``write(folder)`` if absent or invalid.

    ``meta`` holds ``meta_file`` (the file ``write`` writes last), ``generator``, ``format_version`` and
    ``config``: a folder whose metadata file matches them is reused. Otherwise the dataset is written into a
    temporary sibling folder and renamed into place only when complete, so an interrupted run never leaves
    a folder that looks complete; a folder with the right name but a missing or different metadata file is
    replaced, and temporary folders of killed generations are removed.
    """
    data_dir = Path(data_dir).expanduser()
    final = data_dir / name
    if _matches(final, meta):
        log.info("reusing generated dataset %s", final)
        return final
    data_dir.mkdir(parents=True, exist_ok=True)
    if final.exists():
        log.warning("%s is incomplete or was made from other parameters; regenerating it", final)
    _remove_abandoned(data_dir, final.name)
    tmp = data_dir / f".{final.name}.partial-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    log.info("generating dataset %s", final)
    try:
        write(tmp)
        if final.exists() or final.is_symlink():
            if _matches(final, meta):  # another process finished first
                shutil.rmtree(tmp)
                return final
            stale = data_dir / f".{final.name}.stale-{uuid.uuid4().hex[:8]}"
            os.replace(final, stale)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(tmp, final)
        except OSError:
            if _matches(final, meta):  # lost a race with another process
                shutil.rmtree(tmp)
                return final
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def ensure_synthetic_dataset(config: SyntheticConfig, data_dir: Path) -> Path:
    """The dataset for ``config`` under ``data_dir`` (``synthetic-<key>``), generated if absent or invalid
    (see :func:`ensure_generated`)."""
    meta = {"meta_file": META_FILE, **metadata(config)}
    return ensure_generated(data_dir, f"synthetic-{config.key()}", meta, lambda folder: write_dataset(config, folder))


def generator_main(argv: Optional[List[str]], prog: str, description: str, config_class: type,
                   ensure: Callable[[object, Path], Path], folder: str) -> int:
    """The command line of a generator: ``--root`` and one option per field of the dataclass ``config_class``
    (a tuple field takes several values); generates (or reuses) the dataset and prints its folder."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--root", required=True, type=Path, help=f"data folder; the dataset goes into ROOT/{folder}-<key>")
    defaults = config_class()
    for f in dataclasses.fields(config_class):
        default = getattr(defaults, f.name)
        several = isinstance(default, tuple)
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=int, default=default, nargs="+" if several else None,
                            help=f"(default {' '.join(map(str, default)) if several else default})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(ensure(config_class(**{f.name: getattr(args, f.name) for f in dataclasses.fields(config_class)}), args.root))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    return generator_main(argv, "python -m stcnbuf.lab.synthetic.default", __doc__.split("\n\n")[0], SyntheticConfig,
                          ensure_synthetic_dataset, "synthetic")


if __name__ == "__main__":
    sys.exit(main())
