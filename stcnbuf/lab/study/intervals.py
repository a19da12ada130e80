"""The study's intervals: every run's J&F and event J&F with a bootstrap interval over the sequences, its paired
difference to a reference run, and the headline differences (each policy against the reference at its
capacity, the ring against none, each burn-in run against the same memory online), with a run's other memory
seeds as a second level (:mod:`stcnbuf.scoring.bootstrap`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from stcnbuf.lab.synthetic.long import EVENTS
from stcnbuf.scoring.bootstrap import CONFIDENCE, RESAMPLES, Interval, PairedBootstrap
from stcnbuf.scoring.object_scores import common_objects, read_object_scores, score_table


@dataclass(frozen=True)
class StudyIntervals:
    """Intervals in % points: ``runs`` (run -> column -> interval), ``differences`` (run -> J&F difference to
    ``reference``), ``settings`` (a run with its other seeds: name, runs, column -> interval, J&F difference),
    ``pairs`` (label -> column -> difference), ``burn_in`` (burn-in run -> its J&F difference to the same memory
    online), over ``sequences`` sequences and ``objects`` objects."""

    reference: str
    columns: Tuple[str, ...]
    confidence: float
    resamples: int
    sequences: int
    objects: int
    runs: Dict[str, Dict[str, Interval]] = field(default_factory=dict)
    differences: Dict[str, Interval] = field(default_factory=dict)
    settings: List[Tuple[str, List[str], Dict[str, Interval], Optional[Interval]]] = field(default_factory=list)
    pairs: List[Tuple[str, Dict[str, Interval]]] = field(default_factory=list)
    burn_in: Dict[str, Interval] = field(default_factory=dict)


def setting_name(row: Dict[str, Any]) -> str:
    """The run a row is another memory seed of (``<run>-seed<k>`` -> ``<run>``), else its own name."""
    return row["run"].rsplit("-seed", 1)[0] if row["seed"] else row["run"]


def headline_pairs(rows: Sequence[Dict[str, Any]], reference: str) -> List[Tuple[str, str, str]]:
    """``(label, run, against)``: every online policy at the reference's capacity against the reference, the
    unbounded memory with the ring against it without, every burn-in run against the same memory online."""
    names = {setting_name(r) for r in rows}
    by_name = {r["run"]: r for r in rows}
    pairs = []
    capacity = by_name[reference]["capacity"] if reference in by_name else None
    pairs += [(f"{r['run']} - {reference}", r["run"], reference) for r in rows
              if r["group"] == "policy" and not r["seed"] and r["run"] != reference and r["capacity"] == capacity]
    if {"unbounded", "unbounded-ring"} <= names:
        pairs.append(("unbounded-ring - unbounded (the ring)", "unbounded-ring", "unbounded"))
    for r in rows:
        online = f"{r['policy']}-c{r['capacity']}"
        if r["group"] == "burn_in" and online in names:
            pairs.append((f"{r['run']} - {online} (burn-in)", r["run"], online))
    return pairs


def study_intervals(rows: Sequence[Dict[str, Any]], runs_dir: Path, reference: Optional[str] = None,
                    confidence: float = CONFIDENCE, resamples: int = RESAMPLES, seed: int = 0
                    ) -> Optional[StudyIntervals]:
    """The intervals of the study's ``rows`` (:func:`~stcnbuf.lab.study.summary.collect`) from each run's
    per-object scores in ``runs_dir``, paired on the objects every run scored; ``reference`` (a run name)
    defaults to the first run. ``None`` where no run recorded per-object scores."""
    scores = {r["run"]: read_object_scores(runs_dir / r["run"]) for r in rows}
    scores = {name: s for name, s in scores.items() if s}
    objects = common_objects(list(scores.values()))
    if not objects:
        return None
    rows = [r for r in rows if r["run"] in scores]
    reference = reference or rows[0]["run"]
    if reference not in scores:
        raise ValueError(f"reference run {reference!r} is not among the finished runs: "
                         f"{', '.join(r['run'] for r in rows)}")
    events = rows[0]["dataset"] == "synthetic_long"   # its object ids are its events
    columns = [("J&F", None)] + ([(f"J&F {e}", i + 1) for i, e in enumerate(EVENTS)] if events else [])
    merged: Dict[str, List[str]] = {}
    for r in rows:
        merged.setdefault(setting_name(r), []).append(r["run"])
    result = StudyIntervals(reference, tuple(c for c, _ in columns), confidence, resamples,
                            len({o[0] for o in objects}), len(objects))
    per_setting: Dict[str, Dict[str, Interval]] = {name: {} for name in merged}
    setting_differences: Dict[str, Optional[Interval]] = {}
    pairs = headline_pairs(rows, reference)
    pair_values: Dict[str, Dict[str, Interval]] = {label: {} for label, _, _ in pairs}
    for column, event in columns:
        table, groups = score_table({r["run"]: [scores[r["run"]]] for r in rows}, objects, event=event)
        if not groups:
            continue
        boot = PairedBootstrap(table, groups, resamples, seed)
        for r in rows:
            result.runs.setdefault(r["run"], {})[column] = boot.interval(r["run"], confidence).scaled(100)
            if column == "J&F" and r["run"] != reference:
                result.differences[r["run"]] = boot.difference(r["run"], reference, confidence).scaled(100)
        table, groups = score_table({name: [scores[run] for run in members] for name, members in merged.items()},
                                    objects, event=event)
        boot = PairedBootstrap(table, groups, resamples, seed)
        base = reference if reference in merged else setting_name(next(r for r in rows if r["run"] == reference))
        for name in merged:
            per_setting[name][column] = boot.interval(name, confidence).scaled(100)
            if column == "J&F":
                setting_differences[name] = (None if name == base
                                             else boot.difference(name, base, confidence).scaled(100))
        for label, run, against in pairs:
            pair_values[label][column] = boot.difference(run, against, confidence).scaled(100)
    result.settings.extend((name, members, per_setting[name], setting_differences.get(name))
                           for name, members in merged.items())
    result.pairs.extend((label, pair_values[label]) for label, _, _ in pairs)
    result.burn_in.update((run, pair_values[label]["J&F"]) for label, run, _ in pairs
                          if label.endswith("(burn-in)") and "J&F" in pair_values[label])
    return result


def interval_cell(interval: Optional[Interval], signed: bool = False) -> str:
    """``value [low, high]`` to one decimal (``+`` signs for differences; ``*`` where it excludes 0, and then a
    bound near 0 to two significant digits)."""
    if interval is None:
        return ""
    form = "{:+.1f}" if signed else "{:.1f}"

    def bound(value: float) -> str:  # a bound that excludes 0 never reads as 0.0
        return "{:+.2g}".format(value) if signed and interval.excludes_zero and round(value, 1) == 0 else \
            form.format(value)

    text = f"{form.format(interval.value)} [{bound(interval.low)}, {bound(interval.high)}]"
    return text + (" *" if signed and interval.excludes_zero else "")
