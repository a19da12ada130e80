"""One frame source for every video: working-size frames by index, decoded in runs, cached up to a budget."""

from __future__ import annotations

from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

#: Decodes the frames at the given indices, in that order, at the working size.
Decoder = Callable[[Sequence[int]], Iterator[np.ndarray]]


def working_size(size: Tuple[int, int], shorter_side: Optional[int]) -> Tuple[int, int]:
    """``(H, W)`` with the shorter side scaled to ``shorter_side`` (``None``: unchanged)."""
    h, w = size
    if not shorter_side or min(h, w) == shorter_side:
        return tuple(size)
    scale = shorter_side / min(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def resize_frame(frame: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """An RGB frame at ``size`` ``(H, W)`` (area interpolation)."""
    if frame.shape[:2] == tuple(size):
        return frame
    return cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def resize_labels(labels: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """A label map at ``size`` ``(H, W)`` (nearest neighbour: ids stay ids)."""
    if labels.shape[:2] == tuple(size):
        return labels
    return cv2.resize(labels, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


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
    """

    def __init__(self, num_frames: int, size: Tuple[int, int], decode: Decoder, budget_mb: float = 0.0) -> None:
        self.num_frames, self.size, self.decode = int(num_frames), tuple(size), decode
        frame_bytes = max(1, size[0] * size[1] * 3)
        self.capacity = max(0, int(budget_mb * 2 ** 20 // frame_bytes))
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
                if frame.shape[:2] != self.size:
                    raise ValueError(f"frame {index} decoded at {frame.shape[1]}×{frame.shape[0]}, expected "
                                     f"{self.size[1]}×{self.size[0]} (width×height)")
                if index in will_keep:
                    self._kept[index] = frame
            yield frame


__all__ = ["FrameSource", "resize_frame", "resize_labels", "working_size"]
