"""Offline segmentation: burn-in passes over a reordered video, then an ordered final pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

from torch import Tensor

from stcnbuf.inference.frames import as_uint8_frame
from stcnbuf.inference.online import OnlineSegmenter, WriteMode
from stcnbuf.inference.orderings import ORDERINGS, burn_in_order, final_pass_order
from stcnbuf.inference.prediction import Prediction


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
    Frames are converted once to uint8 tensors (``H×W×3``) and held for the passes.
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
            frames: random-access sequence of ``H×W×3`` uint8 RGB frames (each read once).
            masks, object_ids: the annotation of ``init_frame`` (see :meth:`OnlineSegmenter.start`).
            keep_labels: return the label maps (turn off when ``on_frame`` consumes the predictions).
            keep_probs: also return per-frame probabilities (memory-hungry on long videos).
            on_frame: called with every final-pass prediction, in processing order.
            progress: called with 1 after each segmented frame (burn-in included: see :meth:`frames_to_segment`).
        """
        num_frames = len(frames)
        if num_frames == 0:
            raise ValueError("the video has no frames")
        init = num_frames // 2 if init_frame is None else int(init_frame)
        if not 0 <= init < num_frames:
            raise ValueError(f"init_frame {init} is outside the video (0..{num_frames - 1})")
        cache = [as_uint8_frame(frames[i]) for i in range(num_frames)]
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
            if progress is not None:
                progress(1)

        keep(seg.start(cache[init], masks, object_ids, frame_index=init))
        for pass_index in range(self.burn_in_passes):
            order = burn_in_order(num_frames, init, self.order, self.seed, pass_index)
            for position, index in enumerate(order):
                if (position + 1) % seg.mem_every == 0:
                    seg.process(cache[index], index, WriteMode.PERMANENT)
                    if progress is not None:
                        progress(1)
        runs = final_pass_order(num_frames, init)
        for run_number, run in enumerate(runs):
            seg.memory.clear_temporary()
            for position, index in enumerate(run):
                last = run_number == len(runs) - 1 and position == len(run) - 1
                keep(seg.step(cache[index], frame_index=index, update_memory=not last))
        return OfflineResult(list(seg.object_ids), labels if keep_labels else None, probs if keep_probs else None)

    def frames_to_segment(self, num_frames: int) -> int:
        """Frames segmented for a video of ``num_frames`` frames, burn-in passes included."""
        per_pass = (num_frames - 1) // self.segmenter.mem_every
        return num_frames + per_pass * self.burn_in_passes


__all__ = ["OfflineResult", "OfflineSegmenter"]
