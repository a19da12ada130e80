"""What a rerun in a run folder keeps: the plan position it continues from and the frames written before it.

A rerun (after an interruption, or with one more or one changed initial mask) continues from the latest
snapshot its plan shares with the run that saved it (:class:`~stcnbuf.runs.snapshots.SnapshotStore`, matched by
plan-prefix digest) whose outputs are all in the folder's masks file; those frames are kept, the rest is
recomputed, and the file ends as a run given all the masks at once would write it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Sequence

from rlemasklib import RLEMask

from stcnbuf.engine.plan import Plan
from stcnbuf.io.rle import RLEFile, partial_path, read_rle_file
from stcnbuf.runs.snapshots import SnapshotStore

log = logging.getLogger(__name__)


@dataclass
class Reuse:
    """Where a run continues: plan ``position`` (0: from the start) with the segmenter ``state`` after the visit
    before it, keeping ``kept`` (the outputs of the visits before it, in plan order: frame -> object masks)."""

    position: int = 0
    state: Optional[dict] = None
    kept: Dict[int, Dict[int, RLEMask]] = field(default_factory=dict)
    previous: Optional[RLEFile] = None  #: the masks file the kept frames come from

    def label_map(self, frame: int):
        """A kept frame as a label map."""
        return self.previous.label_map(frame)


def previous_masks(rle_path: Path) -> Optional[RLEFile]:
    """The folder's masks file (complete, or the ``.partial`` of an unfinished run), ``None`` if there is none or
    it cannot be read (a warning names it; its frames are then recomputed)."""
    if not (rle_path.is_file() or partial_path(rle_path).is_file()):
        return None
    try:
        return read_rle_file(rle_path, partial=True)
    except ValueError as error:
        log.warning("cannot read %s (%s): its frames are recomputed", rle_path, error)
        return None


def find_reuse(snapshots: SnapshotStore, digests: Sequence[str], plan: Plan, rle_path: Path) -> Reuse:
    """The latest snapshot of ``snapshots`` that this run's plan (``digests``: its prefix digests) shares and whose
    outputs are all in the masks file at ``rle_path``; nothing to reuse if there is none."""
    previous = previous_masks(rle_path)
    if previous is None:
        return Reuse()
    frames, through = plan.outputs, []  # through[p]: how many of the outputs visits 0..p make
    for visit in plan.visits:
        through.append((through[-1] if through else 0) + visit.output)
    first_missing = next((i for i, frame in enumerate(frames) if frame not in previous.frames), len(frames))
    snapshot = snapshots.latest(digests, lambda p: through[p] <= first_missing)
    if snapshot is None:
        return Reuse()
    kept = {frame: previous.frames[frame] for frame in frames[:through[snapshot.position]]}
    log.info("continuing after visit %d of %d (frame %d): %d frame(s) kept", snapshot.position + 1, len(plan),
             plan[snapshot.position].frame, len(kept))
    return Reuse(snapshot.position + 1, snapshot.state, kept, previous)


__all__ = ["Reuse", "find_reuse", "previous_masks"]
