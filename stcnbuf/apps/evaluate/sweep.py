"""Summaries of Hydra multiruns: one row per setting (swept values, J&F with its bootstrap interval, the
paired difference to a reference setting, J, F, fps, peak memory; failed jobs marked) and plots.

Every setting of a sweep is scored on the same objects, so the intervals come from a paired bootstrap over the
sequences (:mod:`stcnbuf.scoring.bootstrap`); runs that differ only in a seed (``memory.seed``, training
``seed``) are one setting whose value is the mean over its seeds and whose interval includes their spread.

Written automatically into the multirun folder as each job of ``python eval.py -m ...`` or
``python train.py -m ...`` ends and when the sweep ends (a Hydra callback); a job that raises is recorded in its
folder's ``failed.json`` and marked in the summary. A training sweep whose jobs also evaluated ``transfer_data``
gets a second summary of that set (``summary_transfer.*``). ``stcnbuf-sweep-summary MULTIRUN_DIR
[--reference ...]`` rebuilds them.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from stcnbuf.io.atomic import atomic_write, atomic_write_text
from stcnbuf.scoring.bootstrap import CONFIDENCE, RESAMPLES, Interval, PairedBootstrap
from stcnbuf.scoring.object_scores import METRICS, common_objects, read_object_scores, score_table

log = logging.getLogger(__name__)
RESULT_COLUMNS = ("J&F-Mean", "J-Mean", "F-Mean", "fps", "peak_memory_mb")
#: override keys that draw a seed: runs differing only in these are one setting
SEED_KEYS = ("memory.seed", "seed")
FAILED_FILE = "failed.json"
#: each summary (its files' name) with where a job's results for it are: an eval job's folder or a training job's
#: evaluation of its best checkpoint; a training job's evaluation on ``transfer_data``
SUMMARIES = {"summary": ("metrics.json", "eval/metrics.json"), "summary_transfer": ("eval_transfer/metrics.json",)}
#: how the summary lines name a summary's data
SUMMARY_LABELS = {"summary": "", "summary_transfer": "transfer_data: "}


@dataclass(frozen=True)
class SummaryOptions:
    """How settings are compared: ``reference`` (``"key=value ..."`` of the swept keys, or a job number;
    default the first setting), the interval's ``confidence``, the bootstrap's ``resamples`` and ``seed``."""

    reference: Optional[str] = None
    confidence: float = CONFIDENCE
    resamples: int = RESAMPLES
    seed: int = 0

    @classmethod
    def from_config(cls, config: Optional[DictConfig]) -> "SummaryOptions":
        """The options of a run config's ``summary`` node (absent keys keep their defaults)."""
        node = config.get("summary") if config is not None else None
        values = OmegaConf.to_container(node, resolve=True) if node is not None else {}
        return cls(**{k: v for k, v in values.items() if v is not None or k == "reference"})


def _parse(value: str) -> Any:
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


def _override_values(overrides: Sequence[str]) -> Dict[str, Any]:
    values = {}
    for item in overrides or []:
        key, _, value = item.partition("=")
        values[key.lstrip("+~")] = _parse(value)
    return values


def _job_order(folder: Path) -> Tuple[int, str]:
    return len(folder.name), folder.name


def collect_runs(sweep_dir: Path, summary: str = "summary") -> List[Dict[str, Any]]:
    """Every job under ``sweep_dir`` that finished (its metrics for ``summary``, a key of :data:`SUMMARIES`) or
    failed (its ``failed.json``): its overrides, results, where its object scores are, and the error of a
    failed job."""
    runs = []
    for job in sorted((p for p in sweep_dir.iterdir() if p.is_dir()), key=_job_order):
        metrics_file = next((job / name for name in SUMMARIES[summary] if (job / name).is_file()), None)
        failed_file = job / FAILED_FILE
        if metrics_file is None and not failed_file.is_file():
            continue
        overrides_file = job / ".hydra" / "overrides.yaml"
        if metrics_file is not None:
            overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.is_file() else []
            metrics = json.loads(metrics_file.read_text())
            runs.append({"run": job.name, "overrides": _override_values(overrides),
                         "results": {k: metrics.get(k) for k in RESULT_COLUMNS},
                         "complete": metrics.get("complete", True), "error": None,
                         "objects": read_object_scores(metrics_file.parent)})
        else:
            failure = json.loads(failed_file.read_text())
            runs.append({"run": job.name, "overrides": _override_values(failure.get("overrides", [])),
                         "results": {k: None for k in RESULT_COLUMNS}, "complete": False,
                         "error": failure.get("error", "failed"), "objects": {}})
    return runs


