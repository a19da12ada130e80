"""Package namespaces whose names are imported from their modules when first used: a light module of a package
(frame preparation, normalisation constants, Hydra helpers) then loads without the heavy ones beside it."""

from __future__ import annotations

import importlib
import sys
import warnings
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple


def lazy_exports(package: str, modules: Dict[str, str], deprecated: Optional[Mapping[str, str]] = None
                 ) -> Tuple[Callable[[str], Any], Callable[[], List[str]], List[str]]:
    """A package's ``__getattr__``, ``__dir__`` and ``__all__`` exporting each name of ``modules`` (name ->
    submodule of ``package``); each old name of ``deprecated`` (old name -> exported name) still resolves, with a
    ``DeprecationWarning``."""
    deprecated = dict(deprecated or {})

    def __getattr__(name: str) -> Any:
        if name in deprecated:
            warnings.warn(f"{package}.{name} is deprecated and will be removed in the next release; use "
                          f"{package}.{deprecated[name]}", DeprecationWarning, stacklevel=2)
            name = deprecated[name]
        if name not in modules:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{modules[name]}"), name)

    def __dir__() -> List[str]:
        return sorted(set(vars(sys.modules[package])) | set(modules))

    return __getattr__, __dir__, sorted(modules)
