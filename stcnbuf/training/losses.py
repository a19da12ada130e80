"""STCN's bootstrapped cross-entropy, computed clip by clip as STCN's ``LossComputer`` does."""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class BootstrappedCE(nn.Module):
    """Cross-entropy over (background, object 1, object 2) that, after a warm-up, averages only the hardest
    fraction ``p`` of pixels: plain CE until ``start_warm``, then ``p`` falls linearly from 1 to ``top_p`` at
    ``end_warm`` (STCN: 20K, 70K, 0.15).

    As in STCN (``model/losses.py``), the loss is taken **per clip** and averaged over the batch: each clip's
    hardest ``p`` of its own pixels count, and a clip without a second object is scored on its first two
    channels only (background and the target).
    """

    def __init__(self, start_warm: int = 20_000, end_warm: int = 70_000, top_p: float = 0.15) -> None:
        super().__init__()
        if not 0 < top_p <= 1 or end_warm < start_warm:
            raise ValueError(f"need 0 < top_p <= 1 and end_warm >= start_warm, got {top_p}, {start_warm}, {end_warm}")
        self.start_warm, self.end_warm, self.top_p = start_warm, end_warm, top_p

    def fraction(self, step: int) -> float:
        """The fraction ``p`` of pixels kept at ``step``."""
        if step < self.start_warm:
            return 1.0
        if step >= self.end_warm:
            return self.top_p
        progress = (step - self.start_warm) / max(1, self.end_warm - self.start_warm)
        return self.top_p + (1 - self.top_p) * (1 - progress)

    def clip_loss(self, logits: Tensor, target: Tensor, p: float) -> Tensor:
        """One clip's loss: ``logits [1,C,H,W]``, ``target [1,H,W]``; the mean of its hardest ``p`` pixels."""
        if p >= 1.0:
            return F.cross_entropy(logits, target)
        raw = F.cross_entropy(logits, target, reduction="none").flatten()
        hardest, _ = torch.topk(raw, max(1, int(raw.numel() * p)), sorted=False)
        return hardest.mean()

    def forward(self, logits: Tensor, target: Tensor, step: int,
                has_second: Optional[Tensor] = None) -> Tuple[Tensor, float]:
        """``logits [B,C,H,W]``, ``target [B,H,W]``, ``has_second [B]`` (default: every clip has all ``C - 1``
        objects) -> (the mean over clips of each clip's loss, p)."""
        p = self.fraction(step)
        b = logits.shape[0]
        total = logits.new_zeros(())
        for j in range(b):
            channels = logits.shape[1] if has_second is None or bool(has_second[j]) else 2
            total = total + self.clip_loss(logits[j:j + 1, :channels], target[j:j + 1], p) / b
        return total, p
