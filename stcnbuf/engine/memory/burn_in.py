"""How the memory treats the entries that burn-in visits write (``inference=offline``): their weight in reads,
whether a bounded policy replaces them first, and which of their positions can be read."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor


def check_burn_in_settings(weight: float, confidence: float) -> None:
    """Refuse a ``burn_in_weight`` outside (0, 1] and a ``burn_in_confidence`` outside [0, 1)."""
    if not 0 < weight <= 1:
        raise ValueError(f"memory.burn_in_weight must be in (0, 1], got {weight}")
    if not 0 <= confidence < 1:
        raise ValueError(f"memory.burn_in_confidence must be in [0, 1), got {confidence}")


@dataclass(frozen=True)
class BurnInTreatment:
    """The treatment of entries written by burn-in visits (temporary ones included); the defaults treat them
    like any other (``memory.burn_in_weight``, ``memory.burn_in_evict_first``, ``memory.burn_in_confidence``).

    Attributes:
        weight: their weight in a read: ``log(weight)`` is added to their affinity, so their share of the softmax
            is multiplied by it before normalisation, and they are less likely among the top-k (1: like any other).
        evict_first: a bounded policy replaces them before any other entry (``reservoir`` may still discard the
            new frame instead).
        confidence: only the positions of a burn-in frame whose prediction is at least this confident can be
            read, and always its most confident one (0: all); the others keep their slots until the policy
            replaces them.
    """

    weight: float = 1.0
    evict_first: bool = False
    confidence: float = 0.0

    def __post_init__(self) -> None:
        check_burn_in_settings(self.weight, self.confidence)
        object.__setattr__(self, "weight", float(self.weight))
        object.__setattr__(self, "evict_first", bool(self.evict_first))
        object.__setattr__(self, "confidence", float(self.confidence))

    @property
    def active(self) -> bool:
        """Whether burn-in entries are treated apart at all."""
        return self.weight < 1 or self.evict_first or self.needs_confidence

    @property
    def needs_confidence(self) -> bool:
        """Whether :meth:`bias` needs the confidence of a burn-in frame's prediction."""
        return self.confidence > 0

    def bias(self, bias: Tensor, confidence: Optional[Tensor]) -> Tensor:
        """The affinity bias ``[P]`` of a burn-in frame's rows: ``log(weight)`` added, ``-inf`` where the frame's
        prediction is less confident than ``confidence`` (``confidence``: ``[h, w]``, 0..1, needed then)."""
        if self.weight < 1:
            bias = bias + math.log(self.weight)
        if self.needs_confidence:
            if confidence is None:
                raise ValueError("memory.burn_in_confidence needs the confidence of a burn-in frame's prediction")
            confidence = confidence.reshape(-1).to(bias.device)
            unsure = confidence < self.confidence
            unsure[torch.argmax(confidence)] = False   # every frame stays readable somewhere: no read of only -inf
            bias = bias.masked_fill(unsure, -math.inf)
        return bias
