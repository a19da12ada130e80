"""Each object's scores as a run folder records them, and the tables that compare runs on the same objects."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np

#: (sequence, object id)
ObjectKey = Tuple[str, int]
METRICS = ("J&F", "J", "F")


def read_object_scores(folder: Path) -> Dict[ObjectKey, Tuple[float, float]]:
    """``(sequence, object id) -> (J, F)`` of a run folder, from its ``per-sequence_results-<set>.csv`` (rows
    ``<sequence>_<id>``, the kits' layout); empty when the run wrote none."""
    found = sorted(Path(folder).glob("per-sequence_results-*.csv"))
    scores: Dict[ObjectKey, Tuple[float, float]] = {}
    for path in found[:1]:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                name, _, oid = row["Sequence"].rpartition("_")
                if name and oid.isdigit():
                    scores[(name, int(oid))] = (float(row["J-Mean"]), float(row["F-Mean"]))
    return scores


def metric_value(scores: Tuple[float, float], metric: str) -> float:
    """``J``, ``F`` or ``J&F`` (their mean) of one object's ``(J, F)``."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    j, f = scores
    return {"J": j, "F": f, "J&F": (j + f) / 2}[metric]


def common_objects(runs: Sequence[Mapping[ObjectKey, object]]) -> List[ObjectKey]:
    """The objects every run scored, sorted (a comparison is paired on these alone)."""
    if not runs:
        return []
    keys = set(runs[0])
    for run in runs[1:]:
        keys &= set(run)
    return sorted(keys)


def score_table(settings: Mapping[str, Sequence[Mapping[ObjectKey, Tuple[float, float]]]], objects: Sequence[ObjectKey],
                metric: str = "J&F", event: int | None = None) -> Tuple[Dict[str, np.ndarray], List[str]]:
    """Per setting an array ``(runs, objects)`` of ``metric`` on ``objects`` (each setting a list of runs, e.g.
    its seeds), and each object's sequence (the bootstrap's unit); with ``event``, only objects of that id."""
    chosen = [key for key in objects if event is None or key[1] == event]
    table = {name: np.array([[metric_value(run[key], metric) for key in chosen] for run in runs])
             for name, runs in settings.items()}
    return table, [key[0] for key in chosen]
