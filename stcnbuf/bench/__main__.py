"""``python -m stcnbuf.bench``: per-frame time and peak RSS of the engine on a synthetic video.

Each configuration runs in its own process so that peak RSS is its own. Figures are printed as a table,
written as JSON and plotted (time and RSS against frame index).

    python -m stcnbuf.bench                       # 480×854, 3 objects, fp32: unbounded vs buffer, 600 frames
    python -m stcnbuf.bench --quick               # a small run that checks everything works
    python -m stcnbuf.bench --frames 50 150 --policies unbounded fifo --capacity 8
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Dict, List

from stcnbuf.bench.stream import StreamConfig


def run_isolated(cfg: StreamConfig) -> Dict:
    """Run one stream in a fresh Python process and return its result."""
    done = subprocess.run([sys.executable, "-m", "stcnbuf.bench.stream", json.dumps(asdict(cfg))],
                          stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark stream {cfg.policy} failed (exit code {done.returncode})")
    return json.loads(done.stdout)


def summarise(result: Dict, checkpoints: List[int], window: int) -> List[Dict]:
    """Rows per checkpoint: mean time of the ``window`` frames ending there, mean since the start, peak RSS."""
    rows = []
    seconds, peak = result["seconds"], result["peak_rss_mb"]
    for n in checkpoints:
        if n > len(seconds):
            continue
        recent = seconds[max(1, n - window):n]
        rows.append({
            "policy": result["config"]["policy"], "capacity": result["config"]["capacity"], "frames": n,
            "s_per_frame_recent": sum(recent) / len(recent),
            "s_per_frame_mean": sum(seconds[1:n]) / max(1, n - 1),
            "peak_rss_mb": peak[n - 1], "memory_bank_mb": result["memory_bytes"][n - 1] / 2 ** 20,
        })
    return rows


def format_table(rows: List[Dict], window: int) -> str:
    header = (f"| policy | capacity | frames | s/frame (last {window}) | s/frame (mean) | peak RSS MiB | "
              "memory bank MiB |\n|---|---|---|---|---|---|---|")
    lines = [header]
    for r in rows:
        lines.append(f"| {r['policy']} | {r['capacity'] if r['capacity'] is not None else '-'} | {r['frames']} | "
                     f"{r['s_per_frame_recent']:.3f} | {r['s_per_frame_mean']:.3f} | {r['peak_rss_mb']:.0f} | "
                     f"{r['memory_bank_mb']:.0f} |")
    return "\n".join(lines)


def plot(results: List[Dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_time, ax_rss) = plt.subplots(1, 2, figsize=(11, 4))
    for result in results:
        cfg = result["config"]
        name = cfg["policy"] + (f" (capacity {cfg['capacity']})" if cfg["capacity"] else "")
        frames = range(1, len(result["seconds"]) + 1)
        ax_time.plot(list(frames)[1:], result["seconds"][1:], label=name, linewidth=0.8)
        ax_rss.plot(list(frames), result["rss_mb"], label=name)
    ax_time.set(xlabel="frame", ylabel="seconds per frame", title="time per frame")
    ax_rss.set(xlabel="frame", ylabel="RSS (MiB)", title="resident memory")
    for ax in (ax_time, ax_rss):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: List[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stcnbuf.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small frames and few frames (checks, not figures)")
    parser.add_argument("--frames", type=int, nargs="+", default=[50, 150, 600], help="report at these frame counts")
    parser.add_argument("--policies", nargs="+", default=["unbounded", "random_pixel"])
    parser.add_argument("--capacity", type=int, default=16, help="capacity of bounded policies (frames)")
    parser.add_argument("--temp-size", type=int, default=0)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=854)
    parser.add_argument("--objects", type=int, default=3)
    parser.add_argument("--mem-every", type=int, default=5)
    parser.add_argument("--top-k", type=int, default=20)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--compile", default="none", choices=["none", "script", "compile"])
    parser.add_argument("--model", default="stcn", choices=["stcn", "stcn_small"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per stream (default: all cores)")
    parser.add_argument("--window", type=int, default=10, help="frames averaged for the per-frame time")
    parser.add_argument("--out", type=Path, default=Path("bench_results"))
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.height, args.width, args.model = [10, 20], 96, 160, "stcn_small"
        args.capacity = min(args.capacity, 3)
    total = max(args.frames)
    results = []
    for policy in args.policies:
        cfg = StreamConfig(policy=policy, capacity=None if policy == "unbounded" else args.capacity,
                           temp_size=args.temp_size, frames=total, height=args.height, width=args.width,
                           objects=args.objects, mem_every=args.mem_every, top_k=args.top_k,
                           precision=args.precision, compile=args.compile, model=args.model, device=args.device,
                           threads=args.threads)
        print(f"running {policy} for {total} frames at {args.width}×{args.height}, {args.objects} objects, "
              f"{args.precision}, {args.model} on {args.device}", file=sys.stderr, flush=True)
        results.append(run_isolated(cfg))
    rows = [row for result in results for row in summarise(result, sorted(args.frames), args.window)]
    table = format_table(rows, args.window)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "stream.json").write_text(json.dumps({"rows": rows, "results": results}, indent=1))
    (args.out / "stream.md").write_text(table + "\n")
    plot(results, args.out / "stream.png")
    print(f"\nwrote {args.out / 'stream.json'}, {args.out / 'stream.md'} and {args.out / 'stream.png'}")


if __name__ == "__main__":
    main()
