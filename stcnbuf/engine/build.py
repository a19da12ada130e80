"""Build what a run needs from its settings (``configs/model``, ``memory``, ``inference``): the device, the
network, the memory, the segmenter and the plan of a video."""

from __future__ import annotations

import logging
from typing import Any, Mapping, Optional, Sequence

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from stcnbuf.engine.allocator import keep_freed_memory
from stcnbuf.engine.checkpoint import architecture_of, load_imagenet_backbones, load_state, read_network_state
from stcnbuf.engine.memory import BurnInTreatment, MemoryBank
from stcnbuf.engine.model.stcn import STCN
from stcnbuf.engine.plan import Plan, offline_plan, stream_plan
from stcnbuf.engine.segmenter import Segmenter
from stcnbuf.engine.settings import (InferenceSettings, MemorySettings, OfflineInference, inference_settings,
                                     memory_settings)

log = logging.getLogger(__name__)


def _config(cfg: Mapping[str, Any] | DictConfig) -> DictConfig:
    return cfg if isinstance(cfg, DictConfig) else OmegaConf.create(dict(cfg))


def resolve_device(name: str | torch.device) -> torch.device:
    """The device ``name`` (``auto``: CUDA, then MPS, then the CPU, whichever is there first), refused with the
    fix when it is not there."""
    if str(name) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if torch.backends.mps.is_available() else "cpu")
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


def build_memory(memory: MemorySettings | Mapping[str, Any] | DictConfig,
                 device: str | torch.device = "cpu") -> MemoryBank:
    """The memory bank of ``memory`` (``configs/memory``): the policy registered under ``memory.policy``
    (:data:`~stcnbuf.engine.memory.POLICIES`; an unknown name is refused with the registered ones) and the
    treatment of burn-in entries that the ``burn_in_*`` keys set."""
    s = memory_settings(memory)
    burn_in = BurnInTreatment(s.burn_in_weight, s.burn_in_evict_first, s.burn_in_confidence)
    return MemoryBank(s.policy, s.capacity, s.temp_size, s.pin_annotated, s.seed, burn_in=burn_in,
                      device=str(device))


def build_segmenter(net: STCN, memory: MemorySettings | Mapping[str, Any] | DictConfig,
                    inference: InferenceSettings | Mapping[str, Any] | DictConfig, device: str | torch.device = "cpu",
                    exact: bool = False) -> Segmenter:
    """The :class:`Segmenter` of the memory and inference settings (every mode runs on one; the mode decides
    the plan, :func:`build_plan`). ``exact`` runs ``net`` itself as it is (channels-first, BatchNorm unfolded: no
    copy, its layout untouched), whatever the settings say. On the CPU, ``inference.keep_freed_memory`` applies
    :func:`~stcnbuf.engine.allocator.keep_freed_memory` to the process."""
    inf = inference_settings(inference)
    if not exact and torch.device(device).type == "cpu" and inf.keep_freed_memory:
        keep_freed_memory()
    bank = build_memory(memory, device)
    burns_in = isinstance(inf, OfflineInference) and inf.burn_in_passes > 0
    if not burns_in and bank.burn_in.active:
        log.warning("memory.burn_in_* act only on burn-in visits (inference=offline with burn_in_passes > 0); "
                    "this run has none")
    return Segmenter(net, bank, mem_every=inf.mem_every, top_k=inf.top_k, device=device, precision=inf.precision,
                     compile=inf.compile, channels_last=not exact and inf.channels_last,
                     fold_batchnorm=not exact and inf.fold_batchnorm)


def build_plan(inference: InferenceSettings | Mapping[str, Any] | DictConfig, segmenter: Segmenter,
               num_frames: int, annotated: Sequence[int], init_frame: Optional[int] = None) -> Plan:
    """The plan of a video under ``inference.mode``, starting at the annotated frame ``init_frame`` (default:
    the first annotated frame): ``online`` streams from it; ``offline`` burns in, then the final pass. Both go
    back to the first frame when ``inference.backward`` (the default)."""
    inf = inference_settings(inference)
    ring = segmenter.has_ring
    init = min(annotated) if init_frame is None else int(init_frame)
    if not isinstance(inf, OfflineInference):
        return stream_plan(num_frames, annotated, segmenter.mem_every, ring, inf.backward, init)
    return offline_plan(num_frames, init, segmenter.mem_every, ring, inf.order, inf.burn_in_passes, inf.seed,
                        inf.backward, annotated, inf.burn_in_every_frame)
