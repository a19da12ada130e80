"""The Lightning DataModule of training: the concatenated clip sources for training, whole sequences for validation."""

from __future__ import annotations

import logging
from typing import Dict, List, Optional

import lightning as L
import torch
from torch.utils.data import DataLoader

from stcnbuf.datasets.base import VOSDataset
from stcnbuf.training.clips import ClipBatchSampler, ClipDataset, ClipSpec, Curriculum, RepeatedSource

log = logging.getLogger(__name__)


class ClipLoader(DataLoader):
    """The training loader. It resumes mid-epoch by itself (its :class:`ClipBatchSampler` continues from the
    trainer's restored step); its state, saved in checkpoints, is the batch layout, and a resume with another
    layout is warned that it trains other clips than an uninterrupted run would."""

    def state_dict(self) -> Dict[str, int]:
        return self.batch_sampler.layout()

    def load_state_dict(self, state: Dict[str, int]) -> None:
        if state != self.batch_sampler.layout():
            log.warning("the checkpoint was trained with %s, this run has %s: training continues from the "
                        "checkpoint's step, with other clips than an uninterrupted run", state,
                        self.batch_sampler.layout())


def _first(batch: List[Optional[str]]) -> Optional[str]:
    return batch[0]


class ClipDataModule(L.LightningDataModule):
    """Training clips from ``sources`` (their concatenation, see :class:`ClipDataset`) and validation on ``val_dataset``'s sequences,
    segmented by the real inference engine.

    Args:
        sources: name -> clip source (videos or static images) and its repeat.
        batch_size: clips per batch and process.
        num_workers: loader processes (each clip is seeded by its key, see :class:`ClipDataset`).
        samples_per_epoch: clips per epoch over all processes (training length is ``trainer.max_steps``);
            training continues from the trainer's step, also mid-epoch (see :class:`ClipBatchSampler`).
        spec: frames per clip, objects per clip, augmentation.
        curriculum: maximum gap against training progress.
        seed: seed of every clip.
        val_dataset: held-out sequences (every frame annotated) for validation J&F.
        val_sequences: use only the first n of them.
        repeat_clips: every epoch trains epoch 0's clips (``debug=overfit``).
    """

    def __init__(self, sources: Dict[str, RepeatedSource], batch_size: int = 4, num_workers: int = 2,
                 samples_per_epoch: int = 1000, spec: Optional[ClipSpec] = None,
                 curriculum: Optional[Curriculum] = None, seed: int = 0, val_dataset: Optional[VOSDataset] = None,
                 val_sequences: Optional[int] = None, repeat_clips: bool = False) -> None:
        super().__init__()
        self.train_set = ClipDataset(sources, samples_per_epoch, spec or ClipSpec(), curriculum or Curriculum(), seed)
        self.batch_size, self.num_workers, self.repeat_clips = int(batch_size), int(num_workers), bool(repeat_clips)
        self.val_dataset = val_dataset
        self.val_names = list(val_dataset.names[:val_sequences] if val_sequences else val_dataset.names) \
            if val_dataset is not None else []

    def _rank(self) -> tuple:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _batches_done(self) -> int:
        """Training batches of this process so far (the restored step on a resume)."""
        trainer = self.trainer
        return trainer.global_step * trainer.accumulate_grad_batches if trainer is not None else 0

    def _total_batches(self) -> Optional[int]:
        """Training batches of the whole run (``trainer.max_steps``), the curriculum's 100 %."""
        trainer = self.trainer
        if trainer is None or not trainer.max_steps or trainer.max_steps < 0:
            return None
        return trainer.max_steps * trainer.accumulate_grad_batches

    def train_dataloader(self) -> DataLoader:
        rank, world = self._rank()
        sampler = ClipBatchSampler(len(self.train_set), self.batch_size, rank, world, self._batches_done,
                                   self._total_batches(), repeat=self.repeat_clips)
        accumulate = self.trainer.accumulate_grad_batches if self.trainer is not None else 1
        if len(sampler) % accumulate:  # Lightning steps at an epoch's end: the step would no longer tell the batch
            raise ValueError(f"{len(sampler)} batches per epoch and process are not a multiple of "
                             f"trainer.accumulate_grad_batches={accumulate}: set datamodule.samples_per_epoch to a "
                             f"multiple of {self.batch_size * world * accumulate}")
        return ClipLoader(self.train_set, batch_sampler=sampler, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0, pin_memory=torch.cuda.is_available())

    def val_dataloader(self) -> DataLoader:
        """This process's share of the validation sequences; ``None`` (skipped) when there are fewer
        sequences than processes, since every process needs a batch."""
        rank, world = self._rank()
        names = self.val_names[rank::world] if self.val_names else []
        return DataLoader(names or ([None] if self.val_names else []), batch_size=1, collate_fn=_first)
