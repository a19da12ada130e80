"""Offline segmentation: burn-in passes over a reordered video, then an ordered final pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Protocol, Sequence, runtime_checkable

from torch import Tensor

from stcnbuf.inference.frames import as_uint8_frame
from stcnbuf.inference.online import OnlineSegmenter, WriteMode
from stcnbuf.inference.orderings import ORDERINGS, burn_in_order, final_pass_order
from stcnbuf.inference.prediction import Prediction


@runtime_checkable
class FrameSource(Protocol):
    """Frames of a video by index, in any order (a video reader may decode them again on every call)."""

    def __len__(self) -> int: ...

    def iterate(self, indices: Sequence[int]) -> Iterator: ...


class CachedFrames:
    """A :class:`FrameSource` over a random-access sequence of frames: each frame is converted to a uint8
    tensor once, on first use, and kept."""

    def __init__(self, frames: Sequence) -> None:
        self.frames = frames
        self._cache: Dict[int, Tensor] = {}

    def __len__(self) -> int:
        return len(self.frames)

    def iterate(self, indices: Sequence[int]) -> Iterator[Tensor]:
        for index in indices:
            if index not in self._cache:
                self._cache[index] = as_uint8_frame(self.frames[index])
            yield self._cache[index]


@dataclass
class OfflineResult:
    """Label maps in original frame order (and probabilities when asked for)."""

    object_ids: List[int]
    labels: Optional[List[Tensor]] = None
    probs: Optional[List[Tensor]] = None


class OfflineSegmenter:
    """Runs an :class:`OnlineSegmenter` over a whole video with burn-in passes.

    1. The annotated frame starts the memory.
    2. ``burn_in_passes`` passes visit the other frames in ``order``; every ``mem_every``-th frame of a
       pass is segmented from the memory and written to it (the others would leave no trace, so they are
       skipped). The temporary ring is not used.
    3. The final pass goes forward from the annotated frame to the end and then backward to the start,
       following the online schedule (temporary ring included); its results are returned in frame order.

    With ``order=none``, ``burn_in_passes=0`` and the annotation on frame 0 the result equals streaming.
    A plain sequence of frames is converted once to uint8 tensors and held for the passes
    (:class:`CachedFrames`); a :class:`FrameSource` (e.g. a video reader) decides itself what it keeps.
    """

    def __init__(self, segmenter: OnlineSegmenter, order: str = "strided", burn_in_passes: int = 1,
                 seed: int = 0) -> None:
        if order not in ORDERINGS:
            raise ValueError(f"unknown order {order!r}; choose one of {', '.join(ORDERINGS)}")
        if burn_in_passes < 0:
            raise ValueError(f"burn_in_passes must be >= 0, got {burn_in_passes}")
        self.segmenter = segmenter
        self.order = order
        self.burn_in_passes = int(burn_in_passes)
        self.seed = int(seed)

    def run(self, frames: Sequence, masks, object_ids: Optional[Sequence[int]] = None,
            init_frame: Optional[int] = None, keep_labels: bool = True, keep_probs: bool = False,
            on_frame: Optional[Callable[[Prediction], None]] = None,
            progress: Optional[Callable[[int], None]] = None) -> OfflineResult:
        """Segment ``frames`` given ``masks`` on ``init_frame`` (default: the middle frame).

        Args:
            frames: a :class:`FrameSource`, or a random-access sequence of ``H×W×3`` uint8 RGB frames.
            masks, object_ids: the annotation of ``init_frame`` (see :meth:`OnlineSegmenter.start`).
            keep_labels: return the label maps (turn off when ``on_frame`` consumes the predictions).
            keep_probs: also return per-frame probabilities (memory-hungry on long videos).
            on_frame: called with every final-pass prediction, in processing order.
            progress: called with 1 after each segmented frame (burn-in included: see :meth:`frames_to_segment`).
        """
        source = frames if isinstance(frames, FrameSource) else CachedFrames(frames)
        num_frames = len(source)
        if num_frames == 0:
            raise ValueError("the video has no frames")
        init = num_frames // 2 if init_frame is None else int(init_frame)
        if not 0 <= init < num_frames:
            raise ValueError(f"init_frame {init} is outside the video (0..{num_frames - 1})")
        seg = self.segmenter
        labels: List[Optional[Tensor]] = [None] * num_frames
        probs: List[Optional[Tensor]] = [None] * num_frames

        def keep(prediction: Prediction) -> None:
            if keep_labels:
                labels[prediction.frame_index] = prediction.labels.cpu()
            if keep_probs:
                probs[prediction.frame_index] = prediction.probs.cpu()
            if on_frame is not None:
                on_frame(prediction)

        keep(self.burn_in(source, masks, object_ids, init, progress))
        runs = final_pass_order(num_frames, init)
        for run_number, run in enumerate(runs):
            seg.memory.clear_temporary()
            for position, (index, frame) in enumerate(zip(run, source.iterate(run))):
                last = run_number == len(runs) - 1 and position == len(run) - 1
                keep(seg.step(frame, frame_index=index, update_memory=not last))
                if progress is not None:
                    progress(1)
        return OfflineResult(list(seg.object_ids), labels if keep_labels else None, probs if keep_probs else None)

    def burn_in(self, frames: FrameSource, masks, object_ids: Optional[Sequence[int]], init_frame: int,
                progress: Optional[Callable[[int], None]] = None) -> Prediction:
        """Start the memory from the annotation of ``init_frame`` and run the burn-in passes; returns the
        annotated frame's prediction. The final pass (:func:`final_pass_order`) follows."""
        seg = self.segmenter
        num_frames = len(frames)
        first = seg.start(next(iter(frames.iterate([init_frame]))), masks, object_ids, frame_index=init_frame)
        if progress is not None:
            progress(1)
        for pass_index in range(self.burn_in_passes):
            order = burn_in_order(num_frames, init_frame, self.order, self.seed, pass_index)
            chosen = [index for position, index in enumerate(order) if (position + 1) % seg.mem_every == 0]
            for index, frame in zip(chosen, frames.iterate(chosen)):
                seg.process(frame, index, WriteMode.PERMANENT)
                if progress is not None:
                    progress(1)
        return first

    def frames_to_segment(self, num_frames: int) -> int:
        """Frames segmented for a video of ``num_frames`` frames, burn-in passes included."""
        per_pass = (num_frames - 1) // self.segmenter.mem_every
        return num_frames + per_pass * self.burn_in_passes


__all__ = ["OfflineResult", "OfflineSegmenter"]
