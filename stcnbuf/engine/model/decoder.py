"""Decoder: readout + query features -> per-object mask logits at full resolution."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from stcnbuf.engine.model.blocks import ResBlock


class UpsampleBlock(nn.Module):
    """Upsample ×2 and add a 3×3 convolution of the (object-independent) skip features, then a ResBlock."""

    def __init__(self, skip_channels: int, up_channels: int, out_channels: int) -> None:
        super().__init__()
        self.skip_conv = nn.Conv2d(skip_channels, up_channels, 3, padding=1)
        self.out_conv = ResBlock(up_channels, out_channels)

    def forward(self, skip: Tensor, up: Tensor, num_objects: int) -> Tensor:
        """``skip [B,Cs,2h,2w]`` is shared by the K objects; ``up [B*K,Cu,h,w]`` is per object."""
        s = self.skip_conv(skip)
        u = F.interpolate(up, scale_factor=2.0, mode="bilinear", align_corners=False)
        x = u.view(s.shape[0], num_objects, u.shape[1], u.shape[2], u.shape[3]).add_(s.unsqueeze(1))
        return self.out_conv.forward_consuming(x.flatten(0, 1))


class Decoder(nn.Module):
    """ResBlock on [readout, f16_thin], two upsampling stages with f8 and f4, a 3×3 prediction conv."""

    def __init__(self, value_dim: int, f8_channels: int, f4_channels: int, dims: tuple = (512, 256, 256)) -> None:
        super().__init__()
        d16, d8, d4 = dims
        self.compress = ResBlock(2 * value_dim, d16)
        self.up_16_8 = UpsampleBlock(f8_channels, d16, d8)
        self.up_8_4 = UpsampleBlock(f4_channels, d8, d4)
        self.pred = nn.Conv2d(d4, 1, 3, padding=1)

    def forward(self, readout: Tensor, f16_thin: Tensor, f8: Tensor, f4: Tensor) -> Tensor:
        """``readout [B,K,Cv,h,w]``, ``f16_thin [B,Cv,h,w]``, ``f8``, ``f4`` -> logits ``[B,K,16h,16w]``."""
        b, k = readout.shape[0], readout.shape[1]
        x = self.compress.forward_concat(readout.flatten(0, 1), f16_thin, k)
        x = self.up_16_8(f8, x, k)
        x = self.up_8_4(f4, x, k)
        x = self.pred(F.relu(x))
        x = F.interpolate(x, scale_factor=4.0, mode="bilinear", align_corners=False)
        return x.view(b, k, x.shape[2], x.shape[3])
