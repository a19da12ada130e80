"""Score a folder of predictions against a dataset under its protocol: the figures and tables of ``eval.py`` and
of the scoring command alike."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from stcnbuf.datasets.base import VOSDataset
from stcnbuf.scoring.scorer import (GLOBAL_COLUMNS, LVOS_COLUMNS, LVOS_OFFICIAL_COLUMNS, EvaluationResult,
                                    check_extra_ids, score_jobs, sequence_job, table_names, write_global_csv,
                                    write_per_sequence_csv)

log = logging.getLogger(__name__)


def set_name(dataset: VOSDataset) -> str:
    """The set a dataset's tables are named after (the kits' ``--set``): its split, else its name."""
    return str(getattr(dataset, "split", None) or dataset.name)


def global_columns(protocol: str) -> tuple:
    """The global table's columns under ``protocol``."""
    if protocol == "lvos_official":
        return LVOS_OFFICIAL_COLUMNS
    return LVOS_COLUMNS if protocol == "lvos" else GLOBAL_COLUMNS


def _json_number(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def score_predictions(dataset: VOSDataset, predictions: Path, names: Sequence[str], workers: Optional[int] = None,
                      out: Optional[Path] = None, extra_ids: str = "error") -> Dict[str, Any]:
    """Score ``predictions/<sequence>/<frame>.png`` for the sequences ``names`` of ``dataset``.

    Returns the headline figures of the dataset's protocol (``None`` for a figure the protocol leaves undefined,
    e.g. the official LVOS ones without unseen videos), ``seen`` / ``unseen`` (where the dataset lists unseen
    videos), ``J&F-by-tenth``, ``scoring_protocol``, ``scored_sequences``, ``unscored_sequences`` (name ->
    reason), ``scoring_notes``; or ``scoring_error`` when nothing could be scored. With ``out``, writes the global
    and per-sequence tables there under the official kits' names (:func:`~stcnbuf.scoring.scorer.table_names`).
    ``extra_ids``: what a predicted id that the objects lack does (:data:`~stcnbuf.scoring.scorer.EXTRA_IDS`).
    """
    check_extra_ids(extra_ids)
    jobs, unscored = [], {}
    for name in names:
        try:
            jobs.append(sequence_job(dataset.sequence(name), Path(predictions) / name, dataset.gt_binary,
                                     dataset.protocol, extra_ids))
        except (OSError, ValueError) as error:
            unscored[name] = str(error)
    try:
        result = score_jobs(jobs, workers=workers)
        unscored.update(result.unscored)
        headline = result.headline(dataset.protocol, dataset.unseen)
    except (OSError, ValueError, RuntimeError) as error:  # the predictions stay; the caller says why
        log.error("scoring failed: %s", error)
        return {"scoring_error": str(error), "unscored_sequences": unscored}
    for name, reason in unscored.items():
        log.error("%s is not scored: %s", name, reason)
    notes = dict(result.notes)
    undefined = [key for key, value in headline.items() if math.isnan(value)]
    if undefined:
        notes["(all)"] = (f"{', '.join(undefined)} undefined: the official LVOS toolkit averages the seen and the "
                          "unseen videos' figures, and one group is empty (give its unseen_videos.txt as "
                          "data.unseen to score the videos as the toolkit does)")
    for name, note in notes.items():
        log.warning("%s: %s", name, note)
    if out is not None:
        global_table, sequence_table = table_names(set_name(dataset))
        write_global_csv(result, Path(out) / global_table, global_columns(dataset.protocol), headline)
        write_per_sequence_csv(result, Path(out) / sequence_table, with_v=dataset.protocol.startswith("lvos"))
    return {**{key: _json_number(value) for key, value in headline.items()},
            **_seen_and_unseen(result, dataset.unseen), "J&F-by-tenth": result.by_time(),
            "scoring_protocol": dataset.protocol, "scored_sequences": len(jobs) - len(result.unscored),
            "unscored_sequences": unscored, "scoring_notes": notes}


def _seen_and_unseen(result: EvaluationResult, unseen: Optional[Sequence[str]]) -> Dict[str, Any]:
    """The object-weighted global metrics of the seen and of the unseen videos, where the dataset has such a list
    (LVOS)."""
    if unseen is None:
        return {}
    scored = {o.sequence for o in result.objects}
    groups = {"unseen": scored & set(unseen), "seen": scored - set(unseen)}
    return {name: result.global_metrics(names) if names else None for name, names in groups.items()}
