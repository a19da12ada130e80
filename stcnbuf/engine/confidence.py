"""How much to trust each object's mask in a frame, from the probabilities the network produced for it.

The confidence of object ``k`` is the intersection over union of its soft mask ``p_k`` (its probability at each
pixel after soft aggregation) with its hard mask ``M_k`` (the pixels where ``k`` is the most likely label)::

    confidence_k = sum_{M_k} p_k / (|M_k| + sum_{not M_k} p_k)

It is 1 when the network is certain of every pixel it gives the object and gives it no probability elsewhere; it
falls when the mask's pixels are doubtful (``p_k`` near the other labels') and when probability mass lies outside
the mask (the object is seen in several places, or is fading out); an object with no pixel scores 0. With calibrated
probabilities it would approximate the IoU the network expects of its own mask; how well it separates bad frames
is measured in ``docs/confidence.md``.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor


def object_confidence(probs: Tensor, best: Optional[Tensor] = None) -> Tensor:
    """The confidence of each object of ``probs`` ``[K+1, H, W]`` (channel 0 the background): ``[K]`` float32 in
    [0, 1], on the device of ``probs``. ``best``: the ``[H, W]`` most likely channel of each pixel, if known
    (default ``probs.argmax(0)``)."""
    if probs.ndim != 3 or probs.shape[0] < 1:
        raise ValueError(f"probabilities must be [K+1, H, W], got shape {tuple(probs.shape)}")
    probs = probs.float()
    best = (probs.argmax(0) if best is None else best).reshape(-1)
    channels = probs.shape[0]
    winning = probs.reshape(channels, -1).gather(0, best[None])[0]  # each pixel's probability of its label
    inside = torch.zeros(channels, device=probs.device).scatter_add_(0, best, winning)
    area = torch.bincount(best, minlength=channels).float()
    union = area + probs.sum((1, 2)) - inside
    confidence = torch.where(union > 0, inside / union.clamp_min(1e-12), torch.zeros_like(union))
    return confidence[1:].clamp(0.0, 1.0)
