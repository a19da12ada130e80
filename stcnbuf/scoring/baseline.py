"""The trivial baseline: the first mask copied to every frame."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import numpy as np

from stcnbuf.datasets.base import VOSDataset
from stcnbuf.io.masks import write_label_png
from stcnbuf.scoring.scorer import score_jobs, sequence_job


def copy_first_mask(dataset: VOSDataset, out_dir: Path, workers: Optional[int] = None) -> Dict[str, float]:
    """Write the first annotation (its object ids only) as the prediction of every frame and score it."""
    jobs = []
    for name in dataset.names:
        sequence = dataset.sequence(name)
        first = sequence.annotations()[0]
        labels = np.where(np.isin(first.labels, first.object_ids), first.labels, 0).astype(np.uint8)
        job = sequence_job(sequence, Path(out_dir) / name, dataset.gt_binary, dataset.protocol)
        for path in job.pred_paths:
            write_label_png(path, labels)
        jobs.append(job)
    return score_jobs(jobs, workers=workers, progress=False).global_metrics()
