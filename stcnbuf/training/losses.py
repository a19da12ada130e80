"""STCN's bootstrapped cross-entropy."""

from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class BootstrappedCE(nn.Module):
    """Cross-entropy over (background, object 1, object 2) that, after a warm-up, averages only the hardest
    fraction ``p`` of pixels: plain CE until ``start_warm``, then ``p`` falls linearly from 1 to ``top_p`` at
    ``end_warm`` (STCN: 20K, 70K, 0.15)."""

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

    def forward(self, logits: Tensor, target: Tensor, step: int) -> Tuple[Tensor, float]:
        """``logits [B,C,H,W]``, ``target [B,H,W]`` -> (loss, p)."""
        p = self.fraction(step)
        if p >= 1.0:
            return F.cross_entropy(logits, target), 1.0
        raw = F.cross_entropy(logits, target, reduction="none").flatten()
        hardest, _ = torch.topk(raw, max(1, int(raw.numel() * p)), sorted=False)
        return hardest.mean(), p
