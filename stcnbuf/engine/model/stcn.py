"""The STCN network: key encoding, value encoding and decoding, batched over frames and objects."""

from __future__ import annotations

from typing import Dict, Mapping, Sequence, Tuple

from torch import Tensor, nn

from stcnbuf.engine.model.decoder import Decoder
from stcnbuf.engine.model.encoders import KeyEncoder, ValueEncoder, key_channels


class KeyProjection(nn.Module):
    """3×3 convolution f16 -> key (orthogonal weights, zero bias at initialisation)."""

    def __init__(self, in_channels: int, key_dim: int) -> None:
        super().__init__()
        self.key_proj = nn.Conv2d(in_channels, key_dim, 3, padding=1)
        nn.init.orthogonal_(self.key_proj.weight.data)
        nn.init.zeros_(self.key_proj.bias.data)

    def forward(self, x: Tensor) -> Tensor:
        return self.key_proj(x)


class STCN(nn.Module):
    """Space-Time Correspondence Network (the evaluation network of released checkpoints).

    With the defaults (``key_backbone="resnet50"``, ``key_dim=64``, ``value_dim=512``,
    ``decoder_dims=(512, 256, 256)``, widths 64) the parameter names and shapes equal the released
    ``stcn.pth``. ``key_width`` (ResNet-18 key backbones only) and ``value_width`` set the base width of the
    ResNet-18 trunks.
    """

    def __init__(
        self,
        key_backbone: str = "resnet50",
        key_dim: int = 64,
        value_dim: int = 512,
        decoder_dims: Sequence[int] = (512, 256, 256),
        key_width: int = 64,
        value_width: int = 64,
    ) -> None:
        super().__init__()
        f4_ch, f8_ch, f16_ch = key_channels(key_backbone, key_width)
        self.key_dim = key_dim
        self.value_dim = value_dim
        self.key_encoder = KeyEncoder(key_backbone, key_width)
        self.value_encoder = ValueEncoder(f16_ch, value_dim, value_width)
        self.key_proj = KeyProjection(f16_ch, key_dim)
        self.key_comp = nn.Conv2d(f16_ch, value_dim, 3, padding=1)
        self.decoder = Decoder(value_dim, f8_ch, f4_ch, tuple(decoder_dims))

    def encode_key(self, frames: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """``frames [B,3,H,W]`` (normalised, H and W multiples of 16) ->
        ``(k16 [B,Ck,H/16,W/16], f16_thin [B,Cv,..], f16 [B,C16,..], f8 [B,C8,H/8,W/8], f4 [B,C4,H/4,W/4])``."""
        f16, f8, f4 = self.key_encoder(frames)
        return self.key_proj(f16), self.key_comp(f16), f16, f8, f4

    def encode_value(self, frames: Tensor, f16: Tensor, masks: Tensor) -> Tensor:
        """``frames [B,3,H,W]``, ``f16 [B,C16,h,w]``, ``masks [B,K,H,W]`` (object probabilities)
        -> values ``[B,K,Cv,h,w]``. Each object sees its mask and the sum of the others'."""
        return self.value_encoder(frames, f16, masks)

    def decode(self, readout: Tensor, f16_thin: Tensor, f8: Tensor, f4: Tensor) -> Tensor:
        """``readout [B,K,Cv,h,w]`` -> mask logits ``[B,K,H,W]`` (sigmoid gives each object's probability)."""
        return self.decoder(readout, f16_thin, f8, f4)

    def imagenet_state_dict(self, key_backbone: Mapping[str, Tensor] | None,
                            value_backbone: Mapping[str, Tensor] | None) -> Dict[str, Tensor]:
        """Entries of this network's state dict taken from torchvision ImageNet ResNet state dicts."""
        mapped: Dict[str, Tensor] = {}
        if key_backbone is not None:
            for name, t in self.key_encoder.torchvision_state_dict_mapping(key_backbone).items():
                mapped["key_encoder." + name] = t
        if value_backbone is not None:
            for name, t in self.value_encoder.torchvision_state_dict_mapping(value_backbone).items():
                mapped["value_encoder." + name] = t
        return mapped


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = ["STCN", "KeyProjection", "count_parameters"]
