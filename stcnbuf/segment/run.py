"""Segment a whole video online (results written as they come, resumable from snapshots) or offline."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np
import torch

from stcnbuf.data.video import VideoSource
from stcnbuf.inference.offline import OfflineSegmenter
from stcnbuf.inference.online import OnlineSegmenter
from stcnbuf.inference.orderings import final_pass_order
from stcnbuf.inference.prediction import Prediction
from stcnbuf.io.atomic import atomic_write
from stcnbuf.segment.initial import Annotations

log = logging.getLogger(__name__)
#: called with (frame index, label map at the original size)
Writer = Callable[[int, np.ndarray], None]


class FrameCache:
    """A :class:`~stcnbuf.inference.offline.FrameSource` that keeps decoded working-size frames when the whole
    video fits ``budget_mb``; otherwise every pass decodes the frames it needs again."""

    def __init__(self, source: VideoSource, budget_mb: float) -> None:
        self.source = source
        h, w = source.working_size
        self.keep = len(source) * h * w * 3 / 2 ** 20 <= budget_mb
        self._frames: Dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.source)

    def iterate(self, indices: Sequence[int]) -> Iterator[np.ndarray]:
        if not self.keep:
            yield from self.source.iterate(indices)
            return
        missing = [i for i in indices if i not in self._frames]
        decoded = dict(zip(missing, self.source.iterate(missing))) if missing else {}
        self._frames.update(decoded)
        for index in indices:
            yield self._frames[index]


@dataclass
class Snapshot:
    """Where an online run is and its segmenter state."""

    run: int
    position: int
    state: dict


class SnapshotFile:
    """``state.pt``: the latest snapshot of an online run, written atomically."""

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path, self.fingerprint = path, fingerprint

    def load(self) -> Optional[Snapshot]:
        if not self.path.is_file():
            return None
        data = torch.load(self.path, map_location="cpu", weights_only=True)
        if data.get("fingerprint") != self.fingerprint:
            return None
        return Snapshot(data["run"], data["position"], data["state"])

    def save(self, snapshot: Snapshot) -> None:
        data = {"fingerprint": self.fingerprint, "run": snapshot.run, "position": snapshot.position,
                "state": snapshot.state}
        atomic_write(self.path, lambda tmp: torch.save(data, tmp))


def _start(segmenter: OnlineSegmenter, frame: np.ndarray, index: int, annotations: Annotations) -> Prediction:
    labels, ids = annotations[index]
    return segmenter.start(frame, labels, ids, frame_index=index)


def segment_online(source: VideoSource, segmenter: OnlineSegmenter, annotations: Annotations, write: Writer,
                   snapshots: Optional[SnapshotFile] = None, snapshot_every: int = 100,
                   progress: Optional[Callable[[int], None]] = None) -> int:
    """From the first initial frame forward to the end, then backward to the start; every frame is written
    as soon as it is segmented; later initial frames add their objects. Returns the frames segmented here."""
    first = min(annotations)
    runs = final_pass_order(len(source), first)
    size = tuple(source.original_size)
    resume = snapshots.load() if snapshots is not None else None
    if resume is None:
        write(first, _start(segmenter, next(iter(source.iterate([first]))), first, annotations).labels_at(size))
        start_run, start_position, segmented = 0, 0, 1
        if progress is not None:
            progress(1)
    else:
        segmenter.load_state_dict(resume.state)
        start_run, start_position, segmented = resume.run, resume.position + 1, 0
        log.info("resuming after frame %d", runs[resume.run][resume.position])
    for run_number in range(start_run, len(runs)):
        run = runs[run_number]
        skip = start_position if run_number == start_run else 0
        if skip == 0:
            segmenter.memory.clear_temporary()
        for position, frame in enumerate(source.iterate(run[skip:]), skip):
            index = run[position]
            if index in annotations:
                labels, ids = annotations[index]
                prediction = segmenter.add_objects(frame, labels, ids, frame_index=index)
            else:
                last = run_number == len(runs) - 1 and position == len(run) - 1
                prediction = segmenter.step(frame, frame_index=index, update_memory=not last)
            write(index, prediction.labels_at(size))
            segmented += 1
            if progress is not None:
                progress(1)
            if snapshots is not None and segmented % snapshot_every == 0:
                snapshots.save(Snapshot(run_number, position, segmenter.state_dict()))
    return segmented


def segment_offline(source: VideoSource, segmenter: OfflineSegmenter, annotations: Annotations, write: Writer,
                    frame_cache_mb: float, progress: Optional[Callable[[int], None]] = None) -> int:
    """Burn-in passes over the reordered video, then the ordered final pass (one initial frame)."""
    if len(annotations) != 1:
        raise ValueError(f"offline inference starts from one initial frame, got {sorted(annotations)}: "
                         "use inference=online for several")
    (index, (labels, ids)), = annotations.items()
    size = tuple(source.original_size)
    segmenter.run(FrameCache(source, frame_cache_mb), labels, ids, init_frame=index, keep_labels=False,
                  on_frame=lambda p: write(p.frame_index, p.labels_at(size)), progress=progress)
    return segmenter.frames_to_segment(len(source))


def object_ids(annotations: Annotations) -> List[int]:
    """Every object id of the initial masks, in order of appearance."""
    ids: List[int] = []
    for index in sorted(annotations):
        ids.extend(i for i in annotations[index][1] if i not in ids)
    return ids


__all__ = ["FrameCache", "Snapshot", "SnapshotFile", "object_ids", "segment_offline", "segment_online"]
