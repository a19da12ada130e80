"""The Lightning DataModule of training: weighted clip sources for training, whole sequences for validation."""

from __future__ import annotations

from typing import Dict, List, Optional

import lightning as L
import torch
from torch.utils.data import DataLoader

from stcnbuf.data.base import VOSDataset
from stcnbuf.data.clips import ClipDataset, ClipSpec, Curriculum, EpochIndexSampler, WeightedSource


def _first(batch: List[Optional[str]]) -> Optional[str]:
    return batch[0]


class ClipDataModule(L.LightningDataModule):
    """Training clips from ``sources`` (mixed by weight) and validation on ``val_dataset``'s sequences,
    segmented by the real inference engine.

    Args:
        sources: name -> weighted clip source (videos or static images).
        batch_size: clips per batch and process.
        num_workers: loader processes (each seeded through the clip keys, see :class:`ClipDataset`).
        samples_per_epoch: clips per epoch over all processes (training length is ``trainer.max_steps``).
        spec: frames per clip, objects per clip, augmentation.
        curriculum: maximum gap against training progress.
        seed: seed of every clip.
        val_dataset: held-out sequences (every frame annotated) for validation J&F.
        val_sequences: use only the first n of them.
    """

    def __init__(self, sources: Dict[str, WeightedSource], batch_size: int = 4, num_workers: int = 2,
                 samples_per_epoch: int = 1000, spec: Optional[ClipSpec] = None,
                 curriculum: Optional[Curriculum] = None, seed: int = 0, val_dataset: Optional[VOSDataset] = None,
                 val_sequences: Optional[int] = None) -> None:
        super().__init__()
        self.train_set = ClipDataset(sources, samples_per_epoch, spec or ClipSpec(), curriculum or Curriculum(), seed)
        self.batch_size, self.num_workers = int(batch_size), int(num_workers)
        self.val_dataset = val_dataset
        self.val_names = list(val_dataset.names[:val_sequences] if val_sequences else val_dataset.names) \
            if val_dataset is not None else []

    def _rank(self) -> tuple:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> DataLoader:
        rank, world = self._rank()
        return DataLoader(self.train_set, batch_size=self.batch_size,
                          sampler=EpochIndexSampler(len(self.train_set), rank, world),
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0, drop_last=True,
                          pin_memory=torch.cuda.is_available())

    def val_dataloader(self) -> DataLoader:
        """This process's share of the validation sequences; ``None`` (skipped) when there are fewer
        sequences than processes, since every process needs a batch."""
        rank, world = self._rank()
        names = self.val_names[rank::world] if self.val_names else []
        return DataLoader(names or ([None] if self.val_names else []), batch_size=1, collate_fn=_first)
