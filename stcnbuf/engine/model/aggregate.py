"""Soft aggregation of independent per-object probabilities into a distribution with background."""

from __future__ import annotations

import torch
from torch import Tensor


def aggregate_logits(probs: Tensor, dim: int = 0) -> Tensor:
    """Logits over ``[background, object 1..K]`` from per-object probabilities along ``dim``.

    Background is the product of ``1 - p_k``; probabilities are clamped to ``[1e-7, 1 - 1e-7]``.
    """
    background = torch.prod(1 - probs, dim=dim, keepdim=True)
    p = torch.cat([background, probs], dim=dim).clamp(1e-7, 1 - 1e-7)
    return torch.log(p / (1 - p))


def aggregate(probs: Tensor, dim: int = 0) -> Tensor:
    """Softmax of :func:`aggregate_logits`: ``K`` object channels in, ``K + 1`` channels out."""
    return torch.softmax(aggregate_logits(probs, dim), dim=dim)
