"""Snapshots of a segmenter during a plan: an interrupted run continues from the latest one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from stcnbuf.io.atomic import atomic_write


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
        """The snapshot of this run, or ``None`` (no file, or one of another configuration)."""
        if not self.path.is_file():
            return None
        try:
            data = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises several types for damaged files
            raise ValueError(f"cannot read the snapshot {self.path} ({error}): delete it to start the run over") \
                from error
        if data.get("fingerprint") != self.fingerprint:
            return None
        return Snapshot(int(data["position"]), data["state"])

    def due(self, position: int) -> bool:
        """Whether a snapshot is taken after the visit at ``position``."""
        return (position + 1) % self.every == 0

    def save(self, snapshot: Snapshot) -> None:
        data = {"fingerprint": self.fingerprint, "position": snapshot.position, "state": snapshot.state}
        atomic_write(self.path, lambda tmp: torch.save(data, tmp))

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
