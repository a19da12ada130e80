"""Frame preparation: uint8 RGB frames to normalised, padded tensors and back."""

from __future__ import annotations

from typing import Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from stcnbuf.model.normalization import IMAGENET_MEAN, IMAGENET_STD

#: Padding ``(left, right, top, bottom)`` in pixels.
Padding = Tuple[int, int, int, int]


def as_uint8_frame(frame: np.ndarray | Tensor) -> Tensor:
    """Check and convert an ``H×W×3`` uint8 RGB frame (NumPy or torch) to a CPU or device uint8 tensor."""
    if isinstance(frame, np.ndarray):
        frame = np.ascontiguousarray(frame) if frame.flags.writeable else np.array(frame)
    tensor = torch.from_numpy(frame) if isinstance(frame, np.ndarray) else frame
    if not isinstance(tensor, Tensor) or tensor.dtype != torch.uint8 or tensor.ndim != 3 or tensor.shape[2] != 3:
        shape = tuple(getattr(frame, "shape", ()))
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise ValueError(f"a frame must be an H×W×3 uint8 RGB array, got shape {shape} and dtype {dtype}")
    return tensor


def normalize_frame(frame: Tensor, device: torch.device) -> Tensor:
    """``H×W×3`` uint8 -> ``[1, 3, H, W]`` float32 on ``device``, ImageNet-normalised."""
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
