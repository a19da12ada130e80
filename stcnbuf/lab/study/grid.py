"""The study's default grid, read from the two sweeps it extends, so that a setting lives in one place:
``configs/sweep/long_buffer.yaml`` (replacement policy x capacity, online) and ``configs/sweep/long_burn_in.yaml``
(burn-in passes x order for one policy at one capacity, offline). Policies are the engine's bounded ones, each run
with its memory preset (``configs/memory/<preset>.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Dict, List, Tuple

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from stcnbuf.engine.memory import POLICIES

#: the policies that keep a bounded number of frames, in the engine's order
BOUNDED: Tuple[str, ...] = tuple(policy for policy in POLICIES if policy != "unbounded")
#: memory presets named otherwise than the policy they set
PRESETS = {"random_pixel": "buffer"}


def memory_preset(policy: str) -> str:
    """The memory preset of ``policy``."""
    return PRESETS.get(policy, policy)


def preset_policy(preset: str) -> str:
    """The policy of the memory preset ``preset``."""
    return next((policy for policy, name in PRESETS.items() if name == preset), preset)


@dataclass(frozen=True)
class Sweep:
    """A sweep config: the config groups its defaults list selects, its own values and the values it sweeps."""

    groups: Dict[str, str]
    config: DictConfig
    params: Dict[str, List[Any]]


def read_sweep(name: str) -> Sweep:
    """``configs/sweep/<name>.yaml`` of the installed configs."""
    config = OmegaConf.create((resources.files("stcnbuf.configs") / "sweep" / f"{name}.yaml").read_text())
    groups = {key.split("/")[-1]: option for entry in config.get("defaults", []) for key, option in entry.items()}
    parser = OverridesParser.create()
    params = {key: list(parser.parse_override(f"{key}={value}").sweep_iterator())
              for key, value in config.hydra.sweeper.params.items()}
    return Sweep(groups, config, params)


@dataclass(frozen=True)
class Grid:
    """The study's defaults: its data, the online policy x capacity runs and the offline burn-in runs."""

    data: str
    policies: Tuple[str, ...]
    capacities: Tuple[int, ...]
    burn_in_policies: Tuple[str, ...]
    reference_capacity: int
    passes: Tuple[int, ...]
    orders: Tuple[str, ...]


@lru_cache(maxsize=1)
def default_grid() -> Grid:
    """The grid of ``sweep=long_buffer`` and ``sweep=long_burn_in``."""
    online, offline = read_sweep("long_buffer"), read_sweep("long_burn_in")
    return Grid(data=online.groups["data"],
                policies=tuple(preset_policy(preset) for preset in online.params["memory"]),
                capacities=tuple(online.params["memory.capacity"]),
                burn_in_policies=(preset_policy(offline.groups["memory"]),),
                reference_capacity=int(offline.config.memory.capacity),
                passes=tuple(offline.params["inference.burn_in_passes"]),
                orders=tuple(offline.params["inference.order"]))
