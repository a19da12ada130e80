"""J&F throughput: stcnbuf's evaluator against a single-threaded per-frame implementation of the official kit
(``davis2017-evaluation``: its reading, one-hot masks, ``db_eval_iou`` and ``f_measure``, step by step)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np
from PIL import Image

from stcnbuf.io.masks import read_label_png
from stcnbuf.scoring.metrics import disk, tolerance_radius
from stcnbuf.scoring.scorer import SequenceJob, score_jobs


def _seg2bmap(seg: np.ndarray) -> np.ndarray:
    seg = seg.astype(bool)
    e, s, se = np.zeros_like(seg), np.zeros_like(seg), np.zeros_like(seg)
    e[:, :-1], s[:-1, :], se[:-1, :-1] = seg[:, 1:], seg[1:, :], seg[1:, 1:]
    b = seg ^ e | seg ^ s | seg ^ se
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = 0
    return b


def _f_measure(foreground: np.ndarray, gt: np.ndarray) -> float:
    void = np.zeros_like(foreground).astype(bool)
    kernel = disk(tolerance_radius(foreground.shape))
    fg_boundary = _seg2bmap(foreground * np.logical_not(void))
    gt_boundary = _seg2bmap(gt * np.logical_not(void))
    fg_dil = cv2.dilate(fg_boundary.astype(np.uint8), kernel)
    gt_dil = cv2.dilate(gt_boundary.astype(np.uint8), kernel)
    gt_match, fg_match = gt_boundary * fg_dil, fg_boundary * gt_dil
    n_fg, n_gt = np.sum(fg_boundary), np.sum(gt_boundary)
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1, 0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0, 1
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1, 1
    else:
        precision, recall = np.sum(fg_match) / float(n_fg), np.sum(gt_match) / float(n_gt)
    return 0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _iou(annotation: np.ndarray, segmentation: np.ndarray) -> np.ndarray:
    annotation, segmentation = annotation.astype(bool), segmentation.astype(bool)
    void = np.zeros_like(segmentation)
    inters = np.sum((segmentation & annotation) & np.logical_not(void), axis=(-2, -1))
    union = np.sum((segmentation | annotation) & np.logical_not(void), axis=(-2, -1))
    j = inters / union
    j[np.isclose(union, 0)] = 1
    return j


def _one_hot(masks: np.ndarray, num_objects: int) -> np.ndarray:
    tmp = np.ones((num_objects, *masks.shape)) * np.arange(1, num_objects + 1)[:, None, None, None]
    return (tmp == masks[None, ...]) > 0


def _read_all(paths: List[Path]) -> np.ndarray:
    first = np.array(Image.open(paths[0]))
    stack = np.zeros((len(paths), *first.shape))
    for i, path in enumerate(paths):
        stack[i, ...] = np.array(Image.open(path))
    return stack


def official_style_scores(jobs: List[SequenceJob]) -> List[float]:
    """J and F of every object and scored frame as the official kit computes them, in one process: every
    ground-truth frame and the scored predictions read with PIL into float stacks, one-hot object masks,
    J per object over the frames, F per object and frame on whole frames (no void pixels in the
    semi-supervised task). DAVIS 2016 ground truth (0/255) is read as object 1, where the 2017 kit would
    take 255 for void."""
    values = []
    for job in jobs:
        gt = _read_all(job.gt_paths)
        gt = (gt > 0).astype(np.float64) if job.gt_binary else np.where(gt == 255, 0, gt)
        num_objects = int(np.max(gt[0]))
        gt = _one_hot(gt, num_objects)[:, 1:-1]
        res = _read_all(job.pred_paths[1:-1])
        res = _one_hot(res, int(np.max(res)))
        if res.shape[0] < num_objects:
            res = np.concatenate([res, np.zeros((num_objects - res.shape[0], *res.shape[1:]), bool)], 0)
        j = np.stack([_iou(gt[k], res[k]) for k in range(num_objects)])
        f = np.array([[_f_measure(res[k, t], gt[k, t]) for t in range(gt.shape[1])] for k in range(num_objects)])
        values.extend(np.stack([j, f], -1).ravel().tolist())
    return values


def evaluator_speed(jobs: List[SequenceJob], workers: int | None = None) -> Dict[str, float]:
    """Seconds for both on the same jobs, the speed-up, and the largest difference of their mean scores."""
    start = time.perf_counter()
    reference = official_style_scores(jobs)
    reference_s = time.perf_counter() - start
    start = time.perf_counter()
    result = score_jobs(jobs, workers=workers, progress=False)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    for job in jobs:  # the floor of any evaluator: decoding the PNGs it scores, here in one process
        for path in [*job.gt_paths, *job.pred_paths[1:-1]]:
            read_label_png(path)
    decode_s = time.perf_counter() - start
    ours = [v for o in result.objects for v in np.stack([o.j, o.f], 1).ravel()]
    return {"sequences": len(jobs), "official_style_s": reference_s, "stcnbuf_s": ours_s,
            "speedup": reference_s / ours_s, "png_decoding_s": decode_s, "max_abs_difference": float(np.max(np.abs(np.subtract(ours, reference))))}


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
