"""Every preset of every config group composes for its entry point, and every ``_target_`` in it names an
importable callable that takes the keys given to it (a typo in any preset fails here, without running it)."""

import importlib.util
import inspect
from typing import Any, Iterator, List, Tuple

import pytest
from hydra.utils import get_object
from omegaconf import OmegaConf, open_dict

from tests.conftest import CONFIGS, compose

#: entry point -> the config groups it composes (``group`` or ``group@package``)
GROUPS = {
    "train": ["model", "clips", "data@val_data", "data@transfer_data", "memory@val_memory", "inference@val_inference", "trainer",
              "callbacks", "logger", "experiment", "debug"],
    "eval": ["data", "model", "memory", "inference", "logger", "experiment", "sweep", "hydra/launcher"],
    "segment": ["model", "memory", "inference", "init"],
}
EVAL_EXPERIMENTS = "reproduce_"  #: experiments named so are eval.py's, the others train.py's


def _presets() -> Iterator[Tuple[str, str, str]]:
    for entry, groups in GROUPS.items():
        for group in groups:
            folder = group.split("@")[0]  # hydra/launcher: our presets beside the plugin's own
            for preset in sorted(p.stem for p in (CONFIGS / folder).glob("*.yaml")):
                if folder == "experiment" and (entry == "eval") != preset.startswith(EVAL_EXPERIMENTS):
                    continue
                yield entry, group, preset


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is absent
        return False


def _targets(node: Any, where: str = "") -> Iterator[Tuple[str, dict]]:
    if isinstance(node, dict):
        if "_target_" in node:
            yield where, node
        for key, value in node.items():
            yield from _targets(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _targets(value, f"{where}[{i}]")


@pytest.mark.parametrize("entry,group,preset", list(_presets()), ids=lambda v: str(v))
def test_every_preset_composes_and_its_targets_take_their_keys(entry, group, preset, tmp_path):
    if group == "sweep" and preset == "optuna" and not _installed("hydra_plugins.hydra_optuna_sweeper"):
        pytest.skip("the Optuna sweeper plugin is not installed (pip install -e '.[sweep]')")
    overrides = [f"{group}={preset}", f"output_dir={tmp_path}"] + (["video=clip.mp4"] if entry == "segment" else [])
    cfg = compose(entry, overrides, return_hydra_config=group in ("sweep", "hydra/launcher"))
    job = cfg.copy()
    with open_dict(job):
        job.pop("hydra", None)
    problems: List[str] = []
    for where, node in _targets(OmegaConf.to_container(job, resolve=True, throw_on_missing=False)):
        try:
            target = get_object(node["_target_"])
        except Exception as error:  # an unimportable name: the typo this test is for
            problems.append(f"{where}: {node['_target_']} cannot be imported ({error})")
            continue
        kwargs = {k: v for k, v in node.items() if not k.startswith("_")}
        try:
            inspect.signature(target).bind_partial(**kwargs)
        except TypeError as error:
            problems.append(f"{where}: {node['_target_']} does not take {sorted(kwargs)} ({error})")
    if group == "sweep":
        for key in cfg.hydra.sweeper.get("params") or {}:
            if OmegaConf.select(cfg, key, default="<absent>") == "<absent>":
                problems.append(f"hydra.sweeper.params: {key} is not a key of the {entry} config")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name,available", [("cuda", "torch.cuda.is_available"), ("mps", "torch.backends.mps.is_available")])
def test_an_absent_device_is_refused_with_the_fix(name, available):
    import torch

    from stcnbuf.engine.build import resolve_device

    if get_object(available)():
        pytest.skip(f"{name} is present here")
    with pytest.raises(RuntimeError, match=f"device={name} requested but .* use device=cpu"):
        resolve_device(name)
    assert resolve_device("cpu") == torch.device("cpu")
