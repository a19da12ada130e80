"""Build what a run needs from Hydra configs (``configs/model``, ``memory``, ``inference``): the device, the
network, the memory, the segmenter and the plan of a video."""

from __future__ import annotations

import logging
from typing import Any, Mapping, Optional, Sequence

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from stcnbuf.engine.checkpoint import architecture_of, load_imagenet_backbones, load_state, read_network_state
from stcnbuf.engine.allocator import keep_freed_memory
from stcnbuf.engine.segmenter import Segmenter
from stcnbuf.engine.plan import Plan, offline_plan, stream_plan
from stcnbuf.engine.memory.bank import MemoryBank
from stcnbuf.engine.model.stcn import STCN

log = logging.getLogger(__name__)
MODES = ("online", "offline")


def _config(cfg: Mapping[str, Any] | DictConfig) -> DictConfig:
    return cfg if isinstance(cfg, DictConfig) else OmegaConf.create(dict(cfg))


def resolve_device(name: str | torch.device) -> torch.device:
    """The device ``name``, refused with the fix when it is not there."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda requested but CUDA is not available; use device=cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("device=mps requested but MPS (Apple silicon, macOS 12.3+) is not available; use "
                           "device=cpu")
    return device


def build_network(model_cfg: Mapping[str, Any] | DictConfig, for_training: bool = False) -> STCN:
    """The network of ``model_cfg.net`` with the ImageNet backbones, or the one in ``model_cfg.checkpoint``.

    With a checkpoint, the architecture is read off the file (a small-model checkpoint needs no
    ``model=stcn_small``). A stage-0 file's 5th value-encoder channel is zero for inference and, ``for_training``,
    orthogonally initialised as STCN's ``load_network`` does (``model.stage0_channel`` overrides both).
    """
    cfg = _config(model_cfg)
    if cfg.get("checkpoint"):
        fifth = cfg.get("stage0_channel") or ("orthogonal" if for_training else "zeros")
        state = read_network_state(cfg.checkpoint, fifth)
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
    """The memory bank described by ``memory_cfg`` (``configs/memory``, with or without ``_target_``)."""
    cfg = _config(memory_cfg)
    if "_target_" in cfg:
        return instantiate(cfg, device=str(device))
    return MemoryBank(**OmegaConf.to_container(cfg, resolve=True), device=str(device))


def build_segmenter(net: STCN, memory_cfg, inference_cfg, device: str | torch.device = "cpu",
                    exact: bool = False) -> Segmenter:
    """The :class:`Segmenter` of the memory and inference configs (every mode runs on one; the mode
    decides the plan, :func:`build_plan`). ``exact`` runs ``net`` itself as it is (channels-first, BatchNorm
    unfolded: no copy, its layout untouched), whatever the config says. On the CPU, ``inference.keep_freed_memory``
    (default true) applies :func:`~stcnbuf.engine.allocator.keep_freed_memory` to the process."""
    inf = _config(inference_cfg)
    if not exact and torch.device(device).type == "cpu" and inf.get("keep_freed_memory", True):
        keep_freed_memory()
    memory = build_memory(memory_cfg, device)
    burns_in = inf.get("mode", "online") == "offline" and int(inf.get("burn_in_passes", 1)) > 0
    if not burns_in and (memory.burn_in_weight < 1 or memory.burn_in_evict_first or memory.burn_in_confidence > 0):
        log.warning("memory.burn_in_* act only on burn-in visits (inference=offline with burn_in_passes > 0); "
                    "this run has none")
    return Segmenter(net, memory, mem_every=inf.get("mem_every", 5),
                           top_k=inf.get("top_k", 20), device=device, precision=inf.get("precision", "fp32"),
                           compile=inf.get("compile", "none"),
                           channels_last=not exact and bool(inf.get("channels_last", True)),
                           fold_batchnorm=not exact and bool(inf.get("fold_batchnorm", True)))


def frame_cache_mb(inference_cfg) -> float:
    """``inference.frame_cache_mb``: memory for working-size frames kept between the passes of a plan."""
    return float(_config(inference_cfg).get("frame_cache_mb") or 0)


def build_plan(inference_cfg, segmenter: Segmenter, num_frames: int, annotated: Sequence[int],
               init_frame: Optional[int] = None) -> Plan:
    """The plan of a video under ``inference.mode``: ``online`` streams from the first annotated frame;
    ``offline`` starts at ``init_frame`` (default: the first annotated frame), burns in, then the final pass.
    Both go back to the first frame when ``inference.backward`` (the default)."""
    inf = _config(inference_cfg)
    mode = inf.get("mode", "online")
    if mode not in MODES:
        raise ValueError(f"unknown inference.mode {mode!r}; choose one of {', '.join(MODES)}")
    ring, backward = segmenter.has_ring, bool(inf.get("backward", True))
    if mode == "online":
        return stream_plan(num_frames, annotated, segmenter.mem_every, ring, backward)
    init = min(annotated) if init_frame is None else int(init_frame)
    return offline_plan(num_frames, init, segmenter.mem_every, ring, inf.get("order", "strided"),
                        int(inf.get("burn_in_passes", 1)), int(inf.get("seed", 0)), backward, annotated,
                        bool(inf.get("burn_in_every_frame", False)))