def swept_keys(runs: List[Dict[str, Any]]) -> List[str]:
    """Override keys whose value differs between runs, in first-seen order."""
    keys: List[str] = []
    for run in runs:
        keys.extend(k for k in run["overrides"] if k not in keys)
    return [k for k in keys if len({json.dumps(r["overrides"].get(k), default=str) for r in runs}) > 1]


def group_settings(runs: List[Dict[str, Any]]) -> Tuple[List[str], List[str], Dict[str, List[Dict[str, Any]]]]:
    """The setting keys (swept keys but seeds), the seed keys swept, and each setting's runs by its name
    (``key=value`` of the setting keys, or ``run <n>`` when only seeds vary), in job order."""
    keys = swept_keys(runs)
    seed_keys = [k for k in keys if k in SEED_KEYS]
    setting_keys = [k for k in keys if k not in SEED_KEYS]
    settings: Dict[str, List[Dict[str, Any]]] = {}
    for run in runs:
        name = " ".join(f"{k}={run['overrides'].get(k)}" for k in setting_keys) or (
            "all runs" if seed_keys else f"run {run['run']}")
        settings.setdefault(name, []).append(run)
    return setting_keys, seed_keys, settings


def find_reference(settings: Dict[str, List[Dict[str, Any]]], reference: Optional[str]) -> str:
    """The setting that ``reference`` names: ``key=value`` pairs (separated by spaces or commas) of the swept
    keys, or a job number; default the first setting."""
    names = list(settings)
    if reference is None or str(reference).strip() == "":
        return names[0]
    wanted = str(reference).strip()
    by_job = [n for n, runs in settings.items() if any(r["run"] == wanted for r in runs)]
    if by_job:
        return by_job[0]
    pairs = _override_values(wanted.replace(",", " ").split())
    matches = [n for n, runs in settings.items() if all(runs[0]["overrides"].get(k) == v for k, v in pairs.items())]
    if len(matches) != 1:
        found = "none" if not matches else f"{len(matches)}: {'; '.join(matches)}"
        raise ValueError(f"summary.reference={wanted!r} must name one setting of the sweep, matched {found}; give "
                         f"a job number or key=value pairs of one of: {'; '.join(names)}")
    return matches[0]


def _comparisons(settings: Dict[str, List[Dict[str, Any]]], reference: str, options: SummaryOptions,
                 metric: str = "J&F") -> Tuple[Dict[str, Tuple[Interval, Optional[Interval]]], int, int]:
    """Per setting with scores: its ``metric`` with its interval and its difference to ``reference``; the
    number of objects and sequences compared."""
    scored = {name: [r["objects"] for r in runs if r["objects"]] for name, runs in settings.items()}
    scored = {name: runs for name, runs in scored.items() if runs}
    objects = common_objects([run for runs in scored.values() for run in runs])
    if not objects:
        return {}, 0, 0
    table, groups = score_table(scored, objects, metric)
    boot = PairedBootstrap(table, groups, options.resamples, options.seed)
    result = {name: (boot.interval(name, options.confidence),
                     boot.difference(name, reference, options.confidence)
                     if reference in table and name != reference else None) for name in table}
    return result, len(objects), len(set(groups))


def summary_rows(runs: List[Dict[str, Any]], options: SummaryOptions = SummaryOptions()) -> List[Dict[str, Any]]:
    """One row per setting: its jobs, swept values, seeds, J&F with its interval, the difference to the
    reference with its paired interval, and whether that interval excludes 0; means of the other results over
    the setting's finished jobs; failed jobs named."""
    setting_keys, seed_keys, settings = group_settings(runs)
    reference = find_reference(settings, options.reference)
    compared, _, _ = _comparisons(settings, reference, options)
    rows = []
    for name, members in settings.items():
        done = [r for r in members if r["error"] is None]
        row: Dict[str, Any] = {"run": " ".join(r["run"] for r in members),
                               **{k: members[0]["overrides"].get(k) for k in setting_keys}}
        if seed_keys:
            row["seeds"] = " ".join(str(r["overrides"].get(k)) for r in done for k in seed_keys)
        mean, difference = compared.get(name, (None, None))
        row.update({"J&F-Mean": mean.value if mean else _mean(done, "J&F-Mean"),
                    "J&F-low": mean.low if mean else None, "J&F-high": mean.high if mean else None,
                    "reference": name == reference,
                    "J&F-diff": difference.value if difference else None,
                    "J&F-diff-low": difference.low if difference else None,
                    "J&F-diff-high": difference.high if difference else None,
                    "differs": (difference.excludes_zero if difference else None)})
        row.update({k: _mean(done, k) for k in RESULT_COLUMNS if k != "J&F-Mean"})
        row["complete"] = bool(done) and all(r["complete"] for r in members)
        row["failed"] = "; ".join(f"job {r['run']}: {r['error']}" for r in members if r["error"]) or None
        rows.append(row)
    return rows


