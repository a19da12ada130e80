"""An evaluation's output folder: its configuration fingerprint, per-sequence completion markers, resume."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from stcnbuf.io.atomic import atomic_write_text
from stcnbuf.runs.record import claim_folder, fingerprint


@dataclass
class SequenceRecord:
    """What a finished sequence left behind (kept beside its predictions)."""

    name: str
    frames: int          #: frames segmented, burn-in visits included
    seconds: float       #: compute time of those frames
    objects: int
    peak_memory_mb: float
    outputs: List[str]
    burn_in_frames: int = 0


class RunDirectory:
    """``output_dir`` with ``run.json`` (configuration + fingerprint), ``predictions/<seq>/`` and
    ``sequences/<seq>.json`` markers written once a sequence is complete.

    A rerun with the same configuration resumes: sequences with a marker and all their files are kept.
    A rerun with another configuration is refused (its differences are listed) unless ``overwrite``.
    """

    def __init__(self, root: Path, config: Dict[str, Any], overwrite: bool = False) -> None:
        self.root = Path(root)
        self.config = config
        self.fingerprint = fingerprint(config)
        self.predictions = self.root / "predictions"
        self.markers = self.root / "sequences"
        self.root.mkdir(parents=True, exist_ok=True)
        if not claim_folder(self.root / "run.json", config, keep=not overwrite,
                            fix="use a new output_dir, or overwrite=true to discard them"):
            for folder in (self.predictions, self.markers):
                shutil.rmtree(folder, ignore_errors=True)

    def finished(self, name: str) -> Optional[SequenceRecord]:
        """The record of a complete sequence of this configuration, or ``None``."""
        marker = self.markers / f"{name}.json"
        if not marker.is_file():
            return None
        data = json.loads(marker.read_text())
        if data.get("fingerprint") != self.fingerprint:
            return None
        record = SequenceRecord(**data["record"])
        if not all((self.predictions / name / f"{stem}.png").is_file() for stem in record.outputs):
            return None
        return record

    def prediction_path(self, name: str, stem: str) -> Path:
        return self.predictions / name / f"{stem}.png"

    def mark_finished(self, record: SequenceRecord) -> None:
        atomic_write_text(self.markers / f"{record.name}.json",
                          json.dumps({"fingerprint": self.fingerprint, "record": asdict(record)}))
