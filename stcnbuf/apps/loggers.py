"""The loggers of ``configs/logger``: those whose package is an extra of stcnbuf are checked before a run starts."""

from __future__ import annotations

import importlib.util
from typing import Mapping, NamedTuple, Optional, Tuple

from hydra.utils import get_class


class OptionalLogger(NamedTuple):
    """A logger class that needs one of ``modules``, installed by the extra ``extra``."""

    target: str
    modules: Tuple[str, ...]
    extra: str


OPTIONAL_LOGGERS: Tuple[OptionalLogger, ...] = (
    OptionalLogger("lightning.pytorch.loggers.WandbLogger", ("wandb",), "wandb"),
    OptionalLogger("lightning.pytorch.loggers.TensorBoardLogger", ("tensorboard", "tensorboardX"), "tensorboard"),
)


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (a bare folder of that name, such as a ``wandb/`` run folder in the working
    directory, does not count)."""
    spec = importlib.util.find_spec(module)
    return spec is not None and spec.origin is not None


def check_logger_packages(loggers: Optional[Mapping]) -> None:
    """Raise ``ModuleNotFoundError`` naming the ``pip install`` line that fixes it when a logger of ``loggers``
    (the ``logger`` config: name → ``_target_`` and arguments) needs a package that is not installed."""
    for name, logger in (loggers or {}).items():
        target = get_class(logger["_target_"])
        for optional in OPTIONAL_LOGGERS:
            if issubclass(target, get_class(optional.target)) and not any(map(installed, optional.modules)):
                raise ModuleNotFoundError(
                    f"the {name} logger needs the package {' or '.join(optional.modules)}, which is not installed: "
                    f"pip install 'stcnbuf[{optional.extra}]' (in a checkout: pip install -e '.[{optional.extra}]')",
                    name=optional.modules[0])
