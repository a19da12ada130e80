"""Score existing predictions with the DAVIS semi-supervised protocol.

    python -m stcnbuf.evaluation --gt-root DAVIS/2017/trainval --pred-root RESULTS --out SCORES [--split val]
        [--sequences bike-packing blackswan] [--year 2016|2017] [--allow-missing] [--workers N]

Predictions are ``RESULTS/<sequence>/<frame>.png`` label maps (palette PNG, pixel = object id). Writes
``global_results.csv`` and ``per_sequence_results.csv`` (official column layout, full precision).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import List, Optional

from stcnbuf.data.davis import DavisDataset
from stcnbuf.evaluation.scoring import score_jobs, sequence_job, write_global_csv, write_per_sequence_csv


def detect_year(root: Path) -> int:
    """2017 when ``ImageSets/2017`` exists, else 2016 (``ImageSets/480p``)."""
    if (root / "ImageSets" / "2017").is_dir():
        return 2017
    if (root / "ImageSets" / "480p").is_dir():
        return 2016
    raise FileNotFoundError(f"{root} has neither ImageSets/2017 nor ImageSets/480p: is it a DAVIS folder?")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stcnbuf.evaluation", description=__doc__.split("\n")[1])
    parser.add_argument("--gt-root", type=Path, required=True, help="DAVIS folder (JPEGImages, Annotations, ImageSets)")
    parser.add_argument("--pred-root", type=Path, required=True, help="folder of <sequence>/<frame>.png predictions")
    parser.add_argument("--out", type=Path, required=True, help="folder for the CSV files")
    parser.add_argument("--split", default="val")
    parser.add_argument("--sequences", nargs="+", default=None)
    parser.add_argument("--year", type=int, choices=(2016, 2017), default=None, help="default: detected")
    parser.add_argument("--allow-missing", action="store_true", help="score the sequences present on disk")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    args = parser.parse_args(argv)
    try:
        year = args.year or detect_year(args.gt_root)
        dataset = DavisDataset(args.gt_root, year=year, split=args.split, sequences=args.sequences,
                               allow_missing=args.allow_missing)
        jobs = [sequence_job(sequence, args.pred_root / sequence.name, dataset.gt_binary) for sequence in dataset]
        start = time.perf_counter()
        result = score_jobs(jobs, workers=args.workers)
        seconds = time.perf_counter() - start
        metrics = result.global_metrics()
    except (OSError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_global_csv(result, args.out / "global_results.csv")
    write_per_sequence_csv(result, args.out / "per_sequence_results.csv")
    print("  ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    print(f"{len(result.objects)} objects of {len(jobs) - len(result.unscored)} sequences scored in {seconds:.1f} s; "
          f"wrote {args.out / 'global_results.csv'} and {args.out / 'per_sequence_results.csv'}")
    for name, note in result.notes.items():
        print(f"warning: {name}: {note}", file=sys.stderr)
    if result.unscored:
        print("INCOMPLETE: not scored: " + "; ".join(f"{n}: {why}" for n, why in result.unscored.items()),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
