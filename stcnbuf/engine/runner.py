"""The one loop that drives a segmenter over a video: execute a :class:`~stcnbuf.engine.plan.Plan`.

:func:`run_plan` pulls frames from a frame source in plan order (each run of neighbouring frames streams) and
yields one :class:`Step` per visit, as SAM 2's ``propagate_in_video`` does; consumers add only what is theirs
(writers, snapshots, scores). A run resumes from the segmenter's ``state_dict()`` and a plan position.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterator, List, Mapping, NamedTuple, Sequence, Tuple

import numpy as np
import torch

from stcnbuf.engine.frame_source import FrameSource
from stcnbuf.engine.labels import Annotation, object_ids_in
from stcnbuf.engine.plan import Action, Plan, Visit
from stcnbuf.engine.prediction import Prediction
from stcnbuf.engine.segmenter import Segmenter


class Step(NamedTuple):
    """What one visit produced: its position in the plan, the visit, the prediction, the compute seconds."""

    position: int
    visit: Visit
    prediction: Prediction
    seconds: float


def _frames_in_order(frames: FrameSource | Sequence, indices: List[int]) -> Iterator:
    if hasattr(frames, "iterate"):  # a FrameSource, or any source that decodes runs of frames
        return iter(frames.iterate(indices))
    return (frames[i] for i in indices)


def run_plan(segmenter: Segmenter, plan: Plan, frames: FrameSource | Sequence,
             annotations: Mapping[int, Annotation], start: int = 0) -> Iterator[Step]:
    """Execute ``plan`` from position ``start``, yielding a :class:`Step` per visit.

    Args:
        segmenter: the segmenter; to resume at ``start > 0``, load the state it had after visit ``start - 1``.
        plan: the visits.
        frames: a :class:`FrameSource` or a random-access sequence of ``H×W×3`` uint8 frames (working size).
        annotations: the masks of the annotated frames (at the working size) by frame index.
        start: the plan position to begin at.
    """
    if len(frames) != plan.num_frames:
        raise ValueError(f"the plan is for {plan.num_frames} frames, the video has {len(frames)}")
    if not 0 <= start <= len(plan):
        raise ValueError(f"plan position {start} is outside the plan (0..{len(plan)})")
    if start > 0 and not segmenter.started:
        raise RuntimeError(f"resuming at plan position {start} needs the segmenter's state of position {start - 1}")
    visits = plan.visits[start:]
    missing = sorted({v.frame for v in visits if v.annotated and v.frame not in annotations})
    if missing:
        raise ValueError(f"the plan annotates frame(s) {missing} but no masks are given for them")
    sync = torch.cuda.synchronize if segmenter.device.type == "cuda" else None
    source = _frames_in_order(frames, [v.frame for v in visits])
    for position, visit in enumerate(visits, start):
        frame = next(source)
        if sync is not None:
            sync()
        began = time.perf_counter()
        prediction = run_visit(segmenter, visit, frame, annotations)
        if sync is not None:
            sync()
        yield Step(position, visit, prediction, time.perf_counter() - began)


def run_visit(segmenter: Segmenter, visit: Visit, frame, annotations: Mapping[int, Annotation]) -> Prediction:
    """Execute one visit on its frame (working size): start, add objects or segment, as the visit says."""
    if visit.new_run:
        segmenter.memory.clear_temporary()
    if visit.action is Action.START:
        given = annotations[visit.frame]
        return segmenter.start(frame, given.labels, given.object_ids, frame_index=visit.frame)
    if visit.action is Action.ADD_OBJECTS:
        given = annotations[visit.frame]
        return segmenter.add_objects(frame, given.labels, given.object_ids, frame_index=visit.frame)
    return segmenter.process(frame, visit.frame, visit.write, burn_in=visit.action is Action.BURN_IN)


def written_labels(step: Step, size: Tuple[int, int], given: Mapping[int, Annotation]) -> np.ndarray:
    """The label map a tool writes for a step, at ``size`` ``(H, W)`` (the video's native size).

    The prediction, resized (:meth:`Prediction.labels_at`); on an annotated frame the given objects' pixels are
    exactly as given (``given``: the annotations at ``size``), and on the start frame nothing else is drawn.
    """
    labels = step.prediction.labels_at(size)
    annotation = given.get(step.visit.frame) if step.visit.annotated else None
    if annotation is None:
        return labels
    if tuple(annotation.labels.shape) != tuple(size):
        raise ValueError(f"the given masks of frame {step.visit.frame} are {annotation.labels.shape[1]}×"
                         f"{annotation.labels.shape[0]}, the output {size[1]}×{size[0]} (width×height)")
    ids = annotation.object_ids if annotation.object_ids is not None else object_ids_in(annotation.labels)
    own = np.isin(annotation.labels, ids)
    rest = 0 if step.visit.action is Action.START else labels
    dtype = np.result_type(labels.dtype, np.min_scalar_type(max(ids)))
    return np.where(own, annotation.labels, rest).astype(dtype)


@dataclass
class RunStats:
    """Visits run and their compute time (burn-in visits counted, and also reported apart)."""

    segmented: int = 0
    burn_in: int = 0
    outputs: int = 0
    seconds: float = 0.0
    durations: List[float] = field(default_factory=list, repr=False)  #: compute seconds of each visit, in order

    def add(self, step: Step) -> None:
        self.segmented += 1
        self.burn_in += step.visit.action is Action.BURN_IN
        self.outputs += step.visit.output
        self.seconds += step.seconds
        self.durations.append(step.seconds)

    @property
    def fps(self) -> float | None:
        """Segmented frames (burn-in included) per compute second."""
        return self.segmented / self.seconds if self.seconds > 0 else None


__all__ = ["FrameSource", "RunStats", "Step", "run_plan", "run_visit", "written_labels"]
