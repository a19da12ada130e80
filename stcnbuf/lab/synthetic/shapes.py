"""Shapes of the default scene model: outlines of eight kinds, their anti-aliased alpha, shading, sprites."""

from __future__ import annotations

import math
from typing import List, Tuple

import cv2
import numpy as np


SHAPE_KINDS = ("ellipse", "polygon", "blob", "star", "ring", "crescent", "cluster", "bar")


def _ellipse_points(a: float, b: float, rotation: float, n: int = 72) -> np.ndarray:
    theta = np.linspace(0, 2 * math.pi, n, endpoint=False)
    x, y = a * np.cos(theta), b * np.sin(theta)
    return np.stack([x * math.cos(rotation) - y * math.sin(rotation), x * math.sin(rotation) + y * math.cos(rotation)], 1)


def shape_outlines(rng: np.random.Generator, radius: float, kind: str) -> List[Tuple[np.ndarray, int]]:
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


def shape_alpha(rng: np.random.Generator, radius: float, size: int) -> np.ndarray:
    """The anti-aliased alpha (``size×size`` uint8) of a random shape centred in the sprite, within ``radius``."""
    centre = (size - 1) / 2.0
    alpha = np.zeros((size, size), np.uint8)
    for outline, value in shape_outlines(rng, radius, str(rng.choice(SHAPE_KINDS))):
        cv2.fillPoly(alpha, [np.round((outline + centre) * 16).astype(np.int32)], value, cv2.LINE_AA, shift=4)
    return alpha


def shaded(rng: np.random.Generator, texture: np.ndarray, alpha: np.ndarray) -> np.ndarray:
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


def premultiply(texture: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """A sprite: ``texture`` (``S×S×3``, 0..1) premultiplied by ``alpha`` (``S×S`` uint8), the alpha in channel 3."""
    a = alpha.astype(np.float32)[..., None] / 255.0
    rgb = np.clip(texture * a * 255 + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.concatenate([rgb, alpha[..., None]], axis=2))
