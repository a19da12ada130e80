"""Key encoder (ResNet-50 or -18 up to layer 3) and value encoder (ResNet-18 with mask channels + fusion)."""

from __future__ import annotations

from typing import Dict, Mapping, Tuple

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from stcnbuf.model.blocks import CBAM, ResBlock

#: Output widths (f4, f8, f16) of the supported key backbones.
KEY_BACKBONE_CHANNELS: Dict[str, Tuple[int, int, int]] = {
    "resnet50": (256, 512, 1024),
    "resnet18": (64, 128, 256),
}
#: Width of the value encoder's layer 3 output (ResNet-18).
VALUE_BACKBONE_CHANNELS = 256


class KeyEncoder(nn.Module):
    """torchvision ResNet stem and layers 1-3; returns (f16, f8, f4) at strides 16, 8, 4.

    Layer 1 is named ``res2`` as in the released STCN checkpoints.
    """

    def __init__(self, backbone: str = "resnet50") -> None:
        super().__init__()
        if backbone not in KEY_BACKBONE_CHANNELS:
            raise ValueError(f"unknown key backbone {backbone!r}; choose one of {sorted(KEY_BACKBONE_CHANNELS)}")
        resnet = getattr(torchvision.models, backbone)(weights=None)
        self.conv1 = resnet.conv1
        self.bn1 = resnet.bn1
        self.relu = resnet.relu
        self.maxpool = resnet.maxpool
        self.res2 = resnet.layer1
        self.layer2 = resnet.layer2
        self.layer3 = resnet.layer3

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        f4 = self.res2(x)
        f8 = self.layer2(f4)
        f16 = self.layer3(f8)
        return f16, f8, f4

    def torchvision_state_dict_mapping(self, state: Mapping[str, Tensor]) -> Dict[str, Tensor]:
        """Map an ImageNet state dict of the torchvision ResNet onto this encoder's parameter names."""
        own = self.state_dict()
        mapped: Dict[str, Tensor] = {}
        for name, tensor in state.items():
            target = "res2." + name[len("layer1."):] if name.startswith("layer1.") else name
            if target in own:
                mapped[target] = tensor
        return mapped


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)


class BasicBlock(nn.Module):
    """ResNet basic block whose convolutions carry biases (the layout of STCN's value encoder)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def _make_layer(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(in_channels, out_channels, stride), BasicBlock(out_channels, out_channels))


class FeatureFusionBlock(nn.Module):
    """Fuses per-object value features with the frame's key features: ResBlock, CBAM (added), ResBlock."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.block1 = ResBlock(in_channels, out_channels)
        self.attention = CBAM(out_channels)
        self.block2 = ResBlock(out_channels, out_channels)

    def forward(self, x: Tensor, key_f16: Tensor, num_objects: int) -> Tensor:
        """``x``: ``[B*K, Cv, h, w]`` per object; ``key_f16``: ``[B, C16, h, w]`` shared by the K objects."""
        x = self.block1.forward_concat(x, key_f16, num_objects)
        x = x + self.attention(x)
        return self.block2(x)


class ValueEncoder(nn.Module):
    """ResNet-18 (layers 1-3) over RGB + this object's mask + the other objects' masks, fused with f16."""

    def __init__(self, key_f16_channels: int = 1024, value_dim: int = 512) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(5, 64, 7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = _make_layer(64, 64, 1)
        self.layer2 = _make_layer(64, 128, 2)
        self.layer3 = _make_layer(128, VALUE_BACKBONE_CHANNELS, 2)
        self.fuser = FeatureFusionBlock(VALUE_BACKBONE_CHANNELS + key_f16_channels, value_dim)

    def forward(self, image: Tensor, key_f16: Tensor, masks: Tensor) -> Tensor:
        """``image [B,3,H,W]``, ``key_f16 [B,C16,H/16,W/16]``, ``masks [B,K,H,W]`` -> ``[B,K,Cv,H/16,W/16]``."""
        b, k = masks.shape[0], masks.shape[1]
        others = masks.sum(dim=1, keepdim=True) - masks
        mask_channels = torch.stack([masks, others], dim=2).flatten(0, 1)
        # The first convolution is linear in its input: the RGB half is computed once per frame.
        weight = self.conv1.weight
        x = F.conv2d(mask_channels, weight[:, 3:], None, 2, 3)
        rgb = F.conv2d(image, weight[:, :3], self.conv1.bias, 2, 3)
        x = (x.view(b, k, x.shape[1], x.shape[2], x.shape[3]) + rgb.unsqueeze(1)).flatten(0, 1)
        x = self.maxpool(self.relu(self.bn1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = self.fuser(x, key_f16, k)
        return x.view(b, k, x.shape[1], x.shape[2], x.shape[3])

    def torchvision_state_dict_mapping(self, state: Mapping[str, Tensor]) -> Dict[str, Tensor]:
        """Map a torchvision ResNet-18 ImageNet state dict onto this encoder.

        The RGB filters of ``conv1`` are copied and the two mask channels start at zero; convolution biases,
        which torchvision's ResNet lacks, start at zero. The fusion block keeps its own initialisation.
        """
        own = self.state_dict()
        mapped: Dict[str, Tensor] = {}
        for name, tensor in own.items():
            if name.startswith("fuser."):
                continue
            if name == "conv1.weight":
                weight = torch.zeros_like(tensor)
                weight[:, :3] = state["conv1.weight"]
                mapped[name] = weight
            elif name in state and state[name].shape == tensor.shape:
                mapped[name] = state[name]
            elif name.endswith(".bias") and name.replace(".bias", ".weight") in state:
                mapped[name] = torch.zeros_like(tensor)
        return mapped
