"""The study's summary: a row per finished run (J&F, the J&F of each scheduled event's object, fps, peak memory,
J&F per tenth of the videos), written as ``study.csv``, the tables of ``study.md`` and the plots."""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from stcnbuf.io.atomic import atomic_write_text
from stcnbuf.lab.study.plots import plot_study
from stcnbuf.lab.study.runner import finished, recorded_machine
from stcnbuf.lab.study.runs import StudyRun
from stcnbuf.lab.study.intervals import StudyIntervals, interval_cell, study_intervals
from stcnbuf.lab.synthetic.long import EVENTS
from stcnbuf.scoring.bootstrap import CONFIDENCE, RESAMPLES
from stcnbuf.scoring.object_scores import metric_value, read_object_scores

log = logging.getLogger(__name__)


def _object_scores(folder: Path) -> Dict[int, float]:
    """Mean J&F of each object id over the sequences of a run."""
    scores: Dict[int, List[float]] = {}
    for (_, oid), value in read_object_scores(folder).items():
        scores.setdefault(oid, []).append(metric_value(value, "J&F"))
    return {oid: sum(v) / len(v) for oid, v in scores.items()}


def collect(runs: Sequence[StudyRun], runs_dir: Path) -> List[Dict[str, Any]]:
    """One row per finished run: its settings, J&F, the J&F of each event's object, fps, peak memory and
    the J&F per tenth."""
    rows = []
    for run in runs:
        folder = runs_dir / run.name
        if not finished(folder):
            continue
        metrics = json.loads((folder / "metrics.json").read_text())
        objects = _object_scores(folder) if metrics.get("dataset") == "synthetic_long" else {}  # ids = events
        rows.append({"run": run.name, "group": run.group, "policy": run.policy, "capacity": run.capacity,
                     "burn_in_passes": run.passes, "order": run.order, "seed": run.seed,
                     "ring": (metrics.get("config") or {}).get("memory", {}).get("temp_size"),
                     "every_frame": run.every_frame if run.group == "burn_in" else None,
                     "treatment": run.treatment,
                     "dataset": metrics.get("dataset"), "sequences": metrics.get("sequences"),
                     "video_frames": (metrics.get("frames") or 0) - (metrics.get("burn_in_frames") or 0),
                     "J&F": _percent(metrics.get("J&F-Mean")), "J": _percent(metrics.get("J-Mean")),
                     "F": _percent(metrics.get("F-Mean")),
                     **{f"J&F {event}": _percent(objects.get(i + 1)) for i, event in enumerate(EVENTS)},
                     "fps": metrics.get("fps"), "peak_memory_mb": metrics.get("peak_memory_mb"),
                     "precision": metrics.get("precision"),
                     "J&F-by-tenth": [_percent(v) for v in metrics.get("J&F-by-tenth") or []]})
    return rows


