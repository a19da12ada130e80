"""Score existing predictions against any dataset ``eval.py`` reads, under its protocol, as ``eval.py`` scores.

    python -m stcnbuf.apps.score --pred-root RESULTS data=NAME data.root=DIR [data.KEY=VALUE ...] --out SCORES
    python -m stcnbuf.apps.score --pred-root RESULTS --gt-root DAVIS --out SCORES [--split val] [--year 2016|2017]
        [--sequences bike-packing blackswan] [--allow-missing]

``data=...`` takes every dataset config of ``eval.py`` (``davis2016``, ``davis2017``, ``youtubevos2018/2019``
with dense ground truth, ``lvos`` with ``data.protocol=lvos|lvos_official``, ``long_video``, ``folder``, ...) and
its keys; ``--gt-root`` is the short form for a DAVIS folder. Predictions are ``RESULTS/<sequence>/<frame>.png``
label maps (palette PNG, pixel = object id). Writes, into ``--out`` (a folder of its own: an official kit finding
its tables in RESULTS would report them instead of scoring), ``global_results-<set>.csv``,
``per-sequence_results-<set>.csv`` (the kits' names and columns, full precision) and ``scores.json`` (the scoring
figures of ``eval.py``'s ``metrics.json``). Exits 1 when a sequence (or all) could not be scored, 2 on bad input.
``--extra-ids ignore`` scores a sequence whose prediction holds ids that its objects lack (as vos-benchmark
does) instead of leaving it unscored.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import List, Optional

from stcnbuf.io.atomic import atomic_write_text
from stcnbuf.io.writable import require_writable_folder
from stcnbuf.scoring.dataset import score_predictions, set_name
from stcnbuf.scoring.scorer import EXTRA_IDS, table_names


def detect_year(root: Path) -> int:
    """2017 when ``ImageSets/2017`` exists, else 2016 (``ImageSets/480p``)."""
    if (root / "ImageSets" / "2017").is_dir():
        return 2017
    if (root / "ImageSets" / "480p").is_dir():
        return 2016
    raise FileNotFoundError(f"{root} has neither ImageSets/2017 nor ImageSets/480p: is it a DAVIS folder?")


def davis_overrides(args: argparse.Namespace) -> List[str]:
    """The ``data=`` overrides of the ``--gt-root`` short form."""
    year = args.year or detect_year(args.gt_root)
    overrides = [f"data=davis{year}", f"data.root={args.gt_root}", f"data.split={args.split}",
                 f"data.allow_missing={str(args.allow_missing).lower()}"]
    if args.sequences:
        overrides.append(f"data.sequences=[{','.join(args.sequences)}]")
    return overrides


def compose_dataset(overrides: List[str]):
    """The dataset of ``eval.py``'s config composed with ``overrides`` (only ``data`` and ``paths`` keys)."""
    from hydra import compose, initialize_config_module
    from hydra.utils import instantiate

    from stcnbuf.apps.schemas import register_configs

    unrelated = [o for o in overrides if not o.lstrip("+~").startswith(("data", "paths"))]
    if unrelated:
        raise ValueError(f"only data=... and paths.* overrides choose what is scored, got {unrelated}")
    if not any(o.lstrip("+~").startswith("data") for o in overrides):
        raise ValueError("no dataset given: --gt-root DAVIS_FOLDER, or data=NAME data.root=DIR (e.g. data=lvos)")
    register_configs()
    with initialize_config_module("stcnbuf.configs", version_base="1.3"):
        cfg = compose(config_name="eval", overrides=overrides)
    return instantiate(cfg.data)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stcnbuf.apps.score", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.split("\n")[2:]))
    parser.add_argument("overrides", nargs="*", help="data=NAME data.KEY=VALUE ... (eval.py's dataset configs)")
    parser.add_argument("--pred-root", type=Path, required=True, help="folder of <sequence>/<frame>.png predictions")
    parser.add_argument("--out", type=Path, required=True, help="folder for the tables and scores.json")
    parser.add_argument("--workers", type=int, default=None,
                        help="scoring processes (default: all cores for long work, else one)")
    parser.add_argument("--extra-ids", choices=EXTRA_IDS, default="error",
                        help="a predicted id that the objects lack: error (the sequence is not scored, as the DAVIS "
                             "kit) or ignore (its pixels are background, as vos-benchmark)")
    davis = parser.add_argument_group("DAVIS short form")
    davis.add_argument("--gt-root", type=Path, default=None, help="DAVIS folder (JPEGImages, Annotations, ImageSets)")
    davis.add_argument("--split", default="val")
    davis.add_argument("--sequences", nargs="+", default=None)
    davis.add_argument("--year", type=int, choices=(2016, 2017), default=None, help="default: detected")
    davis.add_argument("--allow-missing", action="store_true", help="score the sequences present on disk")
    args = parser.parse_args(argv)
    out = args.out
    try:
        if not args.pred_root.is_dir():
            raise FileNotFoundError(f"predictions folder not found: {args.pred_root}")
        dataset = compose_dataset((davis_overrides(args) if args.gt_root else []) + list(args.overrides))
        if not dataset.scorable:
            raise ValueError(f"{dataset.name} has no ground truth to score against here (a server-scored split?)")
        require_writable_folder(out, "--out")  # before scoring, not after it
        start = time.perf_counter()
        scores = score_predictions(dataset, args.pred_root, dataset.names, args.workers, out, args.extra_ids)
        seconds = time.perf_counter() - start
    except Exception as error:  # Hydra's and the datasets' errors alike: one line naming what is wrong
        print(f"error: {error}", file=sys.stderr)
        return 2
    if "scoring_error" in scores:
        reasons = "".join(f"\n  {n}: {why}" for n, why in scores["unscored_sequences"].items())
        print(f"error: {scores['scoring_error']}{reasons}", file=sys.stderr)
        return 1
    atomic_write_text(out / "scores.json", json.dumps({**scores, "dataset": dataset.name, "seconds": seconds},
                                                      indent=1))
    shown = {k: v for k, v in scores.items() if k.endswith("-Mean")}
    print("  ".join(f"{k} {v:.4f}" if v is not None else f"{k} undefined" for k, v in shown.items()))
    print(f"{scores['scored_sequences']} sequence(s) of {dataset.name} scored ({scores['scoring_protocol']} "
          f"protocol) in {seconds:.1f} s; wrote {', '.join(str(out / n) for n in table_names(set_name(dataset)))} "
          f"and {out / 'scores.json'}")
    if scores["unscored_sequences"]:
        print("INCOMPLETE: not scored: " + "; ".join(f"{n}: {why}" for n, why in
                                                     scores["unscored_sequences"].items()), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
