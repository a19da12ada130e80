"""Callbacks that keep the data pipeline in step with training."""

from __future__ import annotations

import lightning as L


class CurriculumCallback(L.Callback):
    """Tells the clip dataset the training progress (for the max-gap curriculum) before every batch; after a
    resume the progress follows the restored step, so the curriculum continues where it was."""

    def _update(self, trainer: L.Trainer) -> None:
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        trainer.datamodule.train_set.set_progress(trainer.global_step / total if total else 0.0)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._update(trainer)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._update(trainer)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        self._update(trainer)
        pl_module.log("train/max_gap", float(trainer.datamodule.train_set.max_gap), on_step=True, on_epoch=False)
