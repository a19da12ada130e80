"""The network a segmenter runs: BatchNorm folded into convolutions, low-precision weights, memory layout.

Folding and casting change weights, so they act on a copy: the caller's network (a training run's, a
checkpoint's) keeps its parameters, names and dtype, and stays loadable and exportable as it was.
"""

from __future__ import annotations

import copy
from typing import List, Optional, Tuple

import torch
from torch import nn


def foldable_pairs(net: nn.Module) -> List[Tuple[nn.Module, str, str]]:
    """``(parent, conv name, batch-norm name)`` of every eval-mode ``BatchNorm2d`` that directly follows a
    ``Conv2d``: sibling attributes ``convN`` / ``bnN`` (ResNet blocks and stems) or neighbours in a
    ``Sequential`` (ResNet downsample paths)."""
    pairs = []
    for parent in net.modules():
        children = dict(parent.named_children())
        for name, child in children.items():
            if isinstance(child, nn.BatchNorm2d) and name.startswith("bn"):
                conv = "conv" + name[2:]
                if isinstance(children.get(conv), nn.Conv2d):
                    pairs.append((parent, conv, name))
        if isinstance(parent, nn.Sequential):
            names = list(children)
            for first, second in zip(names, names[1:]):
                if isinstance(children[first], nn.Conv2d) and isinstance(children[second], nn.BatchNorm2d):
                    pairs.append((parent, first, second))
    return pairs


@torch.no_grad()
def fold_batchnorm(net: nn.Module) -> nn.Module:
    """Fold every foldable eval-mode BatchNorm into its convolution, in place (the BatchNorm becomes
    ``Identity``); ``bn(conv(x))`` then costs one convolution. Returns ``net``."""
    for parent, conv_name, bn_name in foldable_pairs(net):
        conv, bn = getattr(parent, conv_name), getattr(parent, bn_name)
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        conv.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias, requires_grad=False)
        if isinstance(parent, nn.Sequential):
            parent[int(bn_name)] = nn.Identity()
        else:
            setattr(parent, bn_name, nn.Identity())
    return net


def inference_network(net: nn.Module, device: torch.device, channels_last: bool = True,
                      fold: bool = True, weight_dtype: Optional[torch.dtype] = None) -> nn.Module:
    """``net`` ready for inference on ``device``, in eval mode.

    Args:
        net: the network (left unchanged when its weights must change; a copy is made then). A network
            that is not a torch module (e.g. :class:`~stcnbuf.apps.export.onnx.OnnxNetwork`) is only moved.
        channels_last: convolutions in the channels-last layout (converts the network in place).
        fold: fold BatchNorm into the preceding convolutions.
        weight_dtype: store floating-point weights in this dtype (e.g. ``torch.bfloat16`` for bf16 autocast,
            so that weights are not cast again on every frame); None keeps them.
    """
    net = net.eval()
    if not isinstance(net, nn.Module):  # a network of another runtime (ONNX) has its own weights
        return net.to(device)
    recast = weight_dtype is not None and any(p.is_floating_point() and p.dtype != weight_dtype
                                              for p in net.parameters())
    if (fold and foldable_pairs(net)) or recast:
        net = copy.deepcopy(net)
        if fold:
            fold_batchnorm(net)
        if recast:
            net = net.to(weight_dtype)
    net = net.to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net
