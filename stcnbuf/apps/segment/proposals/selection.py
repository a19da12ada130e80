"""Choosing proposals by clicks: pure functions shared by the matplotlib window and scripted clicks.

Coordinates are ``(x, y)`` = (column, row) in pixels of the frame, as matplotlib's ``imshow`` reports them
(pixel ``(c, r)`` covers ``[c - 0.5, c + 0.5) × [r - 0.5, r + 0.5)``).
"""

from __future__ import annotations

import math
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np

from stcnbuf.apps.segment.proposals.maskrcnn import Proposals


def pixel_at(x: float, y: float, height: int, width: int) -> Optional[Tuple[int, int]]:
    """``(row, column)`` of the pixel under ``(x, y)``, or ``None`` outside the image."""
    if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
        return None
    column, row = math.floor(x + 0.5), math.floor(y + 0.5)
    if not (0 <= row < height and 0 <= column < width):
        return None
    return row, column


def proposal_at(p: Proposals, x: float, y: float, mask_threshold: float = 0.5) -> Optional[int]:
    """Index of the proposal whose mask holds pixel ``(x, y)``; the smallest one when several do (the most
    specific object, e.g. a bag on a person), ties by the higher score; ``None`` if none or outside."""
    height, width = p.image_size
    pixel = pixel_at(x, y, height, width)
    if pixel is None or len(p) == 0:
        return None
    row, column = pixel
    hits = np.flatnonzero(p.masks[:, row, column] > mask_threshold)
    if hits.size == 0:
        return None
    areas = (p.masks[hits] > mask_threshold).reshape(hits.size, -1).sum(axis=1)
    best = min(range(hits.size), key=lambda k: (int(areas[k]), -float(p.scores[hits[k]]), int(hits[k])))
    return int(hits[best])


def toggle_selection(selected: Sequence[int], index: Optional[int]) -> List[int]:
    """``selected`` with ``index`` removed if it was there, appended otherwise (click order kept);
    unchanged for ``None`` (a click on no proposal). Returns a new list."""
    selected = list(selected)
    if index is None:
        return selected
    if index in selected:
        selected.remove(index)
    else:
        selected.append(index)
    return selected


def selection_from_clicks(p: Proposals, clicks: Iterable[Sequence[float]], mask_threshold: float = 0.5) -> List[int]:
    """The selection left by a sequence of ``(x, y)`` clicks (e.g. ``init.clicks=[[x, y], ...]``)."""
    selected: List[int] = []
    for click in clicks:
        if len(click) != 2:
            raise ValueError(f"a click is an (x, y) pair, got {click!r}")
        x, y = click
        selected = toggle_selection(selected, proposal_at(p, float(x), float(y), mask_threshold))
    return selected
