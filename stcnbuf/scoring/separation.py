"""How well a per-object-frame confidence separates bad frames from good ones: the AUROC of the confidence for
frames with J below a threshold and its Spearman rank correlation with J (ties get their average rank in both,
as scikit-learn's ``roc_auc_score`` and SciPy's ``spearmanr`` do)."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from stcnbuf.scoring.metrics import jaccard

#: frames with J below this are the bad ones the confidence should flag
BAD_J = 0.5


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """The 1-based ranks of ``values``, tied values sharing the mean of their ranks."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    ordered = values[order]
    start = 0
    while start < len(values):
        stop = start + 1
        while stop < len(values) and ordered[stop] == ordered[start]:
            stop += 1
        ranks[order[start:stop]] = (start + 1 + stop) / 2
        start = stop
    return ranks


def auroc_of_low_scores(scores: Sequence[float], positive: Sequence[bool]) -> Optional[float]:
    """The probability that a negative frame scores higher than a positive one (ties count one half): the
    area under the ROC curve of ``-scores`` for detecting the ``positive`` frames. ``None`` when either class
    is empty."""
    scores, positive = np.asarray(scores, dtype=np.float64), np.asarray(positive, dtype=bool)
    if scores.shape != positive.shape:
        raise ValueError(f"{len(scores)} scores but {len(positive)} labels")
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = average_ranks(scores)
    u = ranks[~positive].sum() - n_neg * (n_neg + 1) / 2  # pairs where the negative scores higher, ties 1/2
    return float(u / (n_pos * n_neg))


def spearman(x: Sequence[float], y: Sequence[float]) -> Optional[float]:
    """Spearman's rank correlation of ``x`` and ``y`` (the Pearson correlation of their average ranks); ``None``
    with fewer than two values or when either is constant."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"{len(x)} values against {len(y)}")
    if len(x) < 2:
        return None
    rx, ry = average_ranks(x), average_ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    norm = np.sqrt((rx ** 2).sum() * (ry ** 2).sum())
    return float((rx * ry).sum() / norm) if norm > 0 else None


def confidence_separation(confidence: Sequence[float], j: Sequence[float], bad_j: float = BAD_J) -> Dict[str, Any]:
    """The figures ``eval.py`` reports for per-object frames with their ``confidence`` and ``j``: how many, how
    many bad (J < ``bad_j``), the AUROC of the confidence for the bad ones, its Spearman correlation with J."""
    confidence, j = np.asarray(confidence, dtype=np.float64), np.asarray(j, dtype=np.float64)
    bad = j < bad_j
    return {"object_frames": int(len(j)), "bad_object_frames": int(bad.sum()), "bad_j": bad_j,
            "auroc_bad": auroc_of_low_scores(confidence, bad), "spearman_j": spearman(confidence, j)}


def object_frame_scores(gt: np.ndarray, pred: np.ndarray, confidence: Mapping[int, float]) -> List[Tuple[int, float, float]]:
    """``(object id, confidence, J)`` of each object of ``confidence`` on one frame with ground truth ``gt`` and
    prediction ``pred`` (``H×W`` label maps; void counts as background, as the scorer counts it); objects absent
    from both are left out (nothing to judge there)."""
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} differ in size")
    scores = []
    for object_id, value in confidence.items():
        truth, predicted = gt == object_id, pred == object_id
        if truth.any() or predicted.any():
            scores.append((int(object_id), float(value), float(jaccard(truth[None], predicted[None])[0])))
    return scores
