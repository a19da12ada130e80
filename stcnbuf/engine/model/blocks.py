"""Building blocks shared by the encoders and the decoder (pre-activation ResBlock, CBAM)."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ResBlock(nn.Module):
    """Pre-activation residual block: ``x + conv2(relu(conv1(relu(x))))``.

    A 3x3 convolution projects the skip path when the widths differ.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.downsample: Optional[nn.Conv2d] = (
            nn.Conv2d(in_channels, out_channels, 3, padding=1) if in_channels != out_channels else None
        )
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        r = self.conv2(F.relu(self.conv1(F.relu(x)), inplace=True))
        if self.downsample is not None:
            x = self.downsample(x)
        return r.add_(x)

    def forward_consuming(self, x: Tensor) -> Tensor:
        """:meth:`forward` for an ``x`` the caller no longer needs (inference): with a projected skip path,
        ``x`` is rectified in place instead of copied."""
        if self.downsample is None or torch.is_grad_enabled():
            return self.forward(x)
        skip = self.downsample(x)
        r = self.conv2(F.relu(self.conv1(F.relu(x, inplace=True)), inplace=True))
        return r.add_(skip)

    def forward_concat(self, x: Tensor, shared: Tensor, num_objects: int) -> Tensor:
        """Apply the block to ``cat([x, shared], 1)`` without repeating the shared half.

        ``x`` is ``[B*K, Ca, h, w]`` (one entry per object), ``shared`` is ``[B, Cb, h, w]`` and is the
        same for the K objects of a sample. Convolutions are linear, so the shared half's contribution is
        computed once per sample and broadcast: same result as the plain block, less work for K > 1.
        """
        split = x.shape[1]
        r = _split_conv(self.conv1.weight, self.conv1.bias, F.relu(x), F.relu(shared), split, num_objects)
        r = self.conv2(F.relu(r, inplace=True))
        if self.downsample is not None:
            skip = _split_conv(self.downsample.weight, self.downsample.bias, x, shared, split, num_objects)
        else:
            skip = torch.cat([x, _repeat_objects(shared, num_objects)], 1)
        return r.add_(skip)


def _repeat_objects(shared: Tensor, num_objects: int) -> Tensor:
    """``[B, C, h, w]`` -> ``[B*K, C, h, w]``, each sample repeated for its K objects."""
    return shared.repeat_interleave(num_objects, dim=0)


def _split_conv(weight: Tensor, bias: Optional[Tensor], x: Tensor, shared: Tensor, split: int,
                num_objects: int) -> Tensor:
    """3×3 ``conv(cat([x, repeat(shared)], 1))`` computed as per-object part + broadcast shared part."""
    per_object = F.conv2d(x, weight[:, :split], None, 1, 1)
    common = F.conv2d(shared, weight[:, split:], bias, 1, 1)
    b = shared.shape[0]
    out = per_object.view(b, num_objects, per_object.shape[1], per_object.shape[2], per_object.shape[3])
    return out.add_(common.unsqueeze(1)).flatten(0, 1)


class BasicConv(nn.Module):
    """A convolution with bias, wrapped so parameter names match the original CBAM (``spatial.conv``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class ChannelGate(nn.Module):
    """CBAM channel attention: a shared MLP over average- and max-pooled features."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels, channels // reduction),
            nn.ReLU(),
            nn.Linear(channels // reduction, channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        avg = self.mlp(F.adaptive_avg_pool2d(x, 1))
        mx = self.mlp(F.adaptive_max_pool2d(x, 1))
        scale = torch.sigmoid(avg + mx)
        return x * scale[:, :, None, None]


class SpatialGate(nn.Module):
    """CBAM spatial attention: a 7x7 convolution over the channel-wise max and mean."""

    def __init__(self) -> None:
        super().__init__()
        self.spatial = BasicConv(2, 1, 7)

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], 1)
        return x * torch.sigmoid(self.spatial(pooled))


class CBAM(nn.Module):
    """Convolutional block attention module (channel gate, then spatial gate)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.ChannelGate = ChannelGate(channels, reduction)
        self.SpatialGate = SpatialGate()

    def forward(self, x: Tensor) -> Tensor:
        return self.SpatialGate(self.ChannelGate(x))
