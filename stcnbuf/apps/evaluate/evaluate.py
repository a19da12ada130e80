"""The evaluation application behind ``eval.py``: segment a dataset, score it, write the results."""

from __future__ import annotations

import json
import logging
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import psutil
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from stcnbuf.apps.evaluate.run_directory import RunDirectory, SequenceRecord, sequence_inputs
from stcnbuf.apps.loggers import check_logger_packages
from stcnbuf.datasets.base import VOSDataset
from stcnbuf.datasets.sequence import VideoSequence
from stcnbuf.datasets.submission import write_submission
from stcnbuf.engine.build import build_network, build_segmenter, resolve_device
from stcnbuf.engine.checkpoint import file_sha256, find_checkpoint
from stcnbuf.engine.segmenter import Segmenter
from stcnbuf.io.atomic import atomic_write_text
from stcnbuf.io.masks import write_label_png
from stcnbuf.runs.hydra_files import record_hydra_config
from stcnbuf.runs.lock import run_lock
from stcnbuf.runs.shards import result_folder, shard_of
from stcnbuf.scoring.dataset import score_predictions
from stcnbuf.scoring.over_time import by_tenth, combine, plot_over_time
from stcnbuf.scoring.scorer import GLOBAL_COLUMNS, check_extra_ids, check_workers
from stcnbuf.scoring.separation import confidence_separation, object_frame_scores
from stcnbuf.scoring.sequence_prediction import SequencePrediction

log = logging.getLogger(__name__)