def _mean(runs: List[Dict[str, Any]], key: str) -> Optional[float]:
    values = [r["results"][key] for r in runs if r["results"].get(key) is not None]
    return sum(values) / len(values) if values else None


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return "" if value is None else str(value)


def summary_lines(runs: List[Dict[str, Any]], options: SummaryOptions = SummaryOptions(),
                  label: str = "") -> List[str]:
    """One line per metric (J&F, J, F) and setting, starting with ``label``: its mean over the setting's runs
    (seeds) in %, with the interval over sequences and seeds; failed jobs last."""
    _, seed_keys, settings = group_settings(runs)
    reference = find_reference(settings, options.reference)
    lines = []
    for metric in METRICS:
        compared, n_objects, n_sequences = _comparisons(settings, reference, options, metric)
        for name, (mean, difference) in compared.items():
            done = len([r for r in settings[name] if r["objects"]])
            versus = "" if difference is None else (
                f"; {100 * difference.value:+.1f} [{100 * difference.low:+.1f}, {100 * difference.high:+.1f}] "
                f"against {reference}" + (" (differs)" if difference.excludes_zero else ""))
            lines.append(f"{label}{metric} {100 * mean.value:.1f} [{100 * mean.low:.1f}, {100 * mean.high:.1f}] "
                         f"{name}: {done} run(s){' (seeds)' if seed_keys and done > 1 else ''}, "
                         f"{n_sequences} sequences, {n_objects} objects{versus}")
    lines += [f"FAILED job {r['run']} ({' '.join(f'{k}={v}' for k, v in r['overrides'].items())}): {r['error']}"
              for r in runs if r["error"]]
    return lines


def write_summary(sweep_dir: Path, options: SummaryOptions = SummaryOptions(),
                  summary: str = "summary") -> Optional[Path]:
    """Write ``<summary>.csv``, ``.md`` and ``.png`` into ``sweep_dir`` (``summary``: a key of
    :data:`SUMMARIES`); returns the CSV path."""
    runs = collect_runs(sweep_dir, summary)
    if not runs:
        log.warning("no finished or failed runs (metrics.json, failed.json) under %s: no summary written", sweep_dir)
        return None
    rows = summary_rows(runs, options)
    columns = list(rows[0])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(sweep_dir / f"{summary}.csv", buffer.getvalue())
    _, _, settings = group_settings(runs)
    _, n_objects, n_sequences = _comparisons(settings, find_reference(settings, options.reference), options)
    table = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    table += ["| " + " | ".join(_format(row[c]) for c in columns) + " |" for row in rows]
    note = (f"J&F-low/high: {100 * options.confidence:g} % bootstrap interval over {n_sequences} sequences "
            f"({n_objects} objects scored by every setting; {options.resamples} resamples, seed {options.seed}; "
            "seeds of a setting resampled as a second level); J&F-diff: the setting minus the reference "
            "(`reference` yes) with its paired interval; `differs`: that interval excludes 0."
            if n_objects else "No per-object scores: no intervals.")
    failed = [f"- job {r['run']} failed: {r['error']}" for r in runs if r["error"]]
    atomic_write_text(sweep_dir / f"{summary}.md", "\n".join(table + ["", note] + ([""] + failed if failed else []))
                      + "\n")
    plot_summary(rows, sweep_dir / f"{summary}.png")
    log.info("sweep summary: %s", sweep_dir / f"{summary}.csv")
    return sweep_dir / f"{summary}.csv"


def write_summaries(sweep_dir: Path, options: SummaryOptions = SummaryOptions()) -> List[str]:
    """Write the sweep's summary and, where some job has results for it, each other summary of
    :data:`SUMMARIES`; returns the names of those written."""
    written = ["summary"] if write_summary(sweep_dir, options) else []
    for summary, files in list(SUMMARIES.items())[1:]:
        if any((job / name).is_file() for job in sweep_dir.iterdir() for name in files):
            written += [summary] if write_summary(sweep_dir, options, summary) else []
    return written


def all_summary_lines(sweep_dir: Path, summaries: Sequence[str], options: SummaryOptions = SummaryOptions()
                      ) -> List[str]:
    """The lines (:func:`summary_lines`) of each of ``summaries``, labelled with their data after the first; a
    failed job named once."""
    return list(dict.fromkeys(line for summary in summaries for line in
                              summary_lines(collect_runs(sweep_dir, summary), options, SUMMARY_LABELS[summary])))


