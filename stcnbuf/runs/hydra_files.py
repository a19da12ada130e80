"""Hydra's run folders, kept inside the run's ``output_dir``: its default, and the ``.hydra/`` record."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from stcnbuf.io.atomic import atomic_write_text


def is_multirun() -> bool:
    """Whether this process runs a job of a Hydra multirun (``-m``)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run_folder(single_run: str) -> str:
    """``output_dir``'s default: Hydra's folder of this job once the job runs (a multirun's job folder, or the
    folder handed to the processes a DDP launcher starts), else ``single_run``.

    Hydra's single-run folder is ``output_dir`` itself (``hydra.run.dir: ${output_dir}``), so an
    ``output_dir=X`` override moves the log and ``.hydra/`` there too.
    """
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized() and not OmegaConf.is_missing(HydraConfig.get().runtime, "output_dir"):
        return str(HydraConfig.get().runtime.output_dir)
    return single_run


def register_resolvers() -> None:
    """Make ``${run_folder:...}`` known to the configs (the entry points call this before Hydra starts)."""
    if not OmegaConf.has_resolver("run_folder"):
        OmegaConf.register_new_resolver("run_folder", run_folder)


def record_hydra_config(folder: Path, cfg: DictConfig) -> None:
    """Write ``folder/.hydra/`` (``config.yaml``, ``hydra.yaml``, ``overrides.yaml``) as Hydra would, but only
    once the run has claimed the folder: a refused run leaves the record of the results there alone. Outside a
    Hydra run (the compose API) nothing is written."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    target = Path(folder) / ".hydra"
    hydra = OmegaConf.masked_copy(HydraConfig.instance().cfg, "hydra")
    atomic_write_text(target / "config.yaml", OmegaConf.to_yaml(cfg))
    atomic_write_text(target / "hydra.yaml", OmegaConf.to_yaml(hydra))
    atomic_write_text(target / "overrides.yaml", OmegaConf.to_yaml(hydra.hydra.overrides.task))
