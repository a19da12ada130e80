"""The result of segmenting one frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from stcnbuf.engine.confidence import object_confidence


def channel_argmax(probs: Tensor) -> Tensor:
    """``probs.argmax(0)`` of ``[C, H, W]`` (the first channel on ties), through a channels-last copy: a
    reduction over a few strided channels is several times slower than over contiguous ones."""
    return probs.permute(1, 2, 0).contiguous().argmax(-1)


@dataclass
class Prediction:
    """Segmentation of one frame at the input resolution.

    Attributes:
        frame_index: index of the frame in the video.
        object_ids: ids of the objects, in channel order.
        probs: ``[K+1, H, W]`` probabilities of background (channel 0) and each object; they sum to 1.
        labels: ``[H, W]`` int64 label map holding object ids (0 = background).
    """

    frame_index: int
    object_ids: List[int]
    probs: Tensor
    labels: Tensor
    _confidence: Optional[Dict[int, float]] = field(default=None, init=False, repr=False, compare=False)
    _channels: Optional[Tensor] = field(default=None, init=False, repr=False, compare=False)  # argmax over probs

    @classmethod
    def from_probs(cls, frame_index: int, object_ids: List[int], probs: Tensor) -> "Prediction":
        lookup = torch.tensor([0, *object_ids], dtype=torch.long, device=probs.device)
        channels = channel_argmax(probs)
        prediction = cls(frame_index, list(object_ids), probs, lookup[channels])
        prediction._channels = channels
        return prediction

    def labels_at(self, size: Tuple[int, int]) -> np.ndarray:
        """The label map at ``size`` ``(H, W)``: probabilities are resized bilinearly before the arg-max (as STCN
        does when it writes results at the original resolution)."""
        if tuple(self.labels.shape) == tuple(size):
            return self.label_map()
        probs = F.interpolate(self.probs[None], size=tuple(size), mode="bilinear", align_corners=False)[0]
        return Prediction.from_probs(self.frame_index, self.object_ids, probs).label_map()

    def label_map(self) -> np.ndarray:
        """The label map as a NumPy array (uint8 when ids fit, else int32)."""
        labels = self.labels.cpu().numpy()
        return labels.astype(np.uint8 if labels.max(initial=0) < 256 else np.int32)

    def confidence(self) -> Dict[int, float]:
        """Each object's confidence in [0, 1] (:func:`~stcnbuf.engine.confidence.object_confidence`), by id;
        computed once, on the first call, from these probabilities."""
        if self._confidence is None:
            channels = self._channels if self._channels is not None else channel_argmax(self.probs)
            values = object_confidence(self.probs, channels).tolist()
            self._confidence = {i: float(v) for i, v in zip(self.object_ids, values)}
        return dict(self._confidence)

    def mask(self, object_id: int) -> Tensor:
        """Binary mask of one object."""
        return self.labels == object_id
