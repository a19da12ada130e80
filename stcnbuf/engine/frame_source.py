"""One frame source for every video: working-size frames by index, decoded in runs, cached up to a budget."""

from __future__ import annotations

from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from stcnbuf.engine.preprocess import frame_hw

#: Decodes the frames at the given indices, in that order, at the working size.
Decoder = Callable[[Sequence[int]], Iterator[np.ndarray]]


class FrameSource:
    """Frames of a video at the working size, by index, in any order (what :func:`~stcnbuf.engine.runner.run_plan`
    pulls; datasets and video readers make one with their ``frame_source()``).

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


__all__ = ["Decoder", "FrameSource"]
