"""The parts of the benchmark, each from the parsed command line to a Markdown table (and its JSON results and
plots in ``--out``): ``stream``, ``compare``, ``precision``, ``evaluator``, ``scoring``, ``fps`` and the GPU run's
memory against length."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, List

from stcnbuf.lab.bench.rounds import markdown_table
from stcnbuf.lab.bench.stream import StreamConfig


def run_isolated(cfg: StreamConfig) -> Dict:
    """Run one stream in a fresh Python process and return its result."""
    done = subprocess.run([sys.executable, "-m", "stcnbuf.lab.bench.stream", json.dumps(asdict(cfg))],
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


#: the options that describe a stream (fields of StreamConfig), where a subcommand has them
STREAM_OPTIONS = ("temp_size", "height", "width", "objects", "mem_every", "top_k", "precision", "compile", "model",
                  "device", "threads")


def _stream_config(args: argparse.Namespace, frames: int, **changes: Any) -> StreamConfig:
    """The stream of ``frames`` frames that the options in ``args`` describe, with ``changes`` on top."""
    options = {name: getattr(args, name) for name in STREAM_OPTIONS if hasattr(args, name)}
    return StreamConfig(**{**options, "frames": frames, "keep_freed_memory": args.allocator == "keep", **changes})


def _write(args: argparse.Namespace, name: str, data) -> None:
    (args.out / f"{name}.json").write_text(json.dumps(data, indent=1))


def _with_machine(args: argparse.Namespace, result: Dict) -> Dict:
    from stcnbuf.lab.bench.machine import machine_info

    return {"machine": machine_info(args.device), **result}


def _caption(args: argparse.Namespace, what: str, isolated: bool = False) -> str:
    from stcnbuf.lab.bench.machine import machine_info, machine_line

    if isolated:
        allocator = ("each round in a fresh process: the original with glibc's default allocator, the engine "
                     "with freed memory kept (as the apps run it)")
    elif args.allocator == "keep":
        allocator = "one process, freed memory kept (inference.keep_freed_memory)"
    else:
        allocator = "one process, glibc's default allocator"
    return (f"{what}; {args.rounds} alternating rounds per side, {allocator}. "
            f"Measured on {machine_line(machine_info(args.device))}.")


def run_compare(args: argparse.Namespace) -> str:
    from stcnbuf.lab.bench.compare import compare_with_original
    from stcnbuf.lab.bench.rounds import plot_rounds, rounds_table

    print("comparing with STCN's original computation", file=sys.stderr, flush=True)
    cfg = _stream_config(args, args.compare_frames)
    result = _with_machine(args, compare_with_original(cfg, args.rounds, args.sequence, args.isolate))
    _write(args, "compare", result)
    size = f"{result['size'][1]}×{result['size'][0]}"
    what = (f"STCN's original computation against the engine: {result['source']}, {size}, {result['objects']} "
            f"object(s), {result['frames']} frames, unbounded, mem_every {args.mem_every}, top_k {args.top_k}, fp32")
    agreement = markdown_table(
        ["side", "label agreement with the original", "frames with identical labels", "max prob difference"],
        [[name, f"{side['label_agreement']:.7f}", f"{side['identical_frames']} of {result['frames'] - 1}",
          f"{side['max_prob_difference']:.1e}"] for name, side in result["sides"].items() if name != "original"])
    plot_rounds({"compare": result["rounds"]}, args.out / "compare.png", _caption(args, "compare", args.isolate))
    table = _caption(args, what, args.isolate) + "\n\n" + rounds_table(result["rounds"], "original") + "\n\n" + agreement
    print(table)
    return table


def run_precision(args: argparse.Namespace) -> str:
    from stcnbuf.lab.bench.compare import precision_speed
    from stcnbuf.lab.bench.rounds import plot_rounds

    runs = {"random weights": None}
    if args.checkpoint:
        runs["checkpoint"] = args.checkpoint
    results, rows = {}, []
    for name, checkpoint in runs.items():
        print(f"precision: {name}", file=sys.stderr, flush=True)
        result = precision_speed(_stream_config(args, args.compare_frames), checkpoint, args.rounds)
        results[name] = result
        rows.append([name, f"{result['fp32']['median']:.4f}", f"{result['bf16']['median']:.4f}",
                     f"{1 / result['median_ratio']:.2f}", f"{1 / result['best_ratio']:.2f}",
                     f"{1 / result['round_ratio_max']:.2f}-{1 / result['round_ratio_min']:.2f}",
                     f"{100 * max(result['fp32']['spread'], result['bf16']['spread']):.0f} %",
                     f"{result['label_agreement']:.4f}", f"{result['max_prob_difference']:.1e}"])
    _write(args, "precision", _with_machine(args, results))
    plot_rounds({name: result["rounds"] for name, result in results.items()}, args.out / "precision.png",
                _caption(args, "precision"))
    what = (f"fp32 against bf16 autocast: {args.model}, {args.width}×{args.height}, {args.objects} objects, "
            f"{args.compare_frames} frames")
    table = _caption(args, what) + "\n\n" + markdown_table(
        ["network", "fp32 median s/frame", "bf16 median s/frame", "bf16 speed-up (medians)", "(best rounds)",
         "(per round)", "largest spread", "label agreement", "max prob difference"], rows)
    print(table)
    return table


def run_evaluator(args: argparse.Namespace) -> str:
    from stcnbuf.lab.bench.evaluator import evaluator_speed, shared_jobs

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


def run_scoring(args: argparse.Namespace) -> str:
    """Seconds to score one long sequence (``present`` protocol) with each number of workers."""
    from stcnbuf.lab.bench.machine import machine_info, machine_line
    from stcnbuf.lab.bench.rounds import rounds_table
    from stcnbuf.lab.bench.scoring_speed import scoring_speed

    frames = 300 if args.quick else args.scoring_frames
    print(f"scoring a {frames}-frame sequence", file=sys.stderr, flush=True)
    result = scoring_speed(args.out / "scoring", frames, args.height, args.width, args.scoring_workers, args.rounds)
    result["machine"] = machine_info(args.device)
    _write(args, "scoring", result)
    baseline = next(iter(result["rounds"]))
    table = (f"Scoring one {frames}-frame {args.width}x{args.height} sequence of 4 objects (protocol present, "
             f"J&F {100 * result['J&F']:.2f} with every worker count), PNG decoding included; "
             f"{machine_line(result['machine'])}\n\n" + rounds_table(result["rounds"], baseline))
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
    title = (f"FPS at {args.width}×{args.height}, {args.model}, mem_every {args.mem_every}, top-k {args.top_k}, "
             f"{args.fps_frames} frames ({args.warm_up} warm-up) on {device_name}")
    # eager settings first, compiled ones (minutes of compilation each) last; results saved after every run
    for compile_mode in args.compile_modes:
        for objects in (1, 3):
            for precision in precisions:
                cfg = _stream_config(args, args.fps_frames, objects=objects, precision=precision,
                                     compile=compile_mode)
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
                _write(args, "fps", _with_machine(args, {
                    "device": device_name, "config": json.loads(json.dumps(vars(args), default=str)),
                    "runs": results}))
    table = title + "\n\n" + markdown_table(["objects", "precision", "compile", "FPS", "peak device MiB"], rows)
    print(table)
    return table


def run_device_memory(args: argparse.Namespace) -> str:
    """Memory against video length on the device (CUDA: memory allocated after each frame; CPU: RSS) for a
    bounded policy and unbounded memory, ``--gpu-frames`` frames each, in their own processes; and a plot."""
    results = []
    for policy in ("unbounded", "random_pixel"):
        cfg = _stream_config(args, args.gpu_frames, policy=policy,
                             capacity=None if policy == "unbounded" else args.capacity)
        print(f"device memory: {policy}, {args.gpu_frames} frames on {torch_device_name(args.device)}",
              file=sys.stderr, flush=True)
        results.append(run_isolated(cfg))
    on_device = bool(results[0]["device_mb"])
    key, unit = ("device_mb", "device memory allocated") if on_device else ("rss_mb", "RSS")
    marks = sorted({m for m in (100, 500, 1000, args.gpu_frames // 2, args.gpu_frames) if m <= args.gpu_frames})
    rows = []
    for result in results:
        series = result[key]
        timed = result["seconds"][args.warm_up:]
        rows.append([result["config"]["policy"], result["config"]["capacity"] or "-",
                     *[f"{series[m - 1]:.0f}" for m in marks], f"{len(timed) / sum(timed):.1f}"])
    _write(args, "device_memory", {"device": torch_device_name(args.device), "results": results})
    plot_series(results, key, f"{unit} (MiB)", args.out / "device_memory.png")
    title = (f"{unit} (MiB) against frames, {args.width}×{args.height}, {args.objects} objects, {args.model}, "
             f"on {torch_device_name(args.device)}")
    table = title + "\n\n" + markdown_table(["policy", "capacity", *[f"frame {m}" for m in marks], "FPS"], rows)
    print(table)
    return table


def plot_series(results: List[Dict], key: str, label: str, path: Path) -> None:
    """``result[key]`` against frame index, one line per policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for result in results:
        cfg = result["config"]
        ax.plot(range(1, len(result[key]) + 1), result[key],
                label=cfg["policy"] + (f" (capacity {cfg['capacity']})" if cfg["capacity"] else ""))
    ax.set(xlabel="frame", ylabel=label)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


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
        cfg = _stream_config(args, total, policy=policy, capacity=None if policy == "unbounded" else args.capacity)
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
    """How time and memory grow: the last tenth of the frames against the second tenth (frames 1,000-2,000 and
    the last 1,000 of a 10,000-frame run), and peak RSS at the end against the end of the second tenth."""
    rows = []
    window = None
    for result in results:
        seconds, peak = result["seconds"], result["peak_rss_mb"]
        n = len(seconds)
        window = max(1, n // 10)
        early, late = sum(seconds[window:2 * window]) / window, sum(seconds[n - window:]) / window
        rows.append([result["config"]["policy"], f"{early:.3f}", f"{late:.3f}", f"{late / early:.3f}",
                     f"{peak[2 * window - 1]:.0f}", f"{peak[-1]:.0f}", f"{peak[-1] / peak[2 * window - 1]:.3f}"])
    early_label = f"frames {window}-{2 * window}" if window else "early frames"
    return markdown_table(["policy", f"s/frame, {early_label}", f"s/frame, last {window or ''}".rstrip(), "ratio",
                           f"peak RSS at {2 * window if window else 'early'}", "at the end", "ratio"], rows)
