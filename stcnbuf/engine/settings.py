"""The settings most swept, typed, with their defaults in one place: the memory (``configs/memory``) and the
inference schedule (``configs/inference``).

The Hydra presets extend these schemas (``apps/schemas.py`` registers them), so a misspelt key or a value of the
wrong type fails when the config is composed, naming the key. Python callers pass the dataclasses, or plain
mappings that :func:`memory_settings` and :func:`inference_settings` check for unknown keys and types.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Type, TypeVar, Union

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from stcnbuf.engine.orderings import ORDERINGS

MODES = ("online", "offline")


@dataclass
class MemorySettings:
    """The memory bank (:class:`~stcnbuf.engine.memory.MemoryBank`)."""

    policy: str = "random_pixel"    # a registered replacement policy (stcnbuf.engine.memory.POLICIES)
    capacity: Optional[int] = 16    # frames in permanent memory, annotated ones included (unbounded: null)
    temp_size: int = 1              # frames in the temporary ring of the latest non-memory frames
    pin_annotated: bool = True      # annotated frames are never evicted
    seed: int = 0                   # seed of every random choice of the policy
    # entries written by burn-in visits (inference=offline): their weight in reads (1: like any other), replaced
    # before any other by a bounded policy, readable only where their prediction is at least this confident (0: all)
    burn_in_weight: float = 1.0
    burn_in_evict_first: bool = False
    burn_in_confidence: float = 0.0


@dataclass
class OnlineInference:
    """Streaming: frames in order from the first annotated frame, each result out at once (STCN's schedule)."""

    mode: str = "online"
    mem_every: int = 5               # every mem_every-th frame goes into permanent memory
    top_k: int = 20                  # memory entries each query position reads
    precision: str = "auto"          # auto (bf16 where the hardware has it natively, else fp32) | fp32 | bf16 | fp16
    compile: str = "none"            # none | script | compile
    channels_last: bool = True       # convolutions in the channels-last layout (same results within rounding)
    fold_batchnorm: bool = True      # BatchNorm folded into the convolutions (same results within rounding)
    keep_freed_memory: bool = True   # CPU: the process reuses freed memory instead of mapping new pages (glibc)
    backward: bool = True            # then back from the first annotated frame to the first frame
    write_given_masks: bool = True   # annotated frames: the given masks (false: the network's result, as STCN)
    frame_cache_mb: int = 0          # working-size frames kept in memory (streaming visits each frame once)


@dataclass
class OfflineInference(OnlineInference):
    """Offline: burn-in passes over the reordered video, then an ordered final pass."""

    mode: str = "offline"
    frame_cache_mb: int = 4000       # frames kept for the passes; beyond it, frames are decoded again
    order: str = "strided"           # none | random | reverse | strided
    burn_in_passes: int = 1
    burn_in_every_frame: bool = False  # a burn-in pass segments every frame (with the ring), writing every mem_every-th
    init_frame: Optional[Union[int, str]] = None  # a frame index, middle, or null: the dataset's annotated frame
    seed: int = 0                      # seed of the random order


InferenceSettings = Union[OnlineInference, OfflineInference]
Settings = TypeVar("Settings")


def _typed(kind: Type[Settings], values: Mapping[str, Any] | DictConfig, group: str) -> Settings:
    if isinstance(values, DictConfig):
        values = OmegaConf.to_container(values, resolve=True)
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(values) - names - {"_target_"})  # _target_: memory configs recorded by stcnbuf 0.3
    if unknown:
        raise ValueError(f"unknown {group} key(s) {unknown} for {kind.__name__}; its keys: {sorted(names)}")
    try:  # the values typed as the schema types them (a string where a number belongs is refused)
        typed = OmegaConf.merge(OmegaConf.structured(kind), {k: v for k, v in values.items() if k in names})
    except OmegaConfBaseException as error:
        raise ValueError(f"{group}: {str(error).splitlines()[0]} ({group}.{error.key})") from None
    return OmegaConf.to_object(typed)


def memory_settings(values: MemorySettings | Mapping[str, Any] | DictConfig) -> MemorySettings:
    """``values`` as :class:`MemorySettings` (unknown keys refused, naming them)."""
    return values if isinstance(values, MemorySettings) else _typed(MemorySettings, values, "memory")


def inference_settings(values: InferenceSettings | Mapping[str, Any] | DictConfig) -> InferenceSettings:
    """``values`` as :class:`OnlineInference` or :class:`OfflineInference` after its ``mode`` (default online;
    unknown keys and modes refused, naming them)."""
    if isinstance(values, (OnlineInference, OfflineInference)):
        settings = values
    else:
        mode = values.get("mode", "online")
        if mode not in MODES:
            raise ValueError(f"unknown inference.mode {mode!r}; choose one of {', '.join(MODES)}")
        settings = _typed(OfflineInference if mode == "offline" else OnlineInference, values, "inference")
    expected = "offline" if isinstance(settings, OfflineInference) else "online"
    if settings.mode != expected:
        raise ValueError(f"inference.mode={settings.mode} with the {expected} settings; choose inference={settings.mode}")
    _check_inference_values(settings)
    return settings


#: The least value of each count setting of the inference schedule.
_LEAST = {"mem_every": 1, "top_k": 1, "frame_cache_mb": 0, "burn_in_passes": 0}


def _check_inference_values(settings: InferenceSettings) -> None:
    """Refuse counts below their least value and unknown burn-in orders, naming the key (before any video is
    segmented, not on each)."""
    for key, least in _LEAST.items():
        value = getattr(settings, key, least)
        if value < least:
            raise ValueError(f"inference.{key} must be at least {least}, got {value}")
    order = getattr(settings, "order", ORDERINGS[0])
    if order not in ORDERINGS:
        raise ValueError(f"unknown inference.order {order!r}; choose one of {', '.join(ORDERINGS)}")
