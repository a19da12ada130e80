"""STCN's training step as a LightningModule, with validation J&F from the real inference engine."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence

import lightning as L
import numpy as np
import torch
from torch import Tensor, nn

from stcnbuf.engine.build import build_segmenter
from stcnbuf.engine.memory.read import softmax_readout
from stcnbuf.engine.model.aggregate import aggregate_logits
from stcnbuf.engine.model.stcn import STCN
from stcnbuf.scoring.scorer import score_sequence
from stcnbuf.scoring.sequence_prediction import SequencePrediction
from stcnbuf.training.losses import BootstrappedCE

log = logging.getLogger(__name__)


def segment_clip(net: STCN, frames: Tensor, labels: Tensor, selector: Tensor,
                 first_masks: Optional[Tensor] = None) -> List[Tensor]:
    """STCN's training forward pass over a clip.

    Frame 0's ground truth encodes the first memory; every later frame ``t`` is segmented from the memory of
    frames ``0..t-1`` (full softmax) and, if another frame follows, encoded from its own predicted masks.

    Args:
        frames: ``[B,T,3,H,W]`` normalised; labels: ``[B,T,H,W]`` (0, 1 target, 2 second object);
        selector: ``[B,K]`` 1 where the object exists; first_masks: ``[B,K,H,W]`` what frame 0's value encodes
            per object (default: its labels; STCN's stage 0 gives soft masks).

    Returns:
        aggregated logits ``[B,K+1,H,W]`` of frames ``1..T-1``.
    """
    b, t = frames.shape[:2]
    num_objects = selector.shape[1]
    k16, f16_thin, f16, f8, f4 = (x.view(b, t, *x.shape[1:]) for x in net.encode_key(frames.flatten(0, 1)))
    if first_masks is None:
        first_masks = torch.stack([(labels[:, 0] == k + 1) for k in range(num_objects)], 1)
    first = first_masks.to(frames.dtype)
    keys: List[Tensor] = [k16[:, 0]]
    values: List[Tensor] = [net.encode_value(frames[:, 0], f16[:, 0], first)]
    outputs = []
    for i in range(1, t):
        memory_keys = torch.stack(keys, 2).flatten(2)                       # [B,Ck,N]
        memory_values = torch.stack(values, 3).flatten(3).flatten(1, 2)      # [B,K*Cv,N]
        query = k16[:, i].flatten(2)                                         # [B,Ck,HW]
        readout = softmax_readout(query, memory_keys, memory_values)
        readout = readout.view(b, num_objects, -1, *k16.shape[-2:])
        probs = torch.sigmoid(net.decode(readout, f16_thin[:, i], f8[:, i], f4[:, i])) * selector[:, :, None, None]
        logits = aggregate_logits(probs, dim=1)
        outputs.append(logits)
        if i < t - 1:
            keys.append(k16[:, i])
            values.append(net.encode_value(frames[:, i], f16[:, i], torch.softmax(logits, 1)[:, 1:]))
    return outputs


def _iou(prediction: Tensor, target: Tensor) -> Tensor:
    inter = (prediction & target).flatten(1).sum(1).float()
    union = (prediction | target).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


class VOSTrainingModule(L.LightningModule):
    """Trains an :class:`~stcnbuf.engine.model.STCN` with STCN's recipe.

    Args:
        net: the network (random, ImageNet-initialised, or loaded from a checkpoint).
        lr, weight_decay: Adam settings; ``milestones`` (steps) and ``gamma``: step decay.
        loss: the bootstrapped cross-entropy and its warm-up.
        freeze_bn: keep the BatchNorm running statistics fixed (eval mode before every training batch, so
            also after validation and on a resume; STCN does); their affine parameters still train.
        freeze_key_encoder: do not train the key encoder (fine-tuning on little data), its BatchNorm
            statistics included.
        val_memory: :class:`~stcnbuf.engine.memory.MemoryBank` arguments for validation (``configs/memory``).
        val_inference: the inference settings of validation (``configs/inference``; default: online).
    """

    def __init__(self, net: STCN, lr: float = 1e-5, weight_decay: float = 1e-7, milestones: Sequence[int] = (125_000,),
                 gamma: float = 0.1, loss: Optional[BootstrappedCE] = None, freeze_bn: bool = True,
                 freeze_key_encoder: bool = False, val_memory: Optional[Dict[str, Any]] = None,
                 val_inference: Optional[Dict[str, Any]] = None) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "loss"])
        self.net = net
        self.loss = loss or BootstrappedCE()
        self.freeze_bn, self.freeze_key_encoder = freeze_bn, freeze_key_encoder
        if freeze_key_encoder:
            for p in self.net.key_encoder.parameters():
                p.requires_grad_(False)
        self.val_memory = dict(val_memory or {"policy": "unbounded", "capacity": None, "temp_size": 0})
        self.val_inference = dict(val_inference or {})
        self._val_sums: List[float] = []
        self.start_step = 0

    def _frozen_batchnorms(self) -> List[nn.BatchNorm2d]:
        """The BatchNorm layers whose running statistics stay fixed."""
        if self.freeze_bn:
            frozen = self.net
        elif self.freeze_key_encoder:
            frozen = self.net.key_encoder
        else:
            return []
        return [m for m in frozen.modules() if isinstance(m, nn.BatchNorm2d)]

    def on_train_start(self) -> None:
        self.start_step = self.global_step  # > 0 when resumed

    def on_train_batch_start(self, batch: Dict[str, Tensor], batch_idx: int) -> None:
        """Frozen BatchNorm layers into eval mode before every batch (Lightning sets the modules' modes itself,
        at fit start and after validation)."""
        for module in self._frozen_batchnorms():
            module.eval()

    def training_step(self, batch: Dict[str, Tensor], batch_idx: int) -> Tensor:
        frames, labels, selector = batch["frames"], batch["labels"], batch["selector"]
        outputs = segment_clip(self.net, frames, labels, selector, batch.get("first_masks"))
        total = frames.new_zeros(())
        step = self.global_step
        has_second = selector[:, 1] > 0.5 if selector.shape[1] > 1 else None
        for i, logits in enumerate(outputs, 1):
            loss, p = self.loss(logits.float(), labels[:, i], step, has_second)
            total = total + loss
            predicted = logits.argmax(1)
            self.log(f"train/loss_f{i}", loss, on_step=True, on_epoch=False)
            iou = _iou(predicted == 1, labels[:, i] == 1)
            self.log(f"train/iou_f{i}", iou.mean(), on_step=True, on_epoch=False)
            if has_second is not None and has_second.any():
                second = _iou(predicted[has_second] == 2, labels[has_second, i] == 2)
                self.log(f"train/iou_second_f{i}", second.mean(), on_step=True, on_epoch=False)
        self.log("train/loss", total, on_step=True, on_epoch=False, prog_bar=True)
        self.log("train/bootstrap_p", p, on_step=True, on_epoch=False)
        self.log("train/max_gap", batch["max_gap"].max().float(), on_step=True, on_epoch=False)
        return total

    def configure_optimizers(self):
        params = [p for p in self.net.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(self.hparams.milestones), self.hparams.gamma)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # ------------------------------------------------------------------ validation
    def on_validation_epoch_start(self) -> None:
        self._val_sums = []
        self._segmenter = build_segmenter(self.net, self.val_memory, self.val_inference, self.device,
                                          exact=True)  # the trained network itself, its layout untouched

    def validation_step(self, name: Optional[str], batch_idx: int) -> None:
        if name is None:  # a process with no sequence of its own (see ClipDataModule.val_dataloader)
            return
        dataset = self.trainer.datamodule.val_dataset
        sequence = dataset.sequence(name)
        prediction = SequencePrediction(sequence, self._segmenter, self.val_inference, dataset.shorter_side,
                                        dataset.resize)
        predictions = {index: labels for index, labels in prediction if labels is not None}
        frames = sorted(sequence.mask_paths)  # every frame on DAVIS-style data; the annotated ones on sparse folders
        if len(frames) < 3:  # the first and last scored frames are left out, as in the DAVIS protocol
            log.warning("validation: %s has %d annotated frame(s), too few to score", name, len(frames))
            return
        gt = np.stack([sequence.read_mask(i) for i in frames])
        predicted = np.stack([predictions[i] for i in frames])
        for score in score_sequence(name, gt, predicted, dataset.protocol):
            self._val_sums.append((score.j_mean, score.f_mean))

    def on_validation_epoch_end(self) -> None:
        sums = torch.tensor([sum(j for j, _ in self._val_sums), sum(f for _, f in self._val_sums),
                             float(len(self._val_sums))], device=self.device, dtype=torch.float64)
        sums = self.trainer.strategy.reduce(sums, reduce_op="sum")
        count = max(float(sums[2]), 1.0)
        j, f = float(sums[0]) / count, float(sums[1]) / count
        self.log_dict({"val/J&F": (j + f) / 2, "val/J": j, "val/F": f}, sync_dist=False, rank_zero_only=False)
        del self._segmenter
