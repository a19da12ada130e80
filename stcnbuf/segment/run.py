"""Segment a whole video online or offline; results written as they come, runs resumable from snapshots."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np
import torch

from stcnbuf.data.video import VideoSource
from stcnbuf.inference.offline import FrameSource, OfflineSegmenter
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
    """Where a run's final pass is (run, position in it; -1: before its first frame) and the segmenter state."""

    run: int
    position: int
    state: dict


class SnapshotFile:
    """``state.pt``: the latest snapshot of a run, written atomically."""

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

    def begin() -> Prediction:
        return _start(segmenter, next(iter(source.iterate([first]))), first, annotations)

    return _final_pass(source, source.original_size, segmenter, first, annotations, write, begin, snapshots,
                       snapshot_every, progress)


def segment_offline(source: VideoSource, offline: OfflineSegmenter, annotations: Annotations, write: Writer,
                    frame_cache_mb: float, snapshots: Optional[SnapshotFile] = None, snapshot_every: int = 100,
                    progress: Optional[Callable[[int], None]] = None) -> int:
    """Burn-in passes over the reordered video, then the ordered final pass (one initial frame), written as it
    goes. A snapshot after the burn-in and every ``snapshot_every`` frames lets an interrupted run continue."""
    if len(annotations) != 1:
        raise ValueError(f"offline inference starts from one initial frame, got {sorted(annotations)}: "
                         "use inference=online for several")
    (index, (labels, ids)), = annotations.items()
    frames = FrameCache(source, frame_cache_mb)

    def begin() -> Prediction:
        return offline.burn_in(frames, labels, ids, index, progress)

    return _final_pass(frames, source.original_size, offline.segmenter, index, annotations, write, begin, snapshots,
                       snapshot_every, progress, count_first=False)


def _final_pass(frames: FrameSource, size: Sequence[int], segmenter: OnlineSegmenter, first: int,
                annotations: Annotations, write: Writer, begin: Callable[[], Prediction],
                snapshots: Optional[SnapshotFile], snapshot_every: int, progress: Optional[Callable[[int], None]],
                count_first: bool = True) -> int:
    """``begin()`` (start the memory; skipped when resuming from a snapshot), then the ordered pass from
    ``first``: forward to the end, backward to the start; outputs at ``size``. Returns the frames written."""
    runs = final_pass_order(len(frames), first)
    size = tuple(size)
    resume = snapshots.load() if snapshots is not None else None
    if resume is None:
        write(first, begin().labels_at(size))
        start_run, start_position, segmented = 0, 0, 1
        if progress is not None and count_first:
            progress(1)
        if snapshots is not None:  # from here on an offline run keeps its burn-in
            snapshots.save(Snapshot(0, -1, segmenter.state_dict()))
    else:
        segmenter.load_state_dict(resume.state)
        start_run, start_position, segmented = resume.run, resume.position + 1, 0
        if resume.position >= 0:
            log.info("resuming after frame %d", runs[resume.run][resume.position])
    for run_number in range(start_run, len(runs)):
        run = runs[run_number]
        skip = start_position if run_number == start_run else 0
        if skip == 0:
            segmenter.memory.clear_temporary()
        for position, frame in enumerate(frames.iterate(run[skip:]), skip):
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


def object_ids(annotations: Annotations) -> List[int]:
    """Every object id of the initial masks, in order of appearance."""
    ids: List[int] = []
    for index in sorted(annotations):
        ids.extend(i for i in annotations[index][1] if i not in ids)
    return ids


__all__ = ["FrameCache", "Snapshot", "SnapshotFile", "object_ids", "segment_offline", "segment_online"]
