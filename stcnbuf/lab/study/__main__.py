"""Run the buffer study and summarise it.

    python -m stcnbuf.lab.study --out docs/results/study/long_buffer -- model=stcn_small model.checkpoint=CKPT

Everything after ``--`` goes to every run (the data defaults to the sweeps' ``data=synthetic_long``; any other
data config works, e.g. ``data=lvos data.root=...``). The runs' folders go into ``--runs`` (default ``OUT/runs``),
with each run's output in ``<runs>/logs/<run>.txt``; runs already finished there are kept: running the command
again finishes an interrupted study, and ``--summary-only`` rebuilds the table and plots alone.

Written into ``OUT``: ``study.csv`` (one row per run, with the intervals), ``study.md`` (the tables, the machine,
the command; every setting's J&F with its bootstrap interval over sequences and its paired difference to
``--reference``; the headline differences: policy against policy at one capacity, the ring against none, burn-in
against online), ``capacity.png`` (J&F, J&F of the object that is away longer than the buffer spans and of the one that
enters late, fps and peak memory against capacity, a line per policy, the unbounded memory dashed, with the
ring dotted), ``over_time.png`` (J&F per tenth of the videos) and ``burn_in.png`` (J&F per burn-in setting).
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path
from typing import List, Optional

from stcnbuf.lab.study.grid import BOUNDED, default_grid
from stcnbuf.lab.study.runner import run_study
from stcnbuf.lab.study.runs import TREATMENTS, study_runs, treatments
from stcnbuf.lab.study.summary import write_summary
from stcnbuf.scoring.bootstrap import CONFIDENCE, RESAMPLES

PROG = "python -m stcnbuf.lab.study"


def build_parser() -> argparse.ArgumentParser:
    """The study's own options (the eval overrides after ``--`` are not parsed)."""
    grid = default_grid()
    online, offline = "configs/sweep/long_buffer.yaml", "configs/sweep/long_burn_in.yaml"

    def default(values: object, sweep: str) -> str:
        shown = " ".join(map(str, values)) if isinstance(values, (list, tuple)) else values
        return f"(default {shown}, from {sweep})"

    parser = argparse.ArgumentParser(prog=PROG, usage=f"{PROG} --out OUT [options] [-- EVAL_OVERRIDES ...]",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder of the table and the plots")
    parser.add_argument("--runs", type=Path, default=None, help="folder of the runs (default: OUT/runs)")
    parser.add_argument("--policies", nargs="+", default=list(grid.policies),
                        help=f"bounded policies of the online runs ({', '.join(BOUNDED)}) "
                             + default(grid.policies, online))
    parser.add_argument("--capacities", nargs="+", type=int, default=list(grid.capacities),
                        help=f"capacities of the online runs {default(grid.capacities, online)}")
    parser.add_argument("--no-unbounded", action="store_true", help="leave out the unbounded reference runs")
    parser.add_argument("--burn-in-policies", nargs="*", default=list(grid.burn_in_policies),
                        help=f"policies of the burn-in runs {default(grid.burn_in_policies, offline)}")
    parser.add_argument("--reference-capacity", type=int, default=grid.reference_capacity,
                        help="capacity of the burn-in runs and of the runs with other memory seeds "
                             + default(grid.reference_capacity, offline))
    parser.add_argument("--passes", nargs="+", type=int, default=list(grid.passes),
                        help=f"burn-in passes {default(grid.passes, offline)}")
    parser.add_argument("--orders", nargs="+", default=list(grid.orders),
                        help=f"burn-in orders {default(grid.orders, offline)}")
    parser.add_argument("--every-frame-orders", nargs="*", default=["none", "strided"],
                        help="orders of the one-pass burn-in runs that segment every frame (with the ring)")
    parser.add_argument("--treatment-orders", nargs="*", default=["none", "strided"],
                        help="orders of the one-pass burn-in runs under each treatment of burn-in entries")
    parser.add_argument("--treatments", nargs="*", default=list(TREATMENTS),
                        help=f"treatments of burn-in entries to run ({', '.join(TREATMENTS)})")
    parser.add_argument("--burn-in-weight", type=float, default=0.5,
                        help="the weight of burn-in entries in the 'weight' treatment (memory.burn_in_weight)")
    parser.add_argument("--burn-in-confidence", type=float, default=0.9,
                        help="the threshold of the 'confident' treatment (memory.burn_in_confidence)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[],
                        help="memory seeds besides 0 for the random policies at --reference-capacity (their spread)")
    parser.add_argument("--reference", default=None,
                        help="the run every other is compared to in the intervals (default: the first burn-in "
                             "policy online at --reference-capacity, e.g. random_pixel-c16, else the first run)")
    parser.add_argument("--confidence", type=float, default=CONFIDENCE, help="of the bootstrap intervals (0.95)")
    parser.add_argument("--resamples", type=int, default=RESAMPLES, help="bootstrap resamples (2000)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs at once, each in its own process (default 1); without OMP_NUM_THREADS each gets "
                             "its share of the cores as torch threads")
    parser.add_argument("--summary-only", action="store_true", help="rebuild the table and plots, run nothing")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    common = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    parser = build_parser()
    args = parser.parse_args(own)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        runs = study_runs(args.policies, args.capacities, args.burn_in_policies, args.reference_capacity,
                          args.passes, args.orders, not args.no_unbounded, args.seeds, args.every_frame_orders,
                          args.treatment_orders, treatments(args.burn_in_weight, args.burn_in_confidence,
                                                            args.treatments))
    except ValueError as error:
        parser.error(str(error))
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    runs_dir = args.runs or args.out / "runs"
    failed = [] if args.summary_only else run_study(runs, runs_dir, default_grid().data, common, args.jobs)
    command = f"{PROG} " + shlex.join(a for a in argv if a != "--summary-only")
    names = [run.name for run in runs]
    default = next((f"{p}-c{args.reference_capacity}" for p in args.burn_in_policies
                    if f"{p}-c{args.reference_capacity}" in names), None)
    if args.reference is not None and args.reference not in names:
        parser.error(f"--reference {args.reference}: not a run of this study ({', '.join(names)})")
    path = write_summary(runs, args.out, runs_dir, command, args.reference or default, args.confidence,
                         args.resamples)
    if path is not None:
        print(path.read_text())
    if failed:
        print(f"failed runs: {', '.join(failed)} (logs in {runs_dir / 'logs'})", file=sys.stderr)
    return 1 if failed or path is None else 0


if __name__ == "__main__":
    sys.exit(main())
