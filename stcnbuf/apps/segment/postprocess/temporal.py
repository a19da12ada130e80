"""Temporal consistency: keep only what an object's masks agree on over neighbouring frames."""

from __future__ import annotations

from collections.abc import Mapping

from rlemasklib import RLEMask


def temporal_intersection(frames: Mapping[int, Mapping[int, RLEMask]], window: int
                          ) -> dict[int, dict[int, RLEMask]]:
    """For each frame ``t`` and object, the intersection of its masks over frames ``t-window..t+window``.

    Only frames present in ``frames`` take part (so the window is clipped at the video's ends and skips
    missing frames). An object absent from any frame of the window (i.e. empty there) is empty — absent —
    in the result at ``t``: a one-frame dropout empties the object in the ``2 × window`` frames around it.
    Empty intersections are left out, as in the RLE files.
    """
    if window < 0:
        raise ValueError(f"temporal window must be >= 0, got {window}")
    result: dict[int, dict[int, RLEMask]] = {}
    for t, objects in sorted(frames.items()):
        neighbours = [frames[s] for s in range(t - window, t + window + 1) if s in frames]
        result[t] = {}
        for object_id, mask in objects.items():
            masks = [n.get(object_id) for n in neighbours]
            if any(m is None for m in masks):
                continue
            merged = RLEMask.intersection(masks) if len(masks) > 1 else mask
            if merged.any():
                result[t][object_id] = merged
    return result
