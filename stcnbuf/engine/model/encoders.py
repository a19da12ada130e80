"""Key encoder (ResNet-50 or ResNet-18 up to layer 3) and value encoder (ResNet-18 with mask channels + fusion).

ResNet-18 trunks take a base ``width`` (64 in torchvision's ResNet-18 and in released checkpoints); a
narrower trunk (e.g. 32) makes a network small enough to train on a CPU.
"""

from __future__ import annotations

from typing import Dict, Mapping, Tuple

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from stcnbuf.engine.model.blocks import CBAM, ResBlock

KEY_BACKBONES = ("resnet50", "resnet18")


def key_channels(backbone: str, width: int = 64) -> Tuple[int, int, int]:
    """Widths ``(f4, f8, f16)`` of a key backbone."""
    if backbone == "resnet50":
        return 256, 512, 1024
    if backbone == "resnet18":
        return width, 2 * width, 4 * width
    raise ValueError(f"unknown key backbone {backbone!r}; choose one of {', '.join(KEY_BACKBONES)}")


class BasicBlock(nn.Module):
    """ResNet basic block (torchvision's parameter names); STCN's value encoder gives its convolutions biases."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, bias: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=bias)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=bias)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=bias),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def _make_layer(in_channels: int, out_channels: int, stride: int, bias: bool) -> nn.Sequential:
    return nn.Sequential(BasicBlock(in_channels, out_channels, stride, bias), BasicBlock(out_channels, out_channels, 1, bias))


class KeyEncoder(nn.Module):
    """ResNet stem and layers 1-3; returns (f16, f8, f4) at strides 16, 8, 4.

    Layer 1 is named ``res2`` as in the released STCN checkpoints.
    """

    def __init__(self, backbone: str = "resnet50", width: int = 64) -> None:
        super().__init__()
        key_channels(backbone, width)  # validates the name
        if backbone == "resnet50":
            resnet = torchvision.models.resnet50(weights=None)
            self.conv1, self.bn1, self.maxpool = resnet.conv1, resnet.bn1, resnet.maxpool
            self.res2, self.layer2, self.layer3 = resnet.layer1, resnet.layer2, resnet.layer3
        else:
            self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            self.res2 = _make_layer(width, width, 1, bias=False)
            self.layer2 = _make_layer(width, 2 * width, 2, bias=False)
            self.layer3 = _make_layer(2 * width, 4 * width, 2, bias=False)
        self.relu = nn.ReLU(inplace=True)

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
            if target in own and own[target].shape == tensor.shape:
                mapped[target] = tensor
        return mapped


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

    def __init__(self, key_f16_channels: int = 1024, value_dim: int = 512, width: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(5, width, 7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = _make_layer(width, width, 1, bias=True)
        self.layer2 = _make_layer(width, 2 * width, 2, bias=True)
        self.layer3 = _make_layer(2 * width, 4 * width, 2, bias=True)
        self.fuser = FeatureFusionBlock(4 * width + key_f16_channels, value_dim)

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

        The RGB filters of ``conv1`` are copied and each mask channel starts from its own orthogonal
        initialisation (STCN's ``load_weights_sequential``, drawn from torch's seeded generator; a single-object
        stage 0 and the channel STCN adds before stage 3 each get one); convolution biases, which torchvision's
        ResNet lacks, start at zero. The fusion block keeps its own initialisation.
        """
        own = self.state_dict()
        mapped: Dict[str, Tensor] = {}
        for name, tensor in own.items():
            if name.startswith("fuser."):
                continue
            if name == "conv1.weight" and state.get(name) is not None and state[name].shape[0] == tensor.shape[0]:
                weight = torch.zeros_like(tensor)
                weight[:, :3] = state["conv1.weight"]
                for channel in range(3, weight.shape[1]):
                    torch.nn.init.orthogonal_(weight[:, channel:channel + 1])
                mapped[name] = weight
            elif name in state and state[name].shape == tensor.shape:
                mapped[name] = state[name]
            elif name.endswith(".bias") and name.replace(".bias", ".weight") in state:
                mapped[name] = torch.zeros_like(tensor)
        return mapped
