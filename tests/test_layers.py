"""The package's folders are its layers, and imports point one way (README, Layout)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, Set, Tuple

from tests.conftest import REPO

PACKAGE = REPO / "stcnbuf"
#: Each layer and the layers its modules may import (itself included). ``apps`` combine every library layer;
#: ``lab`` may import anything; nothing but ``lab`` imports ``lab``.
ALLOWED: Dict[str, Set[str]] = {
    "engine": {"engine"},
    "io": {"io"},
    "datasets": {"datasets", "engine", "io"},
    "scoring": {"scoring", "datasets", "engine", "io"},
    "runs": {"runs", "engine", "io"},
    "training": {"training", "scoring", "datasets", "engine", "io", "runs"},
    "apps": {"apps", "training", "scoring", "datasets", "engine", "io", "runs"},
    "lab": {"lab", "apps", "training", "scoring", "datasets", "engine", "io", "runs"},
}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "stcnbuf" else None


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, module: str) -> Iterator[Tuple[int, str]]:
    """Every module that the file of ``module`` imports, at any depth (imports inside functions included)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield node.lineno, module
            if layer_of(module) is None:  # `from stcnbuf import lab`: the names are the layers
                yield from ((node.lineno, f"{module}.{alias.name}") for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in (
                "import_module", "lazy_exports"):
            for arg in node.args:  # importlib.import_module("stcnbuf.x") and lazy_exports("stcnbuf.x", ...)
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    yield node.lineno, arg.value


def test_every_module_sits_in_a_layer():
    stray = [str(p.relative_to(REPO)) for p in PACKAGE.rglob("*.py")
             if p.parent != PACKAGE and layer_of(module_name(p)) not in ALLOWED]
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert not stray and top == ["__init__.py"], (stray, top)


def test_imports_point_one_way():
    breaks = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = layer_of(module_name(path))
        if layer is None:
            continue
        for line, module in imported_modules(path, module_name(path)):
            target = layer_of(module)
            if module.startswith("stcnbuf") and target is not None and target not in ALLOWED[layer]:
                breaks.append(f"{path.relative_to(REPO)}:{line} ({layer}) imports {module} ({target})")
    assert not breaks, "imports against the layering:\n" + "\n".join(breaks)


def test_the_checker_finds_every_kind_of_import(tmp_path):
    """Absolute, relative, inside a function and by name: each is seen, so a wrong one cannot hide."""
    probe = tmp_path / "probe.py"
    probe.write_text("import stcnbuf.io.rle\nfrom stcnbuf.datasets import davis\nfrom ..lab import study\n"
                     "from stcnbuf import apps\nfrom .. import runs\n"
                     "def f():\n    from .plan import Plan\n    importlib.import_module('stcnbuf.scoring.metrics')\n")
    found = [module for _, module in imported_modules(probe, "stcnbuf.engine.probe")]
    assert found == ["stcnbuf.io.rle", "stcnbuf.datasets", "stcnbuf.lab", "stcnbuf", "stcnbuf.apps", "stcnbuf",
                     "stcnbuf.runs", "stcnbuf.engine.plan", "stcnbuf.scoring.metrics"]
    assert {layer_of(m) for m in found} - ALLOWED["engine"] - {None} == {"io", "datasets", "lab", "apps", "runs",
                                                                          "scoring"}
