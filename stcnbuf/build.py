"""Build the network, the memory and the segmenters from Hydra configs (``configs/model``, ``memory``,
``inference``)."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from stcnbuf.checkpoint import load_imagenet_backbones, load_network_weights
from stcnbuf.inference.offline import OfflineSegmenter
from stcnbuf.inference.online import OnlineSegmenter
from stcnbuf.memory.bank import MemoryBank
from stcnbuf.model.stcn import STCN


def _config(cfg: Mapping[str, Any] | DictConfig) -> DictConfig:
    return cfg if isinstance(cfg, DictConfig) else OmegaConf.create(dict(cfg))


def build_network(model_cfg: Mapping[str, Any] | DictConfig) -> STCN:
    """The network of ``model_cfg.net``, with ``model_cfg.checkpoint`` loaded, or else the ImageNet backbones."""
    cfg = _config(model_cfg)
    net: STCN = instantiate(cfg.net, _convert_="all")
    if cfg.get("checkpoint"):
        load_network_weights(net, cfg.checkpoint)
    else:
        imagenet = cfg.get("imagenet") or {}
        load_imagenet_backbones(net, imagenet.get("key"), imagenet.get("value"))
    return net


def build_memory(memory_cfg: Mapping[str, Any] | DictConfig, device: str | torch.device = "cpu") -> MemoryBank:
    """The memory bank described by ``memory_cfg`` on ``device``."""
    return instantiate(_config(memory_cfg), device=str(device))


def build_online(net: STCN, memory_cfg, inference_cfg, device: str | torch.device = "cpu") -> OnlineSegmenter:
    """An :class:`OnlineSegmenter` from the memory and inference configs."""
    inf = _config(inference_cfg)
    return OnlineSegmenter(net, build_memory(memory_cfg, device), mem_every=inf.mem_every, top_k=inf.top_k,
                           device=device, precision=inf.get("precision", "fp32"), compile=inf.get("compile", "none"))


def build_offline(net: STCN, memory_cfg, inference_cfg, device: str | torch.device = "cpu") -> OfflineSegmenter:
    """An :class:`OfflineSegmenter` (ordering and burn-in from the inference config)."""
    inf = _config(inference_cfg)
    return OfflineSegmenter(build_online(net, memory_cfg, inf, device), order=inf.get("order", "strided"),
                            burn_in_passes=inf.get("burn_in_passes", 1), seed=inf.get("seed", 0))
