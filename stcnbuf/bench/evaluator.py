"""J&F throughput: stcnbuf's evaluator against a single-threaded per-frame implementation of the official kit."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np

from stcnbuf.evaluation.metrics import disk, tolerance_radius
from stcnbuf.evaluation.scoring import SequenceJob, score_jobs
from stcnbuf.io.masks import read_label_png


def _boundary(seg: np.ndarray) -> np.ndarray:
    e, s, se = np.zeros_like(seg), np.zeros_like(seg), np.zeros_like(seg)
    e[:, :-1], s[:-1, :], se[:-1, :-1] = seg[:, 1:], seg[1:, :], seg[1:, 1:]
    b = seg ^ e | seg ^ s | seg ^ se
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = 0
    return b


def _f_measure(pred: np.ndarray, gt: np.ndarray) -> float:
    kernel = disk(tolerance_radius(pred.shape))
    pb, gb = _boundary(pred), _boundary(gt)
    pd, gd = cv2.dilate(pb.astype(np.uint8), kernel), cv2.dilate(gb.astype(np.uint8), kernel)
    n_p, n_g = pb.sum(), gb.sum()
    if n_p == 0 or n_g == 0:
        precision, recall = float(n_p == 0), float(n_g == 0)
    else:
        precision, recall = (pb * gd).sum() / n_p, (gb * pd).sum() / n_g
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def official_style_scores(jobs: List[SequenceJob]) -> List[float]:
    """J and F of every object and scored frame, one frame at a time in one process, as the official kit does."""
    values = []
    for job in jobs:
        first = read_label_png(job.gt_paths[0])
        first = (first > 0).astype(np.uint8) if job.gt_binary else np.where(first == 255, 0, first)
        objects = int(first.max())
        for gt_path, pred_path in zip(job.gt_paths[1:-1], job.pred_paths[1:-1]):
            gt = read_label_png(gt_path)
            gt = (gt > 0).astype(np.uint8) if job.gt_binary else np.where(gt == 255, 0, gt)
            pred = read_label_png(pred_path)
            for k in range(1, objects + 1):
                a, b = gt == k, pred == k
                union = (a | b).sum()
                values.append(1.0 if union == 0 else (a & b).sum() / union)
                values.append(_f_measure(b, a))
    return values


def evaluator_speed(jobs: List[SequenceJob], workers: int | None = None) -> Dict[str, float]:
    """Seconds for both on the same jobs, the speed-up, and the largest difference of their mean scores."""
    start = time.perf_counter()
    reference = official_style_scores(jobs)
    reference_s = time.perf_counter() - start
    start = time.perf_counter()
    result = score_jobs(jobs, workers=workers, progress=False)
    ours_s = time.perf_counter() - start
    ours = [v for o in result.objects for v in np.stack([o.j, o.f], 1).ravel()]
    return {"sequences": len(jobs), "official_style_s": reference_s, "stcnbuf_s": ours_s,
            "speedup": reference_s / ours_s, "max_abs_difference": float(np.max(np.abs(np.subtract(ours, reference))))}


def shared_jobs(data: Path, count: int = 20) -> List[SequenceJob]:
    """``count`` jobs cycling over the single-object DAVIS 2016 sequences with their OSVOS predictions."""
    names = ["blackswan", "car-shadow", "dog", "libby"]
    jobs = []
    for i in range(count):
        name = names[i % len(names)]
        gt = sorted((data / "davis2016" / "Annotations" / "480p" / name).glob("*.png"))
        pred = [data / "davis2017-osvos" / name / p.name for p in gt]
        jobs.append(SequenceJob(f"{name}#{i}", gt, pred, gt_binary=True))
    return jobs