def plot_summary(rows: List[Dict[str, Any]], path: Path) -> None:
    """J&F (with its interval as error bars) and fps against the swept numeric parameter (``memory.capacity``
    when swept), a line per combination of the other swept values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fixed = {"run", "seeds", "reference", "complete", "failed", "differs"}
    keys = [k for k in rows[0] if k not in fixed and k not in RESULT_COLUMNS and not k.startswith("J&F-")]
    numeric = [k for k in keys if all(isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)
                                      for r in rows)]
    x_key = "memory.capacity" if "memory.capacity" in numeric else (numeric[0] if numeric else None)
    others = [k for k in keys if k != x_key]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    groups: Dict[tuple, List[Dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(k) for k in others), []).append(row)
    for ax, metric, label in zip(axes, ("J&F-Mean", "fps"), ("J&F", "frames per second")):
        for group, members in groups.items():
            name = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in zip(others, group)) or "runs"
            if x_key is not None:
                members = sorted(members, key=lambda r: r[x_key])
            xs = [r[x_key] for r in members] if x_key is not None else list(range(len(members)))
            points = [(x, r) for x, r in zip(xs, members) if r[metric] is not None]
            if not points:
                continue
            x, ys = [p[0] for p in points], [p[1][metric] for p in points]
            if metric == "J&F-Mean" and all(p[1]["J&F-low"] is not None for p in points):
                errors = [[y - p[1]["J&F-low"] for y, p in zip(ys, points)],
                          [p[1]["J&F-high"] - y for y, p in zip(ys, points)]]
                ax.errorbar(x, ys, yerr=errors, marker="o", capsize=3, label=name)
            else:
                ax.plot(x, ys, marker="o", label=name)
        ax.set(xlabel=x_key or "setting", ylabel=label,
               title=f"{label} per setting" + (" (bootstrap interval)" if metric == "J&F-Mean" else ""))
        ax.grid(alpha=0.3)
        if len(groups) > 1:
            ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def record_failure(job_dir: Path, overrides: Sequence[str], error: BaseException) -> Path:
    """Write ``job_dir/failed.json``: the job's overrides and its error, which the summary marks."""
    target = Path(job_dir) / FAILED_FILE
    atomic_write_text(target, json.dumps({"overrides": list(overrides),
                                          "error": f"{type(error).__name__}: {error}"}, indent=1) + "\n")
    return target


class SweepSummaryCallback(Callback):
    """Hydra callback: record a job that raised, rewrite the multirun folder's summary as each job ends (so a
    job that fails, whose error ends the sweep before its end, loses nothing), and print the summary lines when
    the sweep ends."""

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        hydra = config.get("hydra")
        if hydra is None or hydra.get("mode") != RunMode.MULTIRUN:
            return
        job_dir = Path(hydra.runtime.output_dir)
        if job_return.status == JobStatus.FAILED:
            record_failure(job_dir, list(hydra.overrides.task), job_return._return_value)  # the exception
        else:
            (job_dir / FAILED_FILE).unlink(missing_ok=True)
        self._write(Path(hydra.sweep.dir), config)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        written = self._write(sweep_dir, config)
        if written:
            print("\n".join(all_summary_lines(sweep_dir, written, SummaryOptions.from_config(config))))

    @staticmethod
    def _write(sweep_dir: Path, config: DictConfig) -> List[str]:
        try:
            return write_summaries(sweep_dir, SummaryOptions.from_config(config))
        except ValueError as error:  # a reference that names no setting: say so, keep the sweep going
            log.error("no sweep summary: %s", error)
            return []


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="stcnbuf-sweep-summary", description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--reference", default=None,
                        help="the setting the others are compared to: key=value pairs of the swept keys "
                             "(e.g. 'memory.capacity=16'), or a job number (default: the first setting)")
    parser.add_argument("--confidence", type=float, default=CONFIDENCE, help="of the intervals (default 0.95)")
    parser.add_argument("--resamples", type=int, default=RESAMPLES, help="bootstrap resamples (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        parser.exit(2, f"{args.sweep_dir} is not a folder: give a multirun folder (logs/eval/multiruns/<time>)\n")
    options = SummaryOptions(args.reference, args.confidence, args.resamples, args.seed)
    try:
        written = write_summaries(args.sweep_dir, options)
    except ValueError as error:
        parser.exit(2, f"{error}\n")
    if not written:
        parser.exit(1, f"no finished or failed runs under {args.sweep_dir}\n")
    for summary in written:
        if SUMMARY_LABELS[summary]:
            print(SUMMARY_LABELS[summary].rstrip())
        print((args.sweep_dir / f"{summary}.md").read_text())
    print("\n".join(all_summary_lines(args.sweep_dir, written, options)))
    failed = [r["run"] for r in collect_runs(args.sweep_dir) if r["error"]]
    if failed:
        parser.exit(1, f"failed jobs: {', '.join(failed)}\n")


if __name__ == "__main__":
    main()
