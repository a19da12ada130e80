"""Coloured mask overlays with outlines (for previews, reports and overlay videos)."""

from __future__ import annotations

from typing import Optional, Sequence

import cv2
import numpy as np

from stcnbuf.io.masks import DAVIS_PALETTE

_COLOURS = np.frombuffer(DAVIS_PALETTE, dtype=np.uint8).reshape(256, 3)


def overlay(image: np.ndarray, labels: np.ndarray, alpha: float = 0.5, outline: int = 2,
            void: Optional[int] = 255) -> np.ndarray:
    """``image`` ``H×W×3`` uint8 RGB with each object id of ``labels`` tinted in its palette colour and outlined
    (``void``: an id left as it is, as DAVIS's 255; ``None``: every nonzero id is an object, as in RLE files)."""
    if image.shape[:2] != labels.shape:
        raise ValueError(f"overlay: image {image.shape[:2]} and labels {labels.shape} differ in size")
    out = image.astype(np.float32)
    ids = labels.astype(np.int64) % 256
    objects = (labels > 0) & (labels != void) if void is not None else labels > 0
    colours = _COLOURS[ids].astype(np.float32)
    out[objects] = (1 - alpha) * out[objects] + alpha * colours[objects]
    if outline > 0:
        kernel = np.ones((2 * outline + 1, 2 * outline + 1), np.uint8)
        edges = (cv2.dilate(labels.astype(np.uint8), kernel) != cv2.erode(labels.astype(np.uint8), kernel)) & objects
        out[edges] = colours[edges]
    return out.clip(0, 255).astype(np.uint8)


def grid(images: Sequence[np.ndarray], columns: int) -> np.ndarray:
    """Tile equally sized ``H×W×3`` images row by row (missing tiles black)."""
    if not images:
        raise ValueError("grid needs at least one image")
    h, w = images[0].shape[:2]
    rows = -(-len(images) // columns)
    canvas = np.zeros((rows * h, columns * w, 3), np.uint8)
    for k, image in enumerate(images):
        r, c = divmod(k, columns)
        canvas[r * h:(r + 1) * h, c * w:(c + 1) * w] = cv2.resize(image, (w, h)) if image.shape[:2] != (h, w) else image
    return canvas