def _peak_memory_mb(device: torch.device, sampled_rss: int) -> float:
    """Peak of this sequence: CUDA's allocator peak (reset per sequence), or on CPU the largest resident set
    sampled after each frame (the process's lifetime peak would carry over between the runs of a sweep)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return sampled_rss / 2 ** 20


def evaluate(cfg: DictConfig) -> Dict[str, Any]:
    """``eval.py``: segment every sequence of ``cfg.data``, score the predictions, write results to
    ``cfg.output_dir``."""
    check_logger_packages(cfg.get("logger"))
    checkpoint = find_checkpoint(cfg.model.get("checkpoint"), cfg.paths.log_dir)
    OmegaConf.update(cfg, "model.checkpoint", checkpoint, force_add=True)
    settings = {key: OmegaConf.to_container(cfg[key], resolve=True) for key in ("data", "model", "memory", "inference")}
    metrics = evaluate_dataset(instantiate(cfg.data), Path(cfg.output_dir), settings["model"], settings["memory"],
                               settings["inference"], device=cfg.device, overwrite=cfg.get("overwrite", False),
                               score=cfg.get("score", True), workers=cfg.get("workers"),
                               data_config=settings["data"], config=OmegaConf.to_container(cfg, resolve=True),
                               on_claimed=lambda folder: record_hydra_config(folder, cfg),
                               shard=cfg.get("shard"), extra_ids=cfg.get("extra_ids", "error"))
    _log_to_loggers(cfg, metrics)
    return metrics


def evaluate_dataset(dataset: VOSDataset, output_dir: Path, model: Dict[str, Any], memory: Dict[str, Any],
                     inference: Dict[str, Any], device: str = "cpu", overwrite: bool = False, score: bool = True,
                     workers: Optional[int] = None, data_config: Optional[Dict[str, Any]] = None,
                     config: Optional[Dict[str, Any]] = None,
                     on_claimed: Optional[Callable[[Path], None]] = None,
                     shard: Optional[str] = None, extra_ids: str = "error") -> Dict[str, Any]:
    """Segment every sequence of ``dataset`` into ``output_dir``, score them, write ``metrics.json``.

    Args:
        dataset: the sequences.
        output_dir: the run folder (resumed when it holds results of this configuration).
        model, memory, inference: the ``configs/model`` (with ``checkpoint``), ``memory`` and ``inference``
            settings.
        device: ``cpu`` or ``cuda``.
        overwrite: discard results of another configuration in ``output_dir`` instead of refusing.
        score: compute J&F when the dataset has ground truth.
        workers: scoring processes (default: all cores).
        data_config: what describes the dataset in the run's fingerprint (default: its name and root).
        config: the whole configuration, recorded in ``metrics.json``.
        on_claimed: called with the run's result folder (``output_dir``, or a shard's) once the folder is this
            run's (not for a refused run).
        shard: ``"I/N"``: only the sequences of :func:`shard_of`, their metrics into ``shards/I-of-N/`` (jobs of
            the other shards share the folder; a run without a shard then scores them all).
        extra_ids: what a predicted id that the objects lack does (:data:`~stcnbuf.scoring.scorer.EXTRA_IDS`).
    """
    check_extra_ids(extra_ids)
    check_workers(workers)  # before segmenting: scoring comes last
    device = resolve_device(device)
    names = shard_of(dataset.names, shard)
    checkpoint = str(model["checkpoint"])
    net = build_network(model)
    run_config = {"data": data_config or {"name": dataset.name, "root": str(dataset.root)}, "model": model,
                  "memory": memory, "inference": inference, "device": str(device),
                  "checkpoint_sha256": file_sha256(checkpoint)}
    segmenter = build_segmenter(net, memory, inference, device)  # every setting checked before the folder is claimed
    with run_lock(output_dir, result_folder(Path(output_dir), shard) if shard else None) as lock:
        run = RunDirectory(Path(output_dir), run_config, overwrite=overwrite, lock=lock)
        if on_claimed is not None:
            on_claimed(result_folder(run.root, shard))

        records: List[SequenceRecord] = []
        failures: Dict[str, str] = {}
        for number, name in enumerate(names, 1):
            label = f"[{number}/{len(names)}] {name}"
            try:
                sequence = dataset.sequence(name)
                inputs = sequence_inputs(sequence)
                record = run.finished(name, inputs)
                if record is not None:
                    log.info("%s: finished earlier with this configuration, kept", label)
                else:
                    record = _segment(sequence, segmenter, inference, dataset.shorter_side, dataset.resize, run, device,
                                      label, inputs)
                records.append(record)
            except Exception as error:  # one broken sequence must not lose the others
                failures[name] = f"{type(error).__name__}: {error}"
                log.error("%s failed: %s\n%s", name, failures[name], traceback.format_exc())

        metrics = _summarise(dataset, run, records, failures, score, workers, tables=shard is None, extra_ids=extra_ids)
        metrics.update(checkpoint=checkpoint, checkpoint_sha256=run_config["checkpoint_sha256"], shard=shard,
                       precision=segmenter.precision,  # what inference.precision (auto) resolved to here
                       config=config if config is not None else run_config)
        target = result_folder(run.root, shard) / "metrics.json"
        atomic_write_text(target, json.dumps(metrics, indent=1, default=str))
        _print_summary(metrics, run.root, target)
        return metrics


def objective(metrics: Dict[str, Any], memory_budget_mb: Optional[float] = None) -> Optional[float]:
    """The value an entry point returns to Hydra sweepers: J&F, or 0 when peak memory is over budget."""
    if memory_budget_mb is not None and (metrics["peak_memory_mb"] or 0) > memory_budget_mb:
        log.warning("peak memory %.0f MiB exceeds memory_budget_mb=%s: objective 0", metrics["peak_memory_mb"],
                    memory_budget_mb)
        return 0.0
    return metrics["J&F-Mean"]


def _segment(sequence: VideoSequence, segmenter: Segmenter, inference: Dict[str, Any],
             shorter_side: Optional[int], resize: str, run: RunDirectory, device: torch.device, label: str,
             inputs: Dict[str, Any]) -> SequenceRecord:
    name = sequence.name
    run.discard(name)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    prediction = SequencePrediction(sequence, segmenter, inference, shorter_side, resize)
    process, peak_rss, memory_mb, written, scores = psutil.Process(), 0, [], [], []
    for index, labels in tqdm(prediction, desc=label, unit="frame", leave=False):
        rss = process.memory_info().rss
        peak_rss = max(peak_rss, rss)
        memory_mb.append((torch.cuda.memory_allocated(device) if device.type == "cuda" else rss) / 2 ** 20)
        if labels is not None:
            write_label_png(run.prediction_path(name, sequence.frame_name(index)), labels)
            written.append(sequence.frame_name(index))
            if index in sequence.mask_paths and index not in prediction.given:
                scores += [[index, *row] for row in object_frame_scores(sequence.read_mask(index), labels,
                                                                         prediction.confidence[index])]
    stats = prediction.stats
    record = SequenceRecord(name, stats.segmented, stats.seconds, len(segmenter.object_ids),
                            _peak_memory_mb(device, peak_rss), sorted(written), stats.burn_in,
                            by_tenth(stats.durations, memory_mb), scores)
    run.mark_finished(record, inputs)
    log.info("%s: %d frames (%d burn-in), %d objects, %.2f fps", label, stats.segmented, stats.burn_in,
             record.objects, stats.fps or 0.0)
    return record


def _summarise(dataset: VOSDataset, run: RunDirectory, records: List[SequenceRecord], failures: Dict[str, str],
               score: bool, workers: Optional[int], tables: bool = True, extra_ids: str = "error") -> Dict[str, Any]:
    frames = sum(r.frames for r in records)
    seconds = sum(r.seconds for r in records)
    metrics: Dict[str, Any] = {key: None for key in GLOBAL_COLUMNS}
    metrics.update({
        "dataset": dataset.name, "sequences": len(records), "failed_sequences": failures,
        "frames": frames, "burn_in_frames": sum(r.burn_in_frames for r in records),
        "seconds": seconds,
        "fps": frames / seconds if seconds else None,
        "peak_memory_mb": max((r.peak_memory_mb for r in records), default=None),
        "evaluated_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    })
    if tables:  # this run's summary replaces the last one, also where it cannot write all of it
        run.remove_summaries()
    if dataset.scorable and score and records:
        metrics.update(score_predictions(dataset, run.predictions, [r.name for r in records], workers,
                                         run.root if tables else None, extra_ids))
    over_time = combine([r.by_tenth for r in records if r.by_tenth])
    metrics.update({"fps-by-tenth": over_time["fps"], "peak_memory_mb-by-tenth": over_time["memory_mb"]})
    if tables and records:
        plot_over_time(run.root / "over_time.png", f"{dataset.name}: {len(records)} sequence(s)",
                       metrics.get("J&F-by-tenth"), over_time["fps"], over_time["memory_mb"])
    scores = [row for r in records for row in (r.confidence_scores or [])]
    metrics["confidence"] = (confidence_separation([row[2] for row in scores], [row[3] for row in scores])
                             if scores else None)
    metrics["complete"] = not (failures or metrics.get("unscored_sequences") or metrics.get("scoring_error"))
    if dataset.submission and not failures and tables:
        metrics["submission"] = str(write_submission(run.predictions, dataset, run.root / "submission.zip"))
    return metrics


def _log_to_loggers(cfg: DictConfig, metrics: Dict[str, Any]) -> None:
    numbers = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    for logger_cfg in (cfg.get("logger") or {}).values():
        logger = instantiate(logger_cfg)
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
        logger.log_metrics(numbers)
        logger.finalize("success")


def incomplete_reasons(metrics: Dict[str, Any]) -> List[str]:
    """Why ``metrics`` do not cover the whole dataset (empty when they do)."""
    reasons = []
    if metrics["failed_sequences"]:
        failed = metrics["failed_sequences"]
        reasons.append(f"{len(failed)} of {len(failed) + metrics['sequences']} sequences failed "
                       f"({', '.join(list(failed)[:5])}; see the log; rerun to retry them)")
    if metrics.get("unscored_sequences"):
        unscored = metrics["unscored_sequences"]
        reasons.append(f"{len(unscored)} sequence(s) could not be scored: "
                       + "; ".join(f"{name}: {why}" for name, why in list(unscored.items())[:3]))
    if metrics.get("scoring_error"):
        reasons.append(f"scoring failed: {metrics['scoring_error']}")
    return reasons


def _print_summary(metrics: Dict[str, Any], root: Path, written: Path) -> None:
    lines = []
    if metrics["J&F-Mean"] is not None:
        scored = metrics.get("scored_sequences", metrics["sequences"])
        lines.append(f"J&F {100 * metrics['J&F-Mean']:.2f}  (J {100 * metrics['J-Mean']:.2f}, "
                     f"F {100 * metrics['F-Mean']:.2f}) on {scored} sequences of {metrics['dataset']}")
    if metrics["fps"]:
        burn_in = f" ({metrics['burn_in_frames']} of them burn-in)" if metrics["burn_in_frames"] else ""
        lines.append(f"{metrics['fps']:.2f} fps over {metrics['frames']} segmented frames{burn_in}, peak memory "
                     f"{metrics['peak_memory_mb']:.0f} MiB")
    if metrics.get("submission"):
        lines.append(f"submission archive: {metrics['submission']}")
    lines.append(f"results: {written}, predictions in {root}/predictions")
    if metrics.get("shard"):
        lines.append(f"shard {metrics['shard']} of the sequences; the same command without shard= scores them all")
    reasons = incomplete_reasons(metrics)
    if reasons:
        lines.append("INCOMPLETE: " + "; ".join(reasons))
    print("\n".join(lines))
