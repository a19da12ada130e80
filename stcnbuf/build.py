"""Build the network, the memory and the segmenters from Hydra configs (``configs/model``, ``memory``,
``inference``)."""

from __future__ import annotations

from typing import Any, Mapping

import logging

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from stcnbuf.checkpoint import architecture_of, load_imagenet_backbones, load_state, read_network_state
from stcnbuf.inference.offline import OfflineSegmenter
from stcnbuf.inference.online import OnlineSegmenter
from stcnbuf.memory.bank import MemoryBank
from stcnbuf.model.stcn import STCN

log = logging.getLogger(__name__)


def _config(cfg: Mapping[str, Any] | DictConfig) -> DictConfig:
    return cfg if isinstance(cfg, DictConfig) else OmegaConf.create(dict(cfg))


def build_network(model_cfg: Mapping[str, Any] | DictConfig) -> STCN:
    """The network of ``model_cfg.net`` with the ImageNet backbones, or the one in ``model_cfg.checkpoint``.

    With a checkpoint, the architecture is read off the file (a small-model checkpoint needs no
    ``model=stcn_small``).
    """
    cfg = _config(model_cfg)
    if cfg.get("checkpoint"):
        state = read_network_state(cfg.checkpoint)
        arch = architecture_of(state, cfg.checkpoint)
        configured = {k: cfg.net.get(k) for k in arch}
        configured["decoder_dims"] = list(configured["decoder_dims"] or [])
        if configured != arch:
            log.info("architecture taken from %s: %s", cfg.checkpoint, arch)
        return load_state(STCN(**arch), state, cfg.checkpoint)
    net = instantiate(cfg.net, _convert_="all")
    imagenet = cfg.get("imagenet") or {}
    return load_imagenet_backbones(net, imagenet.get("key"), imagenet.get("value"))


def build_memory(memory_cfg: Mapping[str, Any] | DictConfig, device: str | torch.device = "cpu") -> MemoryBank:
    """The memory bank described by ``memory_cfg`` on ``device``."""
    return instantiate(_config(memory_cfg), device=str(device))


def build_online(net: STCN, memory_cfg, inference_cfg, device: str | torch.device = "cpu") -> OnlineSegmenter:
    """An :class:`OnlineSegmenter` from the memory and inference configs."""
    inf = _config(inference_cfg)
    return OnlineSegmenter(net, build_memory(memory_cfg, device), mem_every=inf.mem_every, top_k=inf.top_k,
                           device=device, precision=inf.get("precision", "fp32"), compile=inf.get("compile", "none"),
                           channels_last=inf.get("channels_last", True))


def build_offline(net: STCN, memory_cfg, inference_cfg, device: str | torch.device = "cpu") -> OfflineSegmenter:
    """An :class:`OfflineSegmenter` (ordering and burn-in from the inference config)."""
    inf = _config(inference_cfg)
    return OfflineSegmenter(build_online(net, memory_cfg, inf, device), order=inf.get("order", "strided"),
                            burn_in_passes=inf.get("burn_in_passes", 1), seed=inf.get("seed", 0))
