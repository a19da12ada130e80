"""Frames and label maps brought to the working size, as STCN evaluates or by area averaging."""

from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from stcnbuf.engine.preprocess import ResizedFrame

#: How frames are brought to the working size. ``stcn``: as STCN's evaluation (torchvision 0.9's ``ToTensor``,
#: ``Normalize``, then ``Resize`` of the float tensor: bicubic without antialiasing), done by the segmenter on its
#: device (:class:`~stcnbuf.engine.preprocess.ResizedFrame`); ``area``: the uint8 frame shrunk by area averaging.
RESIZE_METHODS = ("stcn", "area")


def working_size(size: Tuple[int, int], shorter_side: Optional[int]) -> Tuple[int, int]:
    """``(H, W)`` with the shorter side scaled to ``shorter_side`` and the longer one ``int(shorter_side * long /
    short)`` (torchvision's ``Resize(int)``; ``None``: unchanged)."""
    h, w = size
    if not shorter_side or min(h, w) == shorter_side:
        return tuple(size)
    if h <= w:
        return int(shorter_side), max(1, int(shorter_side * w / h))
    return max(1, int(shorter_side * h / w)), int(shorter_side)


def check_shorter_side(value: Optional[int], key: str) -> Optional[int]:
    """``value`` of the setting ``key`` (e.g. ``data.shorter_side``) when it is a working resolution: a positive
    number of pixels, or ``None`` for the frames' own size."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{key} must be a positive number of pixels (the working size of the frames' shorter "
                         f"side) or null (their own size), got {value!r}")
    return value


def check_resize_method(method: str) -> str:
    if method not in RESIZE_METHODS:
        raise ValueError(f"unknown resize method {method!r}; choose one of {', '.join(RESIZE_METHODS)} "
                         "(data.resize)")
    return method


def resize_frame(frame: np.ndarray, size: Tuple[int, int], method: str = "area") -> np.ndarray | ResizedFrame:
    """An RGB frame ``H×W×3`` uint8 brought to ``size`` ``(H, W)`` by ``method`` (:data:`RESIZE_METHODS`): under
    ``area`` the shrunk uint8 frame, under ``stcn`` a :class:`~stcnbuf.engine.preprocess.ResizedFrame` that the
    segmenter resizes; a frame already at ``size`` is returned as it is (both methods then take it alike)."""
    if frame.shape[:2] == tuple(size):
        return frame
    if check_resize_method(method) == "stcn":
        return ResizedFrame(frame, tuple(size))
    return cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def frame_bytes(native: Tuple[int, int], size: Tuple[int, int], method: str) -> int:
    """Bytes of one frame that :func:`resize_frame` returns (a :class:`~stcnbuf.engine.preprocess.ResizedFrame`
    holds the original frame)."""
    height, width = native if method == "stcn" else size
    return max(1, height * width * 3)


def nearest_indices(source: int, target: int) -> np.ndarray:
    """The source rows (or columns) torch's ``nearest`` interpolation reads for ``target`` outputs."""
    positions = torch.arange(source, dtype=torch.float32).view(1, 1, source)
    return F.interpolate(positions, size=target, mode="nearest")[0, 0].long().numpy()


def resize_labels(labels: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """A label map at ``size`` ``(H, W)`` by nearest neighbour as torch computes it (STCN resizes its masks with
    torchvision's tensor ``Resize``): ids stay ids."""
    if labels.shape[:2] == tuple(size):
        return labels
    rows, cols = nearest_indices(labels.shape[0], size[0]), nearest_indices(labels.shape[1], size[1])
    return np.ascontiguousarray(labels[rows][:, cols])


__all__ = ["RESIZE_METHODS", "frame_bytes", "resize_frame", "resize_labels", "working_size"]
