"""Optional features as extras: what the package requires, the tested torch in constraints.txt, the README's
set-up commands as CI runs them, and a logger whose package is missing stopping a run before it starts."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shlex
import subprocess
import sys
import tomllib
from typing import Dict, Iterable, List, Set

import pytest

from stcnbuf.apps.evaluate.evaluate import evaluate
from stcnbuf.apps.loggers import OPTIONAL_LOGGERS, check_logger_packages, installed
from stcnbuf.apps.train.train import train
from tests.conftest import REPO, compose

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
EXTRAS = PROJECT["optional-dependencies"]
#: Each optional logger preset (configs/logger/<extra>.yaml, named as its extra) and its modules (any one).
PRESET_MODULES = {optional.extra: optional.modules for optional in OPTIONAL_LOGGERS}
REQUIREMENT = re.compile(r"(?P<name>[A-Za-z0-9._-]+)\s*(?:\[(?P<extras>[^\]]*)\])?\s*(?P<specifier>[^;]*)")


def _parts(requirement: str) -> Dict[str, str]:
    return REQUIREMENT.fullmatch(requirement.strip()).groupdict(default="")


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement (or of a distribution)."""
    return re.sub(r"[-_.]+", "-", _parts(requirement)["name"]).lower()


def _included_extras(extra: str) -> Set[str]:
    """The extras that ``extra`` pulls in through ``stcnbuf[...]``."""
    return {e.strip() for r in EXTRAS[extra] if _name(r) == "stcnbuf" for e in _parts(r)["extras"].split(",")}


def test_torch_has_lower_bounds_and_constraints_pin_them():
    pins = dict(line.split("==") for line in (REPO / "constraints.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    bounds = {_parts(r)["name"]: _parts(r)["specifier"].strip() for r in PROJECT["dependencies"]}
    assert {name: bounds[name] for name in pins} == {name: f">={version}" for name, version in pins.items()}
    assert set(pins) == {"torch", "torchvision"}
    assert not [r for r in PROJECT["dependencies"] if "==" in r], "exact pins belong in constraints.txt"


def test_every_dependency_is_imported_by_the_package():
    imported = set()
    for path in (REPO / "stcnbuf").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                imported.add(node.module.partition(".")[0])
    distributions = importlib.metadata.packages_distributions()
    used = {_name(d) for module in imported for d in distributions.get(module, [])}
    assert {_name(r) for r in PROJECT["dependencies"]} - used == set()


def test_extras_serve_their_features_and_all_holds_every_one():
    required = {_name(r) for r in PROJECT["dependencies"]}
    assert not required & {"wandb", "tensorboardx", "numba"}
    assert set(PRESET_MODULES) <= set(EXTRAS)
    assert _included_extras("all") == set(EXTRAS) - {"all", "dev"}
    assert set(PRESET_MODULES) <= _included_extras("dev")  # CI runs the logger tests


def _setup_commands() -> List[List[str]]:
    """The README's two set-up lines (install and train; install and test), each split at ``&&``."""
    section = (REPO / "README.md").read_text().split("## Set-up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [[c.strip() for c in line.split("&&")] for line in block.splitlines()
            if line and not line.startswith("#")]


def test_the_readme_set_up_commands_are_what_ci_runs():
    (*_, install_train, run_train), test_line = _setup_commands()
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#")]
    ci_installs = [shlex.split(line) for line in ci if "pip install" in line and "--upgrade" not in line]
    readme_installs = [shlex.split(command) for command in test_line if command.startswith("pip install")]
    assert [[a for a in c[c.index("install"):] if a != "--quiet"] for c in ci_installs] == \
        [c[1:] for c in readme_installs]
    assert ci[-1] == test_line[-1] == "python -m pytest -q" and run_train == "python train.py"
    assert shlex.split(install_train) == ["pip", "install", "-c", "constraints.txt", "-e", "."]


def test_a_folder_named_like_a_module_is_not_an_installation(tmp_path, monkeypatch):
    (tmp_path / "stcnbuf_absent_module").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    assert not installed("stcnbuf_absent_module") and installed("json")


def _hide(monkeypatch: pytest.MonkeyPatch, modules: Iterable[str]) -> None:
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)  # import (and find_spec) as if not installed


@pytest.mark.parametrize("preset", sorted(PRESET_MODULES))
@pytest.mark.parametrize("app", ["train", "eval"])
def test_a_logger_without_its_package_stops_the_run_before_it_starts(tmp_path, monkeypatch, preset, app):
    out = tmp_path / "out"
    cfg = compose(app, [f"logger={preset}", f"output_dir={out}", f"model.checkpoint={tmp_path / 'absent.pth'}"])
    _hide(monkeypatch, PRESET_MODULES[preset])
    with pytest.raises(ModuleNotFoundError, match=re.escape(f"pip install 'stcnbuf[{preset}]'")):
        (train if app == "train" else evaluate)(cfg)
    assert not out.exists()  # nothing written, nothing looked up (not even the absent checkpoint)


def test_csv_and_no_logger_need_no_extra(monkeypatch):
    _hide(monkeypatch, {m for modules in PRESET_MODULES.values() for m in modules})
    for preset in ("csv", "none"):
        check_logger_packages(compose("train", [f"logger={preset}"]).get("logger"))


def test_the_command_line_names_the_extra_to_install(tmp_path):
    hide = "import sys; sys.modules['wandb'] = None; "
    run = "import runpy; runpy.run_path('train.py', run_name='__main__')"
    done = subprocess.run([sys.executable, "-c", hide + run, "logger=wandb", f"output_dir={tmp_path / 'out'}"],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode != 0 and "pip install 'stcnbuf[wandb]'" in done.stderr, done.stderr[-3000:]
    assert not (tmp_path / "out" / "checkpoints").exists()
