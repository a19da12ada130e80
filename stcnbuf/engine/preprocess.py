"""Frame preparation: uint8 RGB frames to normalised, padded tensors and back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from stcnbuf.engine.model.normalization import IMAGENET_MEAN, IMAGENET_STD

#: Padding ``(left, right, top, bottom)`` in pixels.
Padding = Tuple[int, int, int, int]


@dataclass(frozen=True, eq=False)
class ResizedFrame:
    """A frame that reaches its working ``size`` ``(H, W)`` as STCN's evaluation brings it there: normalised
    (``ToTensor``, ``Normalize``), then resized as a float image bicubically without antialiasing (torchvision 0.9's
    tensor ``Resize``), on the device that segments it."""

    frame: np.ndarray | Tensor  #: ``H×W×3`` uint8 RGB at the original size
    size: Tuple[int, int]

    def image(self, device: torch.device) -> Tensor:
        """``[1, 3, H, W]`` float32 on ``device``."""
        image = normalize_frame(as_frame(self.frame), device)
        return F.interpolate(image, size=tuple(self.size), mode="bicubic", align_corners=False)


Frame = np.ndarray | Tensor | ResizedFrame


def as_frame(frame: Frame) -> Tensor | ResizedFrame:
    """Check and convert a frame: an ``H×W×3`` uint8 RGB array or tensor (to a tensor), or a
    :class:`ResizedFrame`."""
    if isinstance(frame, ResizedFrame):
        return frame
    if isinstance(frame, np.ndarray):
        frame = np.ascontiguousarray(frame) if frame.flags.writeable else np.array(frame)
    tensor = torch.from_numpy(frame) if isinstance(frame, np.ndarray) else frame
    if not isinstance(tensor, Tensor) or tensor.dtype != torch.uint8 or tensor.ndim != 3 or tensor.shape[2] != 3:
        shape = tuple(getattr(frame, "shape", ()))
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise ValueError(f"a frame must be an H×W×3 uint8 RGB array, got shape {shape} and dtype {dtype}")
    return tensor


def frame_hw(frame: Frame) -> Tuple[int, int]:
    """``(H, W)`` of a frame as the segmenter sees it (a :class:`ResizedFrame`: its working size)."""
    if isinstance(frame, ResizedFrame):
        return int(frame.size[0]), int(frame.size[1])
    return int(frame.shape[0]), int(frame.shape[1])


def normalize_frame(frame: Tensor | ResizedFrame, device: torch.device) -> Tensor:
    """``H×W×3`` uint8 -> ``[1, 3, H, W]`` float32 on ``device``, ImageNet-normalised (torchvision's ``ToTensor``
    and ``Normalize``); a :class:`ResizedFrame` is also resized."""
    if isinstance(frame, ResizedFrame):
        return frame.image(device)
    x = frame.to(device, non_blocking=True).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


def padding_for(height: int, width: int, multiple: int = 16) -> Padding:
    """Padding to the next multiple of ``multiple`` on each axis, split evenly (the odd pixel after)."""
    extra_h = -height % multiple
    extra_w = -width % multiple
    return extra_w // 2, extra_w - extra_w // 2, extra_h // 2, extra_h - extra_h // 2


def pad(x: Tensor, padding: Padding) -> Tensor:
    """Zero-pad the last two axes."""
    return F.pad(x, padding) if any(padding) else x


def unpad(x: Tensor, padding: Padding) -> Tensor:
    """Undo :func:`pad` on the last two axes (a view)."""
    left, right, top, bottom = padding
    return x[..., top: x.shape[-2] - bottom, left: x.shape[-1] - right]
