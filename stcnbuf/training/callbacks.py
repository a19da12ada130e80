"""Checkpointing that survives a resume into a new run folder."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from stcnbuf.io.atomic import atomic_write

log = logging.getLogger(__name__)


class RunCheckpoint(ModelCheckpoint):
    """A :class:`ModelCheckpoint` for runs that resume into a new folder, keeping the best checkpoint.

    Every run writes into its own folder, and Lightning restores the best score only into the same folder,
    so a resumed run would forget the interrupted run's best and keep a worse one. Resumed into another
    folder, this copies the earlier best file into its own folder (at the start of training, on the first
    process) and keeps its score, so later checkpoints compete with it; the earlier run's files are left
    alone.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._carried: Optional[Tuple[Path, Path]] = None

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        if state_dict.get("dirpath", self.dirpath) == self.dirpath:
            super().load_state_dict(state_dict)
            return
        previous = state_dict.get("best_model_path") or ""
        kept = bool(previous) and Path(previous).is_file()
        if previous and not kept:
            log.warning("the best checkpoint of the resumed run, %s, is gone: the best is chosen among this "
                        "run's checkpoints", previous)
        carried = str(Path(self.dirpath) / Path(previous).name) if kept else ""
        score = state_dict["best_model_score"] if kept else None
        super().load_state_dict({**state_dict, "dirpath": self.dirpath, "best_model_path": carried,
                                 "best_model_score": score, "best_k_models": {carried: score} if kept else {},
                                 "kth_best_model_path": carried, "kth_value": score if kept else self.kth_value,
                                 "last_model_path": ""})
        self._carried = (Path(previous), Path(carried)) if kept else None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        if self._carried is not None and trainer.is_global_zero:
            source, target = self._carried
            atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))
            log.info("kept the best checkpoint of the resumed run: %s (score %s)", target, self.best_model_score)
        self._carried = None
        trainer.strategy.barrier("RunCheckpoint.on_train_start")  # every process, whatever it found on its disk
