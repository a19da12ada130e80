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


@pytest.mark.parametrize("group,preset,line,key", [
    ("inference", "offline", "burn_in_pases: 2", "burn_in_pases"),
    ("memory", "fifo", "capacty: 8", "capacty"),
    ("memory", "fifo", "capacity: eight", "capacity"),
    ("init", "maskrcnn", "score_treshold: 0.5", "score_treshold"),
])
def test_a_misspelt_or_mistyped_key_in_a_preset_fails_at_composition(tmp_path, group, preset, line, key):
    """A copy of the configs whose preset has a typo (or a value of the wrong type) does not compose."""
    import shutil

    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import ConfigCompositionException
    from omegaconf.errors import OmegaConfBaseException

    from stcnbuf.apps.schemas import register_configs

    configs = tmp_path / "configs"
    shutil.copytree(CONFIGS, configs)
    register_configs()
    overrides = [f"{group}={preset}"] + (["video=clip.mp4"] if group == "init" else [])
    entry = "segment" if group == "init" else "eval"
    preset_file = configs / group / f"{preset}.yaml"
    with initialize_config_dir(config_dir=str(configs), version_base="1.3"):
        hydra_compose(config_name=entry, overrides=overrides)  # as shipped: composes
        preset_file.write_text(preset_file.read_text() + line + "\n")
        with pytest.raises((ConfigCompositionException, OmegaConfBaseException), match=rf"{group}\.{key}\b"):
            hydra_compose(config_name=entry, overrides=overrides)


@pytest.mark.parametrize("override", ["inference.mem_evry=3", "memory.capacity=abc", "inference.order=random",
                                      "reader.shorter=3", "outputs.overlay=maybe"])
def test_a_misspelt_or_mistyped_override_names_its_key(override):
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match=override.split("=")[0].replace(".", r"\.")):
        compose("segment", ["video=clip.mp4", override])


def test_python_settings_refuse_unknown_keys_and_modes():
    from stcnbuf.engine.settings import OfflineInference, inference_settings, memory_settings

    assert inference_settings({"mode": "offline", "order": "random"}) == OfflineInference(order="random")
    with pytest.raises(ValueError, match=r"unknown inference key\(s\) \['order'\]"):
        inference_settings({"mode": "online", "order": "random"})  # an offline key in the online mode
    with pytest.raises(ValueError, match="unknown inference.mode 'batch'"):
        inference_settings({"mode": "batch"})
    with pytest.raises(ValueError, match=r"unknown memory key\(s\) \['capacty'\]"):
        memory_settings({"policy": "fifo", "capacty": 8})
    with pytest.raises(ValueError, match=r"could not be converted to Integer \(memory\.capacity\)"):
        memory_settings({"policy": "fifo", "capacity": "abc"})
    assert memory_settings({"capacity": "8"}).capacity == 8  # as Hydra types a command-line value


def test_the_old_segmenter_name_still_resolves_with_a_warning():
    import stcnbuf.engine as engine

    with pytest.warns(DeprecationWarning, match="OnlineSegmenter is deprecated.*use stcnbuf.engine.Segmenter"):
        assert engine.OnlineSegmenter is engine.Segmenter
