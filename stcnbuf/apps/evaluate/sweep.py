"""Summaries of Hydra multiruns: one row per run (swept values, J&F, J, F, fps, peak memory) and plots.

Written automatically at the end of ``python eval.py -m ...`` (a Hydra callback) into the multirun folder;
``python -m stcnbuf.apps.evaluate.sweep MULTIRUN_DIR`` rebuilds them.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from stcnbuf.io.atomic import atomic_write, atomic_write_text

log = logging.getLogger(__name__)
RESULT_COLUMNS = ("J&F-Mean", "J-Mean", "F-Mean", "fps", "peak_memory_mb")


def _parse(value: str) -> Any:
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


def collect_runs(sweep_dir: Path) -> List[Dict[str, Any]]:
    """Every finished run under ``sweep_dir``: its overrides and its metrics."""
    runs = []
    for metrics_file in sorted(sweep_dir.glob("*/metrics.json"), key=lambda p: (len(p.parent.name), p.parent.name)):
        overrides_file = metrics_file.parent / ".hydra" / "overrides.yaml"
        overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.is_file() else []
        values = {}
        for item in overrides or []:
            key, _, value = item.partition("=")
            values[key.lstrip("+~")] = _parse(value)
        metrics = json.loads(metrics_file.read_text())
        runs.append({"run": metrics_file.parent.name, "overrides": values,
                     "results": {k: metrics.get(k) for k in RESULT_COLUMNS}, "complete": metrics.get("complete", True)})
    return runs


def swept_keys(runs: List[Dict[str, Any]]) -> List[str]:
    """Override keys whose value differs between runs, in first-seen order."""
    keys: List[str] = []
    for run in runs:
        keys.extend(k for k in run["overrides"] if k not in keys)
    return [k for k in keys if len({json.dumps(r["overrides"].get(k), default=str) for r in runs}) > 1]


def summary_rows(runs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    keys = swept_keys(runs)
    return [{"run": r["run"], **{k: r["overrides"].get(k) for k in keys}, **r["results"],
             "complete": r["complete"]} for r in runs]


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return "" if value is None else str(value)


def write_summary(sweep_dir: Path) -> Optional[Path]:
    """Write ``summary.csv``, ``summary.md`` and ``summary.png`` into ``sweep_dir``; returns the CSV path."""
    runs = collect_runs(sweep_dir)
    if not runs:
        log.warning("no finished runs (metrics.json) under %s: no summary written", sweep_dir)
        return None
    rows = summary_rows(runs)
    columns = list(rows[0])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(sweep_dir / "summary.csv", buffer.getvalue())
    table = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    table += ["| " + " | ".join(_format(row[c]) for c in columns) + " |" for row in rows]
    atomic_write_text(sweep_dir / "summary.md", "\n".join(table) + "\n")
    plot_summary(runs, sweep_dir / "summary.png")
    log.info("sweep summary: %s", sweep_dir / "summary.csv")
    return sweep_dir / "summary.csv"


def plot_summary(runs: List[Dict[str, Any]], path: Path) -> None:
    """J&F and fps against the swept numeric parameter (``memory.capacity`` when swept), a line per
    combination of the other swept values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = swept_keys(runs)
    numeric = [k for k in keys if all(isinstance(r["overrides"].get(k), (int, float)) for r in runs)]
    x_key = "memory.capacity" if "memory.capacity" in numeric else (numeric[0] if numeric else None)
    others = [k for k in keys if k != x_key]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    groups: Dict[tuple, List[Dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(tuple(run["overrides"].get(k) for k in others), []).append(run)
    for ax, metric, label in zip(axes, ("J&F-Mean", "fps"), ("J&F", "frames per second")):
        for group, members in groups.items():
            name = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in zip(others, group)) or "runs"
            if x_key is None:
                xs = list(range(len(members)))
            else:
                members = sorted(members, key=lambda r: r["overrides"][x_key])
                xs = [r["overrides"][x_key] for r in members]
            ys = [r["results"][metric] for r in members]
            points = [(x, y) for x, y in zip(xs, ys) if y is not None]
            if points:
                ax.plot(*zip(*points), marker="o", label=name)
        ax.set(xlabel=x_key or "run", ylabel=label, title=f"{label} per run")
        ax.grid(alpha=0.3)
        if len(groups) > 1:
            ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


class SweepSummaryCallback(Callback):
    """Hydra callback: summarise the multirun folder when the sweep ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        write_summary(Path(config.hydra.sweep.dir))


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stcnbuf.apps.evaluate.sweep", description=__doc__.split("\n")[0])
    parser.add_argument("sweep_dir", type=Path)
    args = parser.parse_args(argv)
    path = write_summary(args.sweep_dir)
    if path is None:
        parser.exit(1, f"no finished runs under {args.sweep_dir}\n")
    print((args.sweep_dir / "summary.md").read_text())


if __name__ == "__main__":
    main()