def _percent(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(100.0 * float(value), 2)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _markdown(rows: List[Dict[str, Any]], columns: Sequence[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _add_intervals(rows: List[Dict[str, Any]], intervals: Optional[StudyIntervals]) -> None:
    """Each row's interval columns (``<column>-low``/``-high``; ``J&F-diff``, the difference to the reference, and
    ``J&F-burn-in``, a burn-in run's difference to the same memory online, each with its own), in %."""
    for row in rows:
        own = intervals.runs.get(row["run"], {}) if intervals else {}
        for column in ("J&F", *(f"J&F {e}" for e in EVENTS)):
            found = own.get(column)
            row[f"{column}-low"] = round(found.low, 2) if found else None
            row[f"{column}-high"] = round(found.high, 2) if found else None
        for column, found in (("J&F-diff", intervals.differences.get(row["run"]) if intervals else None),
                              ("J&F-burn-in", intervals.burn_in.get(row["run"]) if intervals else None)):
            row[column] = round(found.value, 2) if found else None
            row[f"{column}-low"] = round(found.low, 2) if found else None
            row[f"{column}-high"] = round(found.high, 2) if found else None


def _interval_tables(intervals: StudyIntervals) -> List[str]:
    """The Markdown of the settings' intervals and the headline differences."""
    events = [c for c in intervals.columns if c != "J&F"]
    level = f"{100 * intervals.confidence:g} %"
    text = ["## Intervals", "",
            f"Each setting's J&F with its {level} bootstrap interval over the {intervals.sequences} sequences "
            f"(resampled with their objects; {intervals.objects} objects scored by every run; {intervals.resamples} "
            "resamples), and its paired difference to the reference "
            f"`{intervals.reference}`; a setting with other memory seeds is the mean over its seeds, which the "
            "bootstrap resamples as a second level. `*`: the interval of the difference excludes 0.", "",
            _markdown([{"setting": name, "runs": len(members), "J&F": interval_cell(values.get("J&F")),
                        f"difference to {intervals.reference}": interval_cell(difference, signed=True),
                        **{e: interval_cell(values.get(e)) for e in events}}
                       for name, members, values, difference in intervals.settings],
                      ["setting", "runs", "J&F", f"difference to {intervals.reference}", *events])]
    if intervals.pairs:
        text += ["## Headline differences", "",
                 f"Paired differences in J&F points with their {level} intervals (`*`: excludes 0).", "",
                 _markdown([{"difference": label, **{c: interval_cell(values.get(c), signed=True)
                                                     for c in intervals.columns}}
                            for label, values in intervals.pairs], ["difference", *intervals.columns])]
    return text


def write_summary(runs: Sequence[StudyRun], out: Path, runs_dir: Path, command: str,
                  reference: Optional[str] = None, confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
                  seed: int = 0) -> Optional[Path]:
    """``study.csv``, ``study.md`` and the plots in ``out`` for the runs finished in ``runs_dir``, with the
    intervals of :func:`~stcnbuf.lab.study.intervals.study_intervals` against ``reference`` (a run name; default
    the first run); returns the Markdown path."""
    rows = collect(runs, runs_dir)
    if not rows:
        log.warning("no finished study runs under %s", runs_dir)
        return None
    out.mkdir(parents=True, exist_ok=True)
    intervals = study_intervals(rows, runs_dir, reference, confidence, resamples, seed)
    _add_intervals(rows, intervals)
    flat = [{k: v for k, v in r.items() if k != "J&F-by-tenth"} for r in rows]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(flat[0]) + ["J&F-by-tenth"], lineterminator="\n")
    writer.writeheader()
    writer.writerows({**f, "J&F-by-tenth": " ".join(_cell(v) for v in r["J&F-by-tenth"])} for f, r in zip(flat, rows))
    atomic_write_text(out / "study.csv", buffer.getvalue())
    events = [e for e in (f"J&F {e}" for e in EVENTS) if any(r[e] is not None for r in flat)]
    policy_rows = [r for r in flat if r["group"] == "policy"]
    burn_rows = [r for r in flat if r["group"] == "burn_in"]
    datasets = ", ".join(sorted({f"{r['dataset']} ({r['sequences']} sequences, {r['video_frames']} frames)"
                                 for r in flat}))
    text = ["# Buffer study", "",
            f"Command: `{command}`", "",
            f"Data: {datasets}", "",
            f"Machine: {recorded_machine(runs_dir) or 'not recorded'}", "",
            "Precision: " + (", ".join(sorted({str(r["precision"]) for r in flat if r["precision"]}))
                             or "not recorded by the runs (inference.precision as set; auto: bf16 on a CPU "
                                "with AVX-512 BF16 or AMX)"), "",
            "J&F in %" + ("; `J&F <event>` is the J&F of the object given that event (see "
                          "stcnbuf/lab/synthetic/long.py: absence = away longer than capacity x mem_every, drift = slow "
                          "colour change, abrupt = sudden colour change, late = enters late and leaves)." if events
                          else "."), ""]
    text += _interval_tables(intervals) if intervals else ["No per-object scores: no intervals.", ""]
    if policy_rows:
        text += ["## Policy x capacity (online, no burn-in)", "",
                 _markdown(policy_rows, ["policy", "capacity", "ring", "seed", "J&F", "J", "F", *events, "fps",
                                         "peak_memory_mb"])]
    if burn_rows:
        text += ["## Burn-in passes x order (offline)", "",
                 _markdown(burn_rows, ["policy", "capacity", "burn_in_passes", "order", "every_frame", "treatment", "J&F",
                                       *events, "fps", "peak_memory_mb"])]
    text += ["## J&F per tenth of the videos", "",
             _markdown([{"run": r["run"], **{f"{i + 1}": v for i, v in enumerate(r["J&F-by-tenth"])}} for r in rows],
                       ["run", *[str(i + 1) for i in range(10)]])]
    atomic_write_text(out / "study.md", "\n".join(text))
    plot_study(rows, out)
    return out / "study.md"
