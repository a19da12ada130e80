"""DAVIS 2017 semi-supervised evaluation: J (region) and F (boundary) metrics equal to the official kit's.

Typical use::

    jobs = [SequenceJob(name, gt_paths, pred_paths) for name, gt_paths, pred_paths in sequences]
    result = score_jobs(jobs)                      # one worker process per CPU
    result.global_metrics()["J&F-Mean"]
    write_global_csv(result, "global_results-val.csv"); write_per_sequence_csv(result, "per-sequence_results-val.csv")
"""

from stcnbuf.scoring.metrics import boundary_f, jaccard, official_decay, seg2bmap, statistics
from stcnbuf.scoring.scorer import (GLOBAL_COLUMNS, EvaluationResult, ObjectScore, SequenceJob, score_jobs,
                                    score_sequence, sequence_job, write_global_csv, write_per_sequence_csv)

__all__ = ["GLOBAL_COLUMNS", "EvaluationResult", "ObjectScore", "SequenceJob", "boundary_f", "jaccard",
           "official_decay", "score_jobs", "score_sequence", "seg2bmap", "sequence_job", "statistics", "write_global_csv",
           "write_per_sequence_csv"]
