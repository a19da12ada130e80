"""A training run's status record (:data:`~stcnbuf.engine.checkpoint.TRAINING_STATUS`): running while it
trains, interrupted when stopped early (a signal, Ctrl+C, an error), finished once trained and exported; the
checkpoints of runs that are not finished are never picked by default
(:func:`~stcnbuf.engine.checkpoint.find_checkpoint`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

from stcnbuf.engine.checkpoint import TRAINING_STATUS
from stcnbuf.io.atomic import atomic_write_text

STATUSES = ("running", "interrupted", "finished")


def write_training_status(run_folder: Path, status: str, step: int, max_steps: Optional[int],
                          reason: Optional[str] = None) -> Path:
    """Record ``status`` (:data:`STATUSES`) of the run in ``run_folder`` at ``step`` of ``max_steps``."""
    if status not in STATUSES:
        raise ValueError(f"unknown training status {status!r}; choose one of {', '.join(STATUSES)}")
    record = {"status": status, "step": int(step), "max_steps": max_steps, "reason": reason,
              "at": time.strftime("%Y-%m-%d %H:%M:%S")}
    return atomic_write_text(Path(run_folder) / TRAINING_STATUS, json.dumps(record, indent=1))
