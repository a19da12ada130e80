"""An evaluation's output folder: its configuration fingerprint, per-sequence completion markers, resume."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from stcnbuf.io.atomic import atomic_write_text


def fingerprint(config: Dict[str, Any]) -> str:
    """A stable hash of everything that determines the predictions and timings."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _flatten(value: Any, prefix: str = "") -> Dict[str, Any]:
    if isinstance(value, dict):
        out: Dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value}


def config_differences(old: Dict[str, Any], new: Dict[str, Any]) -> List[str]:
    """``key: old -> new`` for every leaf that differs."""
    a, b = _flatten(old), _flatten(new)
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


@dataclass
class SequenceRecord:
    """What a finished sequence left behind (kept beside its predictions)."""

    name: str
    frames: int
    seconds: float
    objects: int
    peak_memory_mb: float
    outputs: List[str]


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
        run_file = self.root / "run.json"
        if run_file.is_file():
            previous = json.loads(run_file.read_text())
            if previous.get("fingerprint") != self.fingerprint:
                if not overwrite:
                    changes = config_differences(previous.get("config", {}), config)
                    raise ValueError(
                        f"{self.root} holds results of another configuration ({'; '.join(changes[:8]) or 'unknown'}); "
                        "use a new output_dir, or overwrite=true to discard them")
                for folder in (self.predictions, self.markers):
                    shutil.rmtree(folder, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_file, json.dumps({"fingerprint": self.fingerprint, "config": config}, indent=1,
                                               default=str))

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
