"""``python -m stcnbuf.bench [stream|compare|precision|evaluator|all]``: speed and memory figures.

- ``stream``: per-frame time and peak RSS on a synthetic video (480×854, 3 objects, random weights) for each
  memory policy, at several lengths; each policy in its own process so that peak RSS is its own; a plot of
  time and RSS against frame index.
- ``compare``: the engine against STCN's original computation (same weights, same frames), side by side.
- ``precision``: fp32 against bf16 autocast (speed, label agreement).
- ``evaluator``: the J&F evaluator against a single-threaded per-frame implementation of the official kit.
- ``fps``: frames per second for 1 and 3 objects × fp32 / bf16 / fp16 autocast × eager / ``torch.compile``
  (the GPU grid: ``python -m stcnbuf.bench fps --device cuda``; fp16 only on CUDA).

``all`` (the default) runs the first four. Results go to ``--out`` as JSON and Markdown tables.

    python -m stcnbuf.bench                        # everything, full size (hours on a 2-core CPU)
    python -m stcnbuf.bench --quick                # small sizes: checks that everything runs
    python -m stcnbuf.bench stream --frames 50 150 --policies unbounded fifo --capacity 8
    python -m stcnbuf.bench fps --device cuda --out docs/benchmarks/gpu   # the GPU grid (a few minutes)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, List

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


def markdown_table(header: List[str], rows: List[List[Any]]) -> str:
    """A Markdown table of already formatted cells."""
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(str(cell) for cell in line) + " |" for line in lines)


def format_table(rows: List[Dict], window: int) -> str:
    header = ["policy", "capacity", "frames", f"s/frame (last {window})", "s/frame (mean)", "peak RSS MiB",
              "memory bank MiB"]
    return markdown_table(header, [
        [r["policy"], r["capacity"] if r["capacity"] is not None else "-", r["frames"], f"{r['s_per_frame_recent']:.3f}",
         f"{r['s_per_frame_mean']:.3f}", f"{r['peak_rss_mb']:.0f}", f"{r['memory_bank_mb']:.0f}"] for r in rows])


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
    parser.add_argument("what", nargs="?", default="all", choices=["all", "stream", "compare", "precision", "evaluator", "fps"])
    parser.add_argument("--compare-frames", type=int, default=50, help="frames of the compare/precision runs")
    parser.add_argument("--checkpoint", default=None, help="a trained checkpoint for the precision run as well")
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
    parser.add_argument("--fps-frames", type=int, default=100, help="frames of each fps run")
    parser.add_argument("--compile-modes", nargs="+", default=["none", "compile"], choices=["none", "script", "compile"],
                        help="compile settings of the fps grid")
    parser.add_argument("--warm-up", type=int, default=10, help="frames left out of the fps figure")
    parser.add_argument("--window", type=int, default=10, help="frames averaged for the per-frame time")
    parser.add_argument("--out", type=Path, default=Path("bench_results"))
    parser.add_argument("--shared-data", type=Path, default=Path("../shared/data"),
                        help="the real test data for the evaluator run (davis2016/, davis2017-osvos/)")
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.height, args.width, args.model = [10, 20], 96, 160, "stcn_small"
        args.capacity, args.compare_frames, args.fps_frames, args.warm_up = min(args.capacity, 3), 6, 6, 2
    args.out.mkdir(parents=True, exist_ok=True)
    tables = []
    if args.what in ("all", "stream"):
        tables.append(run_streams(args))
    if args.what in ("all", "compare"):
        tables.append(run_compare(args))
    if args.what in ("all", "precision"):
        tables.append(run_precision(args))
    if args.what in ("all", "evaluator"):
        tables.append(run_evaluator(args))
    if args.what == "fps":
        tables.append(run_fps(args))
    (args.out / "summary.md").write_text("\n\n".join(tables) + "\n")
    print(f"\nwrote the JSON results, {args.out / 'summary.md'} and {args.out / 'stream.png'} into {args.out}"
          if args.what in ("all", "stream") else f"\nwrote the results into {args.out}")


def _stream_config(args: argparse.Namespace, **changes) -> StreamConfig:
    base = dict(policy="unbounded", capacity=None, temp_size=args.temp_size, frames=args.compare_frames,
                height=args.height, width=args.width, objects=args.objects, mem_every=args.mem_every,
                top_k=args.top_k, precision=args.precision, compile=args.compile, model=args.model,
                device=args.device, threads=args.threads)
    base.update(changes)
    return StreamConfig(**base)


def _write(args: argparse.Namespace, name: str, data) -> None:
    (args.out / f"{name}.json").write_text(json.dumps(data, indent=1))


def run_compare(args: argparse.Namespace) -> str:
    from stcnbuf.bench.compare import compare_with_original

    print("comparing with STCN's original computation", file=sys.stderr, flush=True)
    result = compare_with_original(_stream_config(args))
    _write(args, "compare", result)
    table = markdown_table(
        ["frames", "stcnbuf s/frame", "original s/frame", "ratio", "label agreement", "max prob difference"],
        [[result["frames"], f"{result['stcnbuf_s_per_frame']:.3f}", f"{result['original_s_per_frame']:.3f}",
          f"{result['ratio']:.3f}", f"{result['label_agreement']:.4f}", f"{result['max_prob_difference']:.1e}"]])
    print(table)
    return table


def run_precision(args: argparse.Namespace) -> str:
    from stcnbuf.bench.compare import precision_speed

    rows = []
    runs = {"random weights": None}
    if args.checkpoint:
        runs["checkpoint"] = args.checkpoint
    results = {}
    for name, checkpoint in runs.items():
        print(f"precision: {name}", file=sys.stderr, flush=True)
        result = precision_speed(_stream_config(args), checkpoint)
        results[name] = result
        rows.append([name, f"{result['fp32_s_per_frame']:.3f}", f"{result['bf16_s_per_frame']:.3f}",
                     f"{result['bf16_speedup']:.2f}", f"{result['label_agreement']:.4f}",
                     f"{result['max_prob_difference']:.1e}"])
    _write(args, "precision", results)
    table = markdown_table(["network", "fp32 s/frame", "bf16 s/frame", "bf16 speed-up", "label agreement",
                            "max prob difference"], rows)
    print(table)
    return table


def run_evaluator(args: argparse.Namespace) -> str:
    from stcnbuf.bench.evaluator import evaluator_speed, shared_jobs

    data = args.shared_data
    if not (data / "davis2016").is_dir() or not (data / "davis2017-osvos").is_dir():
        message = f"evaluator benchmark skipped: real data not found under {data}"
        print(message, file=sys.stderr)
        return message
    print("evaluator throughput", file=sys.stderr, flush=True)
    result = evaluator_speed(shared_jobs(data, 4 if args.quick else 20))
    _write(args, "evaluator", result)
    table = markdown_table(
        ["sequences", "official kit s (1 process, per frame)", "stcnbuf s", "speed-up",
         "PNG decoding alone s (1 process)", "max abs difference"],
        [[result["sequences"], f"{result['official_style_s']:.2f}", f"{result['stcnbuf_s']:.2f}",
          f"{result['speedup']:.1f}", f"{result['png_decoding_s']:.2f}", f"{result['max_abs_difference']:.1e}"]])
    print(table)
    return table


def run_fps(args: argparse.Namespace) -> str:
    """Frames per second (time of the key/value encoders, memory read and decoder; no video decoding) after
    ``--warm-up`` frames, each setting in its own process."""
    if args.fps_frames <= args.warm_up:
        raise SystemExit(f"--fps-frames ({args.fps_frames}) must be larger than --warm-up ({args.warm_up})")
    precisions = ["fp32", "bf16", "fp16"] if args.device.startswith("cuda") else ["fp32", "bf16"]
    device_name = torch_device_name(args.device)
    rows: List[List[Any]] = []
    results = []
    for objects in (1, 3):
        for precision in precisions:
            for compile_mode in args.compile_modes:
                cfg = _stream_config(args, objects=objects, precision=precision, compile=compile_mode,
                                     frames=args.fps_frames)
                print(f"fps: {objects} object(s), {precision}, compile={compile_mode} on {device_name}",
                      file=sys.stderr, flush=True)
                try:
                    result = run_isolated(cfg)
                except RuntimeError as error:
                    rows.append([objects, precision, compile_mode, f"failed: {error}", ""])
                    continue
                timed = result["seconds"][args.warm_up:]
                fps = len(timed) / sum(timed)
                results.append({"objects": objects, "precision": precision, "compile": compile_mode, "fps": fps,
                                "peak_device_mb": result["device_peak_mb"], "seconds": result["seconds"]})
                rows.append([objects, precision, compile_mode, f"{fps:.1f}", f"{result['device_peak_mb']:.0f}"])
    title = (f"FPS at {args.width}×{args.height}, {args.model}, mem_every {args.mem_every}, top-k {args.top_k}, "
             f"{args.fps_frames} frames ({args.warm_up} warm-up) on {device_name}")
    _write(args, "fps", {"device": device_name, "config": json.loads(json.dumps(vars(args), default=str)),
                         "runs": results})
    table = title + "\n\n" + markdown_table(["objects", "precision", "compile", "FPS", "peak device MiB"], rows)
    print(table)
    return table


def torch_device_name(device: str) -> str:
    """The accelerator's name, or the CPU's model name."""
    import platform

    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({torch.get_num_threads()} threads)"
    except OSError:
        pass
    return platform.processor() or "cpu"


def run_streams(args: argparse.Namespace) -> str:
    total = max(args.frames)
    results = []
    for policy in args.policies:
        cfg = _stream_config(args, policy=policy, capacity=None if policy == "unbounded" else args.capacity,
                             frames=total)
        print(f"running {policy} for {total} frames at {args.width}×{args.height}, {args.objects} objects, "
              f"{args.precision}, {args.model} on {args.device}", file=sys.stderr, flush=True)
        results.append(run_isolated(cfg))
    rows = [row for result in results for row in summarise(result, sorted(args.frames), args.window)]
    table = format_table(rows, args.window)
    print(table)
    growth = growth_table(results)
    print(growth)
    _write(args, "stream", {"rows": rows, "results": results})
    plot(results, args.out / "stream.png")
    return table + "\n\n" + growth


def growth_table(results: List[Dict]) -> str:
    """How time and memory grow: the last twelfth of the frames against the second twelfth (frames 50-100 and the
    last 50 of a 600-frame run), and peak RSS at the end against the end of the second twelfth."""
    rows = []
    window = None
    for result in results:
        seconds, peak = result["seconds"], result["peak_rss_mb"]
        n = len(seconds)
        window = max(1, n // 12)
        early, late = sum(seconds[window:2 * window]) / window, sum(seconds[n - window:]) / window
        rows.append([result["config"]["policy"], f"{early:.3f}", f"{late:.3f}", f"{late / early:.3f}",
                     f"{peak[2 * window - 1]:.0f}", f"{peak[-1]:.0f}", f"{peak[-1] / peak[2 * window - 1]:.3f}"])
    early_label = f"frames {window}-{2 * window}" if window else "early frames"
    return markdown_table(["policy", f"s/frame, {early_label}", f"s/frame, last {window or ''}".rstrip(), "ratio",
                           f"peak RSS at {2 * window if window else 'early'}", "at the end", "ratio"], rows)

if __name__ == "__main__":
    main()
