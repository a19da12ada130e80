"""Mask post-processing: per-object clean-up and temporal consistency, on RLE mask files."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from rlemasklib import RLEMask

from stcnbuf.apps.segment.postprocess.morphology import clean_mask, clip_to_box, close, largest_component
from stcnbuf.apps.segment.postprocess.temporal import temporal_intersection
from stcnbuf.io.rle import RLEFile, read_rle_file, write_rle_file

__all__ = ["clean_mask", "clip_to_box", "close", "largest_component", "postprocess", "postprocess_file",
           "temporal_intersection"]


def postprocess(rle: RLEFile, *, close_radius: int = 0, keep_largest: bool = False, fill_holes_area: int = 0,
                box_margin: float | None = None, temporal_window: int = 0) -> RLEFile:
    """A copy of ``rle`` with every mask cleaned by :func:`clean_mask`, then :func:`temporal_intersection`.

    The box clip of frame ``t`` uses the same object's cleaned mask of frame ``t-1`` (none for the first
    frame or after a missing frame). The frames of ``extra["given_frames"]`` (the masks given as input, recorded
    by the segment app) are kept as they are. The settings are appended to ``extra["postprocess"]`` (a list, one
    entry per run).
    """
    settings = {"close_radius": close_radius, "keep_largest": keep_largest, "fill_holes_area": fill_holes_area,
                "box_margin": box_margin, "temporal_window": temporal_window}
    negative = [k for k, v in settings.items() if not isinstance(v, bool) and v is not None and v < 0]
    if negative:
        raise ValueError(f"{', '.join(negative)} must be >= 0")
    cleaned: dict[int, dict[int, RLEMask]] = {}
    for t, objects in rle.frames.items():
        previous = cleaned.get(t - 1, {})
        masks = {i: clean_mask(m, close_radius, keep_largest, fill_holes_area, box_margin, previous.get(i))
                 for i, m in objects.items()}
        cleaned[t] = {i: m for i, m in masks.items() if m.any()}
    frames = temporal_intersection(cleaned, temporal_window) if temporal_window else cleaned
    for t in rle.extra.get("given_frames", []):
        if t in rle.frames:
            frames[t] = dict(rle.frames[t])
    extra = {**rle.extra, "postprocess": [*rle.extra.get("postprocess", []), settings]}
    return dataclasses.replace(rle, frames=frames, extra=extra)


def postprocess_file(in_path: str | os.PathLike, out_path: str | os.PathLike, *, close_radius: int = 0,
                     keep_largest: bool = False, fill_holes_area: int = 0, box_margin: float | None = None,
                     temporal_window: int = 0) -> Path:
    """Read an RLE file, :func:`postprocess` it, write the result atomically (``out_path`` may be ``in_path``)."""
    rle = postprocess(read_rle_file(in_path), close_radius=close_radius, keep_largest=keep_largest,
                      fill_holes_area=fill_holes_area, box_margin=box_margin, temporal_window=temporal_window)
    return write_rle_file(out_path, rle)
