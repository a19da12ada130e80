"""Offline segmentation of a whole video in memory: the offline plan run on an :class:`Segmenter`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

from torch import Tensor

from stcnbuf.engine.frame_source import FrameSource
from stcnbuf.engine.labels import Annotation
from stcnbuf.engine.plan import Plan, offline_plan
from stcnbuf.engine.runner import run_plan
from stcnbuf.engine.segmenter import Segmenter


@dataclass
class OfflineResult:
    """Label maps in original frame order (and probabilities when asked for)."""

    object_ids: List[int]
    labels: Optional[List[Tensor]] = None
    probs: Optional[List[Tensor]] = None


class OfflineSegmenter:
    """Runs an :class:`Segmenter` over a whole video with burn-in passes (:func:`offline_plan`).

    1. The annotated frame starts the memory.
    2. ``burn_in_passes`` passes visit the other frames in ``order``; every ``mem_every``-th frame of a
       pass is segmented from the memory and written to it. The temporary ring is not used (with
       ``burn_in_every_frame`` every frame of a pass is segmented, the ring holding the pass's previous one).
    3. The final pass goes forward from the annotated frame to the end and then backward to the start,
       following the online schedule (temporary ring included); its results are returned in frame order.

    With ``order=none``, ``burn_in_passes=0`` and the annotation on frame 0 the result equals streaming.
    For long videos, run the plan yourself (:meth:`plan` and :func:`~stcnbuf.engine.runner.run_plan`) and
    consume the predictions as they come.
    """

    def __init__(self, segmenter: Segmenter, order: str = "strided", burn_in_passes: int = 1,
                 seed: int = 0, burn_in_every_frame: bool = False) -> None:
        self.segmenter = segmenter
        self.order = order
        self.burn_in_passes = int(burn_in_passes)
        self.seed = int(seed)
        self.burn_in_every_frame = bool(burn_in_every_frame)
        self.plan(2, 0)  # validates order and passes

    def plan(self, num_frames: int, init_frame: int) -> Plan:
        """The offline plan of a video of ``num_frames`` frames annotated on ``init_frame``."""
        seg = self.segmenter
        return offline_plan(num_frames, init_frame, seg.mem_every, seg.has_ring, self.order,
                            self.burn_in_passes, self.seed, burn_in_every_frame=self.burn_in_every_frame)

    def run(self, frames: FrameSource | Sequence, masks, object_ids: Optional[Sequence[int]] = None,
            init_frame: Optional[int] = None, keep_probs: bool = False) -> OfflineResult:
        """Segment ``frames`` given ``masks`` on ``init_frame`` (default: the middle frame).

        Args:
            frames: a :class:`~stcnbuf.engine.frame_source.FrameSource`, or a random-access sequence of ``H×W×3``
                uint8 RGB frames.
            masks, object_ids: the annotation of ``init_frame`` (see :meth:`Segmenter.start`).
            keep_probs: also return per-frame probabilities (memory-hungry on long videos).
        """
        num_frames = len(frames)
        if num_frames == 0:
            raise ValueError("the video has no frames")
        init = num_frames // 2 if init_frame is None else int(init_frame)
        plan = self.plan(num_frames, init)
        annotations = {init: Annotation(init, masks, None if object_ids is None else list(object_ids))}
        labels: List[Optional[Tensor]] = [None] * num_frames
        probs: List[Optional[Tensor]] = [None] * num_frames
        for step in run_plan(self.segmenter, plan, frames, annotations):
            if step.visit.output:
                labels[step.visit.frame] = step.prediction.labels.cpu()
                if keep_probs:
                    probs[step.visit.frame] = step.prediction.probs.cpu()
        return OfflineResult(list(self.segmenter.object_ids), labels, probs if keep_probs else None)


__all__ = ["OfflineResult", "OfflineSegmenter"]
