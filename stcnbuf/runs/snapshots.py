"""Snapshots of a segmenter during a plan: an interrupted run continues from the latest one."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from stcnbuf.engine.checkpoint import read_weights_file
from stcnbuf.io.atomic import atomic_write

log = logging.getLogger(__name__)


@dataclass
class Snapshot:
    """The segmenter's state after the visit at plan position ``position``."""

    position: int
    state: dict


class SnapshotFile:
    """A snapshot file (``state.pt``) written atomically every ``every`` visits, for one run fingerprint."""

    def __init__(self, path: Path, fingerprint: str, every: int = 100) -> None:
        if every < 1:
            raise ValueError(f"snapshots every {every} visits: give a positive number")
        self.path, self.fingerprint, self.every = Path(path), fingerprint, int(every)

    def load(self) -> Optional[Snapshot]:
        """The snapshot of this run, or ``None``: no file, one of another configuration, or a damaged one (a
        warning names it; the run then starts from the beginning, which gives the same results)."""
        if not self.path.is_file():
            return None
        try:
            data = read_weights_file(self.path, "snapshot")
            if data.get("fingerprint") != self.fingerprint:
                return None
            return Snapshot(int(data["position"]), data["state"])
        except Exception as error:  # torch raises several types for damaged files
            log.warning("cannot read the snapshot %s (%s: %s): starting from the beginning", self.path,
                        type(error).__name__, error)
            return None

    def due(self, position: int) -> bool:
        """Whether a snapshot is taken after the visit at ``position``."""
        return (position + 1) % self.every == 0

    def save(self, snapshot: Snapshot) -> None:
        data = {"fingerprint": self.fingerprint, "position": snapshot.position, "state": snapshot.state}
        atomic_write(self.path, lambda tmp: torch.save(data, tmp))

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
