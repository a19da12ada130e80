"""Initial masks: validation and conversion to per-object float masks."""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from stcnbuf.engine.labels import VOID_LABEL, object_ids_in


def masks_to_tensor(masks: np.ndarray | Tensor, object_ids: Optional[Sequence[int]],
                    frame_size: Tuple[int, int], where: str = "the mask") -> Tuple[Tensor, List[int]]:
    """Per-object float masks ``[K, H, W]`` and their ids.

    Args:
        masks: a label map ``H×W`` (integer ids, 0 background, 255 void unless ``object_ids`` names it) or
            stacked binary masks ``K×H×W``.
        object_ids: the ids to take (label map: default all ids present but 255; stacked masks: required, one per
            mask).
        frame_size: ``(H, W)`` of the frame the masks belong to.
        where: names the mask's origin in error messages (e.g. a file path).
    """
    array = torch.as_tensor(np.asarray(masks)) if not isinstance(masks, Tensor) else masks.cpu()
    if array.ndim == 2:
        ids = object_ids_in(array) if object_ids is None else [int(i) for i in object_ids]
        present = set(object_ids_in(array, VOID_LABEL if object_ids is None else None))  # ids given: 255 may be one
        missing = [i for i in ids if i not in present]
        if missing:
            raise ValueError(f"object id(s) {missing} not in {where} (ids present: {sorted(present)})")
        stacked = torch.stack([array == i for i in ids]) if ids else torch.zeros(0, *array.shape, dtype=torch.bool)
    elif array.ndim == 3:
        if object_ids is None or len(object_ids) != array.shape[0]:
            raise ValueError(f"{where}: stacked masks of shape {tuple(array.shape)} need one object id per mask")
        ids = [int(i) for i in object_ids]
        stacked = array > 0.5 if array.is_floating_point() else array != 0
    else:
        raise ValueError(f"{where}: expected a label map H×W or masks K×H×W, got shape {tuple(array.shape)}")
    if not ids:
        raise ValueError(f"{where} contains no object (all background)")
    if len(set(ids)) != len(ids):
        raise ValueError(f"{where}: duplicate object ids {ids}")
    if any(i <= 0 for i in ids):
        raise ValueError(f"{where}: object ids must be positive, got {ids}")
    if tuple(stacked.shape[1:]) != tuple(frame_size):
        h, w = stacked.shape[1:]
        raise ValueError(f"{where} is {w}×{h} but the frame is {frame_size[1]}×{frame_size[0]} (width×height); "
                         "resize the mask to the frame")
    empty = [i for i, m in zip(ids, stacked) if not bool(m.any())]
    if empty:
        raise ValueError(f"object id(s) {empty} have an empty mask in {where}")
    return stacked.float(), ids
