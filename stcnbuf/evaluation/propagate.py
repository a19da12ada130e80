"""Segment one dataset sequence online or offline, at a working resolution, with IO kept out of the timing."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np
import torch

from stcnbuf.data.sequence import Annotation, VideoSequence
from stcnbuf.data.video import working_size
from stcnbuf.inference.offline import OfflineSegmenter
from stcnbuf.inference.online import OnlineSegmenter
from stcnbuf.inference.prediction import Prediction

#: Receives (frame position, label map at the frame's original size) for every output frame.
Writer = Callable[[int, np.ndarray], None]


@dataclass
class PropagationStats:
    frames: int
    seconds: float
    objects: int


def _resize_frame(frame: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    if frame.shape[:2] == size:
        return frame
    return cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def _resize_labels(labels: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    if labels.shape == size:
        return labels
    return cv2.resize(labels, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


class _Clock:
    """Accumulates the time of the timed sections (CUDA work synchronised)."""

    def __init__(self, device: torch.device) -> None:
        self.seconds = 0.0
        self._sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def __enter__(self) -> "_Clock":
        self._sync()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self._sync()
        self.seconds += time.perf_counter() - self._start


def propagate_online(sequence: VideoSequence, segmenter: OnlineSegmenter, write: Writer,
                     shorter_side: Optional[int] = None, progress: Optional[Callable[[int], None]] = None
                     ) -> PropagationStats:
    """Stream the sequence from its first annotation; later annotations add objects as they come."""
    annotations: Dict[int, Annotation] = {a.frame: a for a in sequence.annotations()}
    first, last = min(annotations), len(sequence) - 1
    outputs = set(sequence.outputs)
    clock = _Clock(segmenter.device)
    for index in range(len(sequence)):
        size = sequence.frame_size(index)
        if index < first:  # before any object exists
            if index in outputs:
                write(index, np.zeros(size, np.uint8))
            continue
        work = working_size(size, shorter_side)
        frame = _resize_frame(sequence.read_frame(index), work)
        annotation = annotations.get(index)
        with clock:
            if index == first:
                prediction = segmenter.start(frame, _resize_labels(annotation.labels, work), annotation.object_ids,
                                             frame_index=index)
            elif annotation is not None:
                prediction = segmenter.add_objects(frame, _resize_labels(annotation.labels, work),
                                                   annotation.object_ids, frame_index=index)
            else:
                prediction = segmenter.step(frame, frame_index=index, update_memory=index != last)
            labels = prediction.labels_at(size) if index in outputs else None
        if labels is not None:
            write(index, labels)
        if progress is not None:
            progress(1)
    return PropagationStats(len(sequence) - first, clock.seconds, len(segmenter.object_ids))


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


def propagate_offline(sequence: VideoSequence, segmenter: OfflineSegmenter, write: Writer,
                      shorter_side: Optional[int] = None, init_frame=None,
                      progress: Optional[Callable[[int], None]] = None) -> PropagationStats:
    """Burn-in passes and the ordered final pass over the whole sequence (one annotated frame)."""
    annotations = sequence.annotations()
    if len(annotations) > 1:
        raise ValueError(f"{sequence.name} introduces objects on {len(annotations)} frames; offline inference "
                         "starts from one annotated frame: use inference=online for this dataset")
    start = resolve_init_frame(sequence, annotations, init_frame)
    sizes = [sequence.frame_size(i) for i in range(len(sequence))]
    frames = [_resize_frame(sequence.read_frame(i), working_size(sizes[i], shorter_side)) for i in range(len(sequence))]
    outputs = set(sequence.outputs)
    results: Dict[int, np.ndarray] = {}

    def keep(prediction: Prediction) -> None:
        if prediction.frame_index in outputs:
            results[prediction.frame_index] = prediction.labels_at(sizes[prediction.frame_index])

    clock = _Clock(segmenter.segmenter.device)
    with clock:
        segmenter.run(frames, _resize_labels(start.labels, frames[start.frame].shape[:2]), start.object_ids,
                      init_frame=start.frame, on_frame=keep, progress=progress)
    for index in sorted(results):
        write(index, results[index])
    return PropagationStats(len(sequence), clock.seconds, len(start.object_ids))
