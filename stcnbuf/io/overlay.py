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


def palette_colour(object_id: int) -> np.ndarray:
    """The RGB colour (uint8 ``[3]``) objects of ``object_id`` are drawn in."""
    return _COLOURS[int(object_id) % 256].copy()


def mark(image: np.ndarray, text: str, colour: Sequence[int] = (255, 40, 40), border: int = 6) -> np.ndarray:
    """``image`` ``H×W×3`` uint8 RGB with a ``border``-pixel frame and ``text`` in its top-left corner (a frame
    to check)."""
    out = image.copy()
    b = max(1, min(border, out.shape[0] // 4, out.shape[1] // 4))
    out[:b], out[-b:], out[:, :b], out[:, -b:] = colour, colour, colour, colour
    scale = max(0.4, out.shape[0] / 720)
    (width, height), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(out, (b, b), (b + width + 8, b + height + base + 8), tuple(int(c) for c in colour), -1)
    cv2.putText(out, text, (b + 4, b + height + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


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
