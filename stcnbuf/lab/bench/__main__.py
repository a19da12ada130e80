"""``python -m stcnbuf.lab.bench [all|stream|compare|precision|evaluator|scoring|fps|gpu] [options]``: speed and
memory figures.

- ``stream``: per-frame time and peak RSS on a synthetic video (480×854, 3 objects, random weights) for each
  memory policy, at several lengths; each policy in its own process so that peak RSS is its own; a plot of
  time and RSS against frame index.
- ``compare``: STCN's original computation against the engine's settings (same weights, same frames; exact,
  channels-first, default), with their agreement; synthetic frames or a real DAVIS sequence (``--sequence``).
- ``precision``: fp32 against bf16 autocast (speed, label agreement).
- ``evaluator``: the J&F evaluator against a single-threaded per-frame implementation of the official kit.
- ``scoring``: seconds to score one long sequence (``--scoring-frames``, default 5,000, of the long synthetic
  benchmark at ``--height`` × ``--width``) with each of ``--scoring-workers`` worker counts (frame blocks in
  parallel), in alternating rounds.
- ``fps``: frames per second for 1 and 3 objects × fp32 / bf16 / fp16 autocast × eager / ``torch.compile``
  (the GPU grid: ``python -m stcnbuf.lab.bench fps --device cuda``; fp16 only on CUDA).
- ``live``: latency (median, p95, max) and frame rate of a synthetic live stream piped into the segment app
  (``video=-``), for 1 and 3 objects and each of ``--live-models`` (:mod:`stcnbuf.lab.bench.live`).
- ``gpu``: the prepared GPU run (under 10 minutes on an H100/H200-class card): device memory against video
  length (``--gpu-frames`` frames, bounded against unbounded), then the ``fps`` grid; each part's results are
  written as soon as it finishes.

``compare`` and ``precision`` run their sides in alternating rounds (A, B, A, B, ...; ``--rounds``, default 3,
of ``--compare-frames`` frames, default 20) and report each side's median and best round, the spread and
the ratios, with the CPU (model, AVX2 / AVX-512 / AVX-512 BF16 / AMX), thread counts and library versions.

``all`` (the default) runs the first five and takes the options of each. Results go to ``--out`` as JSON and
Markdown tables. ``SUBCOMMAND --help`` lists a subcommand's options.

    python -m stcnbuf.lab.bench                        # everything, full size (hours on a 2-core CPU)
    python -m stcnbuf.lab.bench --quick                # small sizes: checks that everything runs
    python -m stcnbuf.lab.bench stream --frames 50 150 --policies unbounded fifo --capacity 8
    python -m stcnbuf.lab.bench live --live-fps 10                # 10 frames a second into video=-
    python -m stcnbuf.lab.bench gpu --device cuda --out docs/results/benchmarks/gpu   # memory vs length, then the fps grid
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from stcnbuf.engine.core import COMPILE_MODES
from stcnbuf.lab.bench import parts
from stcnbuf.lab.bench.live import run_live
from stcnbuf.lab.bench.rounds import MIN_FRAMES, MIN_ROUNDS

#: ``add_argument`` of an option group
AddArgument = Callable[..., argparse.Action]


def _output(add: AddArgument) -> None:
    add("--out", type=Path, default=Path("bench_results"))
    add("--quick", action="store_true", help="small frames and few frames (checks, not figures)")


def _frame_size(add: AddArgument) -> None:
    add("--height", type=int, default=480)
    add("--width", type=int, default=854)


def _device(add: AddArgument) -> None:
    add("--device", default="cpu")


def _network(add: AddArgument) -> None:
    add("--model", default="stcn", choices=["stcn", "stcn_small"])
    add("--mem-every", type=int, default=5)
    add("--top-k", type=int, default=20)
    add("--temp-size", type=int, default=0)
    add("--threads", type=int, default=None, help="torch threads per stream (default: all cores)")
    add("--allocator", default="keep", choices=["keep", "system"],
        help="keep: inference.keep_freed_memory (the apps' default); system: glibc's default. "
             "It acts on the whole process, so both sides of compare/precision share it")


def _objects(add: AddArgument) -> None:
    add("--objects", type=int, default=3)


def _precision(add: AddArgument) -> None:
    add("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])


def _compile(add: AddArgument) -> None:
    add("--compile", default="none", choices=COMPILE_MODES)


def _capacity(add: AddArgument) -> None:
    add("--capacity", type=int, default=16, help="capacity of bounded policies (frames)")


def _streams(add: AddArgument) -> None:
    add("--frames", type=int, nargs="+", default=[50, 150, 600], help="report at these frame counts")
    add("--policies", nargs="+", default=["unbounded", "random_pixel"])
    add("--window", type=int, default=10, help="frames averaged for the per-frame time")


def _rounds(add: AddArgument) -> None:
    add("--rounds", type=int, default=3, help="alternating rounds of each side (compare, precision, scoring)")


def _sides(add: AddArgument) -> None:
    add("--compare-frames", type=int, default=20, help="frames of each compare/precision round")


def _compare(add: AddArgument) -> None:
    add("--isolate", action="store_true",
        help="every round in a fresh process, each side with its own allocator (the original with glibc's "
             "default, the engine with freed memory kept)")
    add("--sequence", type=Path, default=None,
        help="compare on a real DAVIS sequence, ROOT/NAME (e.g. ../shared/data/davis2016/blackswan)")


def _checkpoint(add: AddArgument) -> None:
    add("--checkpoint", default=None, help="a trained checkpoint for the precision run as well")


def _evaluator(add: AddArgument) -> None:
    add("--shared-data", type=Path, default=Path("../shared/data"),
        help="the real test data for the evaluator run (davis2016/, davis2017-osvos/)")


def _scoring(add: AddArgument) -> None:
    add("--scoring-frames", type=int, default=5000, help="frames of the long sequence scored")
    add("--scoring-workers", type=int, nargs="+", default=[1, 2], help="worker counts compared")


def _fps(add: AddArgument) -> None:
    add("--fps-frames", type=int, default=100, help="frames of each fps run")
    add("--warm-up", type=int, default=10, help="frames left out of the fps figure")
    add("--compile-modes", nargs="+", default=["none", "compile"], choices=COMPILE_MODES,
        help="compile settings of the fps grid")


def _gpu(add: AddArgument) -> None:
    add("--gpu-frames", type=int, default=2000, help="frames of the gpu memory-against-length run")


def _live(add: AddArgument) -> None:
    add("--live-models", nargs="+", default=["stcn_small", "stcn"], choices=["stcn", "stcn_small"])
    add("--live-frames", type=int, default=60, help="frames of each live stream")
    add("--live-warm-up", type=int, default=5, help="frames left out of the live figures")
    add("--live-fps", type=float, default=0.0,
        help="frames sent per second (0: the next once the previous line is flushed)")


#: option groups: title -> the function adding its options
OPTIONS: Dict[str, Callable[[AddArgument], None]] = {
    "output": _output, "frame size": _frame_size, "device": _device, "network and memory": _network,
    "objects": _objects, "precision": _precision, "compile": _compile, "capacity": _capacity, "stream": _streams,
    "rounds": _rounds, "compare and precision": _sides, "compare": _compare, "precision run": _checkpoint,
    "evaluator": _evaluator, "scoring": _scoring, "fps": _fps, "gpu": _gpu, "live": _live,
}
_STREAM = ("output", "frame size", "device", "network and memory", "objects", "precision", "compile")
#: subcommand -> (its help, the parts it runs, its option groups)
SUBCOMMANDS: Dict[str, Tuple[str, Tuple[str, ...], Tuple[str, ...]]] = {
    "all": ("stream, compare, precision, evaluator and scoring",
            ("stream", "compare", "precision", "evaluator", "scoring"),
            (*_STREAM, "capacity", "stream", "rounds", "compare and precision", "compare", "precision run",
             "evaluator", "scoring")),
    "stream": ("per-frame time and peak RSS of each memory policy", ("stream",), (*_STREAM, "capacity", "stream")),
    "compare": ("STCN's original computation against the engine's settings", ("compare",),
                (*_STREAM, "rounds", "compare and precision", "compare")),
    "precision": ("fp32 against bf16 autocast", ("precision",),
                  (*[g for g in _STREAM if g != "precision"], "rounds", "compare and precision", "precision run")),
    "evaluator": ("the J&F evaluator against the official kit's computation", ("evaluator",), ("output", "evaluator")),
    "scoring": ("seconds to score one long sequence with each worker count", ("scoring",),
                ("output", "frame size", "device", "rounds", "scoring")),
    "fps": ("frames per second: objects x precision x compile", ("fps",),
            ("output", "frame size", "device", "network and memory", "fps")),
    "gpu": ("the prepared GPU run: device memory against length, then the fps grid", ("device_memory", "fps"),
            (*_STREAM, "capacity", "gpu", "fps")),
    "live": ("latency and frame rate of a live stream piped into the segment app", ("live",),
             ("output", "frame size", "device", "precision", "live")),
}
#: part -> the function that runs it and returns its table
PARTS: Dict[str, Callable[[argparse.Namespace], str]] = {
    "stream": parts.run_streams, "compare": parts.run_compare, "precision": parts.run_precision,
    "evaluator": parts.run_evaluator, "scoring": parts.run_scoring, "device_memory": parts.run_device_memory,
    "fps": parts.run_fps, "live": run_live,
}
#: ``--quick``: the options it sets, where a subcommand has them (``--capacity`` at most 3)
QUICK = {"frames": [10, 20], "height": 96, "width": 160, "model": "stcn_small", "compare_frames": 6, "fps_frames": 6,
         "warm_up": 2, "gpu_frames": 12, "rounds": 2, "live_frames": 8, "live_warm_up": 2,
         "live_models": ["stcn_small"]}


def build_parser() -> argparse.ArgumentParser:
    """A subparser per subcommand with exactly the option groups it uses (shared through parent parsers)."""
    parents = {}
    for title, add in OPTIONS.items():
        parents[title] = argparse.ArgumentParser(add_help=False)
        add(parents[title].add_argument_group(title).add_argument)
    parser = argparse.ArgumentParser(prog="python -m stcnbuf.lab.bench",
                                     description="Speed and memory figures of the engine. The subcommand comes first "
                                                 "(all when none is named); SUBCOMMAND --help lists its options.")
    commands = parser.add_subparsers(dest="what", title="subcommands", metavar="SUBCOMMAND")
    for name, (about, _, groups) in SUBCOMMANDS.items():
        commands.add_parser(name, help=about, description=about, parents=[parents[g] for g in groups])
    return parser


def parse(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The command line, ``all`` where it names no subcommand, with ``--quick`` applied."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help"):
        argv.insert(0, "all")
    args = build_parser().parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            if hasattr(args, name):
                setattr(args, name, value)
        if hasattr(args, "capacity"):
            args.capacity = min(args.capacity, 3)
    elif getattr(args, "compare_frames", MIN_FRAMES) < MIN_FRAMES or getattr(args, "rounds", MIN_ROUNDS) < MIN_ROUNDS:
        print(f"note: figures for the docs (docs/results/) need at least {MIN_ROUNDS} rounds of {MIN_FRAMES} frames per side",
              file=sys.stderr)
    return args


def main(argv: Optional[List[str]] = None) -> None:
    args = parse(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    tables = []
    for part in SUBCOMMANDS[args.what][1]:
        tables.append(PARTS[part](args))
        (args.out / "summary.md").write_text("\n\n".join(tables) + "\n")
    print(f"\nwrote the JSON results, {args.out / 'summary.md'} and {args.out / 'stream.png'} into {args.out}"
          if "stream" in SUBCOMMANDS[args.what][1] else f"\nwrote the results into {args.out}")


if __name__ == "__main__":
    main()
