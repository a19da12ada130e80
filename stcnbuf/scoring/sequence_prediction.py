"""Predict one dataset sequence: its annotations, frame source and plan, run through the runner."""

from __future__ import annotations

from typing import Dict, Iterator, List, Mapping, Optional, Tuple

import numpy as np

from stcnbuf.datasets.frames import resize_labels
from stcnbuf.datasets.sequence import VideoSequence
from stcnbuf.engine.build import build_plan
from stcnbuf.engine.labels import Annotation
from stcnbuf.engine.runner import RunStats, run_plan, written_labels
from stcnbuf.engine.segmenter import Segmenter
from stcnbuf.engine.settings import InferenceSettings, OfflineInference, inference_settings


def resolve_init_frame(sequence: VideoSequence, annotations: List[Annotation], init_frame) -> Annotation:
    """The annotation an offline run starts from: the annotated frame (``None``), ``middle`` or a position."""
    if init_frame is None:
        return annotations[0]
    index = len(sequence) // 2 if init_frame == "middle" else int(init_frame)
    if not 0 <= index < len(sequence):
        raise ValueError(f"inference.init_frame={init_frame} is outside {sequence.name} (0..{len(sequence) - 1})")
    if index not in sequence.mask_paths:
        raise ValueError(f"inference.init_frame={init_frame}: frame {index} of {sequence.name} has no mask "
                         f"(annotated frames: {sorted(sequence.mask_paths)[:10]})")
    labels = sequence.read_mask(index)
    wanted = annotations[0].object_ids
    present = set(np.unique(labels).tolist())
    ids = [i for i in wanted if i in present]
    if not ids:
        raise ValueError(f"frame {index} of {sequence.name} contains none of the objects {wanted}")
    return Annotation(index, labels, ids)


class SequencePrediction:
    """The predictions of ``sequence`` under ``inference`` (``configs/inference``) at its native size.

    Iterating yields ``(frame index, label map or None)`` once per visit of the plan (``None``: a visit without
    output, such as burn-in). Frames the plan does not visit (those before the first annotation when
    ``inference.backward=false``) get no label map, as STCN writes nothing there. On annotated frames the given
    masks are written exactly, or with ``inference.write_given_masks=false`` the network's own result there (the
    given masks at the working size, aggregated and scaled back: what STCN writes). :attr:`stats` counts the
    visits; :attr:`confidence` holds each output frame's object confidence (frame -> {object id: confidence}).

    Args:
        sequence: the sequence.
        segmenter: the segmenter (reset by the plan's start).
        inference: the inference settings (mode, schedule, ``init_frame``, ``frame_cache_mb``,
            ``write_given_masks``).
        shorter_side: working resolution (``None``: native).
        resize: how frames are scaled to it (:data:`~stcnbuf.datasets.frames.RESIZE_METHODS`).
    """

    def __init__(self, sequence: VideoSequence, segmenter: Segmenter, inference: InferenceSettings | Mapping,
                 shorter_side: Optional[int] = None, resize: str = "stcn") -> None:
        self.sequence, self.segmenter = sequence, segmenter
        inference = inference_settings(inference)
        annotations = sequence.annotations()
        init = inference.init_frame if isinstance(inference, OfflineInference) else None
        if init is not None:
            annotations = [resolve_init_frame(sequence, annotations, init)]
        self.given: Dict[int, Annotation] = {a.frame: a for a in annotations}
        self.written_given = self.given if inference.write_given_masks else {}
        self.frames = sequence.frame_source(shorter_side, inference.frame_cache_mb, resize)
        work = self.frames.size
        self.annotations = {a.frame: Annotation(a.frame, resize_labels(a.labels, work), a.object_ids)
                            for a in annotations}
        self.plan = build_plan(inference, segmenter, len(sequence), sorted(self.given), annotations[0].frame)
        self.outputs = set(sequence.outputs)
        self.stats = RunStats()
        self.confidence: Dict[int, Dict[int, float]] = {}

    def __len__(self) -> int:
        return len(self.plan)

    def __iter__(self) -> Iterator[Tuple[int, Optional[np.ndarray]]]:
        size = self.sequence.size
        for step in run_plan(self.segmenter, self.plan, self.frames, self.annotations):
            self.stats.add(step)
            output = step.visit.output and step.visit.frame in self.outputs
            if output:
                self.confidence[step.visit.frame] = step.prediction.confidence()
            yield step.visit.frame, written_labels(step, size, self.written_given) if output else None
