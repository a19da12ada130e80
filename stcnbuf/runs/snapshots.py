"""Snapshots of a segmenter during a plan: a rerun continues from the latest one its own plan shares.

A snapshot is the segmenter's state after one visit, saved with the digest of the plan prefix it depends on
(:func:`stcnbuf.engine.prefix.prefix_digests`, in the file name). An interrupted run continues from the latest
snapshot; a run given one more (or one changed) mask continues from the latest snapshot before the first visit
the change affects. A bounded number are kept, spread over the plan (the latest always among them).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import torch

from stcnbuf.engine.checkpoint import read_weights_file
from stcnbuf.io.atomic import atomic_write

log = logging.getLogger(__name__)

_NAME = re.compile(r"visit-(\d+)-([0-9a-f]{16,64})\.pt")


def thinned(positions: Iterable[int], keep: int) -> List[int]:
    """The snapshot positions to remove so that ``keep`` stay: one at a time, the one whose removal leaves the
    shortest gap between its neighbours (the first one's counted from the plan start), never the latest."""
    positions, dropped = sorted(positions), []
    while len(positions) > max(keep, 1):
        gaps = [(positions[i + 1] - (positions[i - 1] if i else -1), i) for i in range(len(positions) - 1)]
        dropped.append(positions.pop(min(gaps)[1]))
    return dropped


@dataclass
class Snapshot:
    """The segmenter's state after the visit at plan position ``position``."""

    position: int
    state: dict


class SnapshotStore:
    """Snapshot files ``folder/visit-<position>-<digest>.pt``, one every ``every`` visits, at most ``keep``.

    When a save makes one too many, the snapshot whose removal leaves the shortest gap between its neighbours
    goes (never the latest, :func:`thinned`), so the kept ones stay spread over the plan.
    """

    def __init__(self, folder: Path, every: int = 100, keep: int = 10) -> None:
        if every < 1:
            raise ValueError(f"snapshots every {every} visits: give a positive number")
        if keep < 1:
            raise ValueError(f"keeping {keep} snapshots: give a positive number")
        self.folder, self.every, self.keep = Path(folder), int(every), int(keep)

    def _files(self) -> Dict[int, Path]:
        """Snapshot files by position (one per position: the newest name wins)."""
        files: Dict[int, Path] = {}
        if self.folder.is_dir():
            for path in sorted(self.folder.iterdir(), key=lambda p: p.stat().st_mtime_ns):
                match = _NAME.fullmatch(path.name)
                if match:
                    files[int(match.group(1))] = path
        return files

    @property
    def positions(self) -> list:
        """The positions snapshots are kept for, ascending."""
        return sorted(self._files())

    def latest(self, digests: Sequence[str], usable: Callable[[int], bool] = lambda position: True
               ) -> Optional[Snapshot]:
        """The latest snapshot whose prefix digest equals ``digests[position]`` (this run's digest there) and
        for which ``usable(position)``; ``None`` if none. A damaged file is named in a warning and skipped."""
        for position, path in sorted(self._files().items(), reverse=True):
            digest = _NAME.fullmatch(path.name).group(2)
            if position >= len(digests) or digests[position][:len(digest)] != digest or not usable(position):
                continue
            try:
                data = read_weights_file(path, "snapshot")
                if data.get("digest") == digests[position] and int(data["position"]) == position:
                    return Snapshot(position, data["state"])
            except Exception as error:  # torch raises several types for damaged files
                log.warning("cannot read the snapshot %s (%s: %s): an earlier one is used, or the run starts "
                            "from the beginning", path, type(error).__name__, error)
        return None

    def due(self, position: int) -> bool:
        """Whether a snapshot is taken after the visit at ``position``."""
        return (position + 1) % self.every == 0

    def save(self, position: int, digest: str, state: dict) -> None:
        """Save the state after visit ``position`` of a run whose prefix digest there is ``digest``."""
        path = self.folder / f"visit-{position:07d}-{digest[:16]}.pt"
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {"digest": digest, "position": position, "state": state}
        atomic_write(path, lambda tmp: torch.save(data, tmp))
        for other, stale in self._files().items():
            if other == position and stale != path:
                stale.unlink(missing_ok=True)
        self._thin()

    def _thin(self) -> None:
        files = self._files()
        for position in thinned(files, self.keep):
            files[position].unlink(missing_ok=True)

    def drop_after(self, position: int) -> None:
        """Remove the snapshots after ``position`` (a run about to change what follows it)."""
        for other, path in self._files().items():
            if other > position:
                path.unlink(missing_ok=True)

    def remove(self) -> None:
        """Remove every snapshot (and the folder, if nothing else is in it)."""
        self.drop_after(-1)
        if self.folder.is_dir() and not any(self.folder.iterdir()):
            self.folder.rmdir()
