"""The training application behind ``train.py``."""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path
from typing import Any, Dict, Optional

import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from stcnbuf.apps.loggers import check_logger_packages
from stcnbuf.engine.build import build_network
from stcnbuf.engine.checkpoint import (TRAINING_STATUS, export_original, read_network_state, read_weights_file,
                                       single_object_state, value_input_channels)
from stcnbuf.runs.hydra_files import record_hydra_config
from stcnbuf.runs.training_status import write_training_status

log = logging.getLogger(__name__)


class WeightsOnlyCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint files, read back (on a resume) through :func:`~stcnbuf.engine.checkpoint.read_weights_file`:
    weights only whatever ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` says, with an error naming the file."""

    def load_checkpoint(self, path: str | Path, map_location: Any = None,
                        weights_only: Optional[bool] = None) -> Dict[str, Any]:
        return dict(read_weights_file(path, "checkpoint to resume"))


def resolve_resume(cfg: DictConfig) -> Optional[str]:
    """``ckpt_path``: a file, or ``last`` for the newest ``last.ckpt`` of earlier runs of this task. Without one,
    a run whose ``output_dir`` already holds ``checkpoints/last.ckpt`` (a requeued or rerun job) continues it."""
    wanted = cfg.get("ckpt_path")
    own = Path(cfg.output_dir) / "checkpoints" / "last.ckpt"
    if not wanted:
        if own.is_file():
            log.warning("%s holds %s: continuing that run (give another output_dir to start a new one)",
                        cfg.output_dir, own)
            return str(own)
        return None
    if wanted != "last":
        if not Path(wanted).is_file():
            raise FileNotFoundError(f"ckpt_path={wanted}: no such checkpoint")
        return str(wanted)
    runs = Path(cfg.paths.log_dir) / cfg.task_name
    found = sorted(runs.glob("**/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
    found = [p for p in found if not str(p).startswith(str(cfg.output_dir))]
    if not found:
        raise FileNotFoundError(f"ckpt_path=last: no last.ckpt under {runs} to resume")
    log.info("resuming from %s", found[-1])
    return str(found[-1])


def train(cfg: DictConfig) -> Dict[str, Any]:
    """Fit, export the best network in the original STCN format, optionally evaluate it.

    The result: ``steps`` (the total), ``run_steps`` (trained by this call; fewer after a resume),
    ``checkpoint`` (the best by ``val/J&F``, else the last), ``val/J&F``, ``exported``, ``evaluation``.
    """
    start = time.perf_counter()
    check_logger_packages(cfg.get("logger"))
    rank_zero_only(record_hydra_config)(Path(cfg.output_dir), cfg)
    L.seed_everything(cfg.seed, workers=True)
    resume = resolve_resume(cfg)
    net = build_network(cfg.model, for_training=True)
    settings = {key: OmegaConf.to_container(cfg[key], resolve=True) for key in ("val_memory", "val_inference")}
    module = instantiate(cfg.module, net=net, _convert_="all", **settings)
    datamodule = instantiate(cfg.datamodule)
    if cfg.get("evaluate_after") and cfg.get("transfer_data") is not None:
        rank_zero_only(instantiate)(cfg.transfer_data)  # generated and checked before training, not after it
    callbacks = {name: instantiate(c) for name, c in (cfg.get("callbacks") or {}).items() if c is not None}
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values()]
    if not loggers:  # nothing to report learning rates to
        callbacks = {n: c for n, c in callbacks.items() if not isinstance(c, LearningRateMonitor)}
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=list(callbacks.values()), logger=loggers or False,
                                     plugins=[WeightsOnlyCheckpointIO()])
    out, max_steps = Path(cfg.output_dir), trainer.max_steps
    mark = rank_zero_only(write_training_status)
    mark(out, "running", trainer.global_step, max_steps)
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume)
    except BaseException as error:
        exit_code = _interrupted(trainer, out, error)
        if exit_code is None:
            raise
        raise SystemExit(exit_code) from error
    result: Dict[str, Any] = {"steps": trainer.global_step, "run_steps": trainer.global_step - module.start_step,
                              "train_seconds": time.perf_counter() - start}
    best = callbacks.get("best")
    checkpoint = Path(best.best_model_path) if best is not None and best.best_model_path else None
    if checkpoint is None and "last" in callbacks and callbacks["last"].last_model_path:
        checkpoint = Path(callbacks["last"].last_model_path)
    if not trainer.is_global_zero or checkpoint is None:
        mark(out, "finished", trainer.global_step, max_steps)  # on the first process only; nothing to export
        return result
    result["checkpoint"] = str(checkpoint)
    result["val/J&F"] = float(best.best_model_score) if best is not None and best.best_model_score is not None else None
    state = read_network_state(checkpoint)
    if cfg.datamodule.spec.max_objects == 1 and not _trained_fifth_channel(cfg.model):
        state = single_object_state(state)  # a single-object run (stage 0): STCN's 4-channel value encoder input
    result["exported"] = str(export_original(state, Path(cfg.output_dir) / "stcn_export.pth"))
    mark(out, "finished", trainer.global_step, max_steps)
    if cfg.get("evaluate_after") and cfg.get("val_data") is not None:
        from stcnbuf.apps.train.report import evaluate_checkpoint

        result["evaluation"] = evaluate_checkpoint(cfg, checkpoint, Path(cfg.output_dir))
    result["total_seconds"] = time.perf_counter() - start
    _print_report(result, Path(cfg.output_dir))
    return result


def _interrupted(trainer: L.Trainer, out: Path, error: BaseException) -> Optional[int]:
    """Mark the run interrupted, say so, and give the exit status of a stop: Lightning ends a run on SIGTERM with
    ``SystemExit()``, whose exit status is 0, so a stop by SIGTERM exits ``128 + SIGTERM`` (Ctrl+C: 1); ``None``
    for an error (raised as it is)."""
    if isinstance(error, SIGTERMException):
        reason, exit_code = "SIGTERM", 128 + signal.SIGTERM
    elif isinstance(error, (SystemExit, KeyboardInterrupt)):  # Lightning turns Ctrl+C into sys.exit(1)
        reason, exit_code = "interrupted", (error.code if isinstance(error, SystemExit) and error.code else 1)
    else:
        reason, exit_code = f"{type(error).__name__}: {error}".splitlines()[0], None
    rank_zero_only(write_training_status)(out, "interrupted", trainer.global_step, trainer.max_steps, reason)
    last = out / "checkpoints" / "last.ckpt"
    resume = (f"`python train.py output_dir={out}` continues it from {last}" if last.is_file() else
              "it left no last.ckpt to continue from")
    log.error("training stopped at step %d of %d (%s): nothing exported, %s marks the run interrupted (eval.py and "
              "the segment app pass over its checkpoints); %s", trainer.global_step, trainer.max_steps, reason,
              out / TRAINING_STATUS, resume)
    return exit_code


def _trained_fifth_channel(model: DictConfig) -> bool:
    """Whether the run started from a file whose 5th value-encoder channel was trained (a multi-object file):
    single-object training does not touch it, and the export keeps it."""
    return bool(model.get("checkpoint")) and value_input_channels(model.checkpoint) == 5


def _scores(evaluation: Dict[str, Any]) -> str:
    model, baseline = evaluation["model"], evaluation["baseline"]
    return (f"{100 * model['J&F-Mean']:.1f} (J {100 * model['J-Mean']:.1f}, F {100 * model['F-Mean']:.1f}); "
            f"copying the first mask: {100 * baseline['J&F-Mean']:.1f}")


def _print_report(result: Dict[str, Any], out: Path) -> None:
    resumed = f" in this run ({result['steps']} in all)" if result["run_steps"] != result["steps"] else ""
    lines = [f"trained {result['run_steps']} steps{resumed} in {result['train_seconds'] / 60:.1f} min"]
    evaluation = result.get("evaluation")
    if evaluation:
        lines.append(f"held-out J&F {_scores(evaluation)}; {evaluation['model']['fps']:.1f} fps")
        if "transfer" in evaluation:
            lines.append(f"another generator, never trained on: J&F {_scores(evaluation['transfer'])}")
        lines.append(f"metrics:     {out / 'eval' / 'metrics.json'}"
                     + (f" and {out / 'eval_transfer' / 'metrics.json'}" if "transfer" in evaluation else ""))
        lines.append(f"overlays:    {evaluation['overlays']}")
    lines.append(f"checkpoint:  {result['checkpoint']} (original STCN format: {result['exported']})")
    lines.append(f"total time {result['total_seconds'] / 60:.1f} min")
    print("\n".join(lines))
