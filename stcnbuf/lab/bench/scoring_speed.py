"""Scoring one long sequence: seconds for its J&F in one process and in several (frame blocks in parallel),
on a sequence of the long synthetic benchmark against a deterministic perturbation of its ground truth."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List

import numpy as np

from stcnbuf.datasets.sequence import list_images
from stcnbuf.io import read_label_png, write_label_png
from stcnbuf.lab.bench.rounds import alternate
from stcnbuf.lab.synthetic.long import LongSyntheticConfig, ensure_long_dataset, sequence_name
from stcnbuf.scoring.scorer import SequenceJob, score_jobs


def long_sequence_job(root: Path, frames: int, height: int, width: int) -> SequenceJob:
    """A ``present`` job over a ``frames``-frame benchmark sequence (generated under ``root/data`` if needed);
    its predictions, under ``root/pred``, are the ground truth moved 2 pixels right with object 3 missed on
    every 10th frame."""
    config = LongSyntheticConfig(height=height, width=width, frames=(frames,), absence=min(400, frames // 2))
    dataset = ensure_long_dataset(config, root / "data")
    name = sequence_name(0, frames)
    gt_paths = [dataset / "Annotations" / name / f"{p.stem}.png" for p in list_images(dataset / "JPEGImages" / name)]
    pred_dir = root / "pred" / f"{config.key()}"
    pred_paths = [pred_dir / p.name for p in gt_paths]
    if not all(p.is_file() for p in pred_paths):
        pred_dir.mkdir(parents=True, exist_ok=True)
        for t, (gt_path, pred_path) in enumerate(zip(gt_paths, pred_paths)):
            labels = np.roll(read_label_png(gt_path), 2, axis=1)
            if t % 10 == 0:
                labels[labels == 3] = 0
            write_label_png(pred_path, labels)
    return SequenceJob(name, gt_paths, pred_paths, protocol="present")


def scoring_speed(root: Path, frames: int, height: int, width: int, workers: List[int],
                  rounds: int) -> Dict[str, object]:
    """Seconds per scored frame for each number of workers, in alternating rounds; and the J&F (equal for all)."""
    job = long_sequence_job(root, frames, height, width)
    results: Dict[int, float] = {}

    def side(n: int):
        def run(_round: int) -> float:
            start = time.perf_counter()
            result = score_jobs([job], workers=n, progress=False)
            seconds = time.perf_counter() - start
            results[n] = result.global_metrics()["J&F-Mean"]
            return seconds / frames
        return run

    per_round = alternate({f"{n} worker{'s' if n > 1 else ''}": side(n) for n in workers}, rounds, "scoring ")
    if len(set(round(v, 12) for v in results.values())) != 1:
        raise AssertionError(f"the J&F differs between worker counts: {results}")
    return {"frames": frames, "height": height, "width": width, "objects": 4, "rounds": per_round,
            "J&F": next(iter(results.values()))}
