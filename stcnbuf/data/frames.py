"""One frame source for every video: working-size frames by index, decoded in runs, cached up to a budget."""

from __future__ import annotations

from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from stcnbuf.inference.frames import ResizedFrame, frame_hw

#: Decodes the frames at the given indices, in that order, at the working size.
Decoder = Callable[[Sequence[int]], Iterator[np.ndarray]]
#: How frames are brought to the working size. ``stcn``: as STCN's evaluation (torchvision 0.9's ``ToTensor``,
#: ``Normalize``, then ``Resize`` of the float tensor: bicubic without antialiasing), done by the segmenter on its
#: device (:class:`~stcnbuf.inference.frames.ResizedFrame`); ``area``: the uint8 frame shrunk by area averaging.
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


def check_resize_method(method: str) -> str:
    if method not in RESIZE_METHODS:
        raise ValueError(f"unknown resize method {method!r}; choose one of {', '.join(RESIZE_METHODS)} "
                         "(data.resize)")
    return method


def resize_frame(frame: np.ndarray, size: Tuple[int, int], method: str = "area") -> np.ndarray | ResizedFrame:
    """An RGB frame ``H×W×3`` uint8 brought to ``size`` ``(H, W)`` by ``method`` (:data:`RESIZE_METHODS`): under
    ``area`` the shrunk uint8 frame, under ``stcn`` a :class:`~stcnbuf.inference.frames.ResizedFrame` that the
    segmenter resizes; a frame already at ``size`` is returned as it is (both methods then take it alike)."""
    if frame.shape[:2] == tuple(size):
        return frame
    if check_resize_method(method) == "stcn":
        return ResizedFrame(frame, tuple(size))
    return cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def frame_bytes(native: Tuple[int, int], size: Tuple[int, int], method: str) -> int:
    """Bytes of one frame that :func:`resize_frame` returns (a :class:`~stcnbuf.inference.frames.ResizedFrame`
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


class FrameSource:
    """Frames of a video at the working size, by index, in any order
    (a :class:`~stcnbuf.inference.runner.FrameSource`).

    :meth:`iterate` asks ``decode`` for the frames it does not hold, in one call per request, so neighbouring
    frames stream. Decoded frames are kept while they fit ``budget_mb``; beyond it they are decoded again
    whenever they are visited, so memory stays bounded on videos of any length.

    Args:
        num_frames: frames of the video.
        size: ``(H, W)`` of the working-size frames.
        decode: the decoder of the video.
        budget_mb: memory for kept frames (0: keep none).
        bytes_per_frame: what one decoded frame takes (default: ``H×W×3`` uint8).
    """

    def __init__(self, num_frames: int, size: Tuple[int, int], decode: Decoder, budget_mb: float = 0.0,
                 bytes_per_frame: Optional[int] = None) -> None:
        self.num_frames, self.size, self.decode = int(num_frames), tuple(size), decode
        bytes_per_frame = bytes_per_frame or max(1, size[0] * size[1] * 3)
        self.capacity = max(0, int(budget_mb * 2 ** 20 // bytes_per_frame))
        self._kept: Dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.num_frames

    @property
    def kept_frames(self) -> int:
        return len(self._kept)

    def iterate(self, indices: Sequence[int]) -> Iterator[np.ndarray]:
        """The frames at ``indices``, in that order."""
        indices = [int(i) for i in indices]
        outside = [i for i in indices if not 0 <= i < self.num_frames]
        if outside:
            raise IndexError(f"frame(s) {outside[:5]} outside the video (0..{self.num_frames - 1})")
        to_decode: List[int] = []
        will_keep = set(self._kept)
        for index in indices:  # the frames this walk decodes, and those it keeps, decided up front
            if index in will_keep:
                continue
            to_decode.append(index)
            if len(will_keep) < self.capacity:
                will_keep.add(index)
        decoded = iter(self.decode(to_decode)) if to_decode else iter(())
        for index in indices:
            frame = self._kept.get(index)
            if frame is None:
                frame = next(decoded)
                if frame_hw(frame) != self.size:
                    height, width = frame_hw(frame)
                    raise ValueError(f"frame {index} decoded at {width}×{height}, expected "
                                     f"{self.size[1]}×{self.size[0]} (width×height)")
                if index in will_keep:
                    self._kept[index] = frame
            yield frame


__all__ = ["RESIZE_METHODS", "FrameSource", "frame_bytes", "resize_frame", "resize_labels", "working_size"]
