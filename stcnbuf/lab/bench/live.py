"""``bench live``: latency and frame rate of the segment app on a live stream.

Synthetic raw ``rgb24`` frames (the ``stream`` benchmark's video) are piped into ``python -m stcnbuf.apps.segment
video=-`` by this process, which watches ``masks.rle.jsonl.partial`` for each frame's line: a frame's latency is
from its write into the pipe to its line being seen in the file (pipe, reader thread, segmentation, RLE line,
flush, all of it). ``--live-fps 0`` (the default) sends the next frame once the previous line is there (the
latency of a segmenter that keeps up; the frame rate is the most it sustains); ``--live-fps R`` sends ``R`` frames a
second whatever the segmenter does (latency then grows when it falls behind). Each model and object count runs
in its own process, with random weights.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import torch

from stcnbuf.engine.checkpoint import export_original
from stcnbuf.engine.model.stcn import STCN
from stcnbuf.io.masks import write_label_png
from stcnbuf.lab.bench import parts
from stcnbuf.lab.bench.rounds import markdown_table
from stcnbuf.lab.bench.stream import StreamConfig, model_architecture, synthetic_stream


def _lines(path: Path) -> int:
    """Frame lines flushed into an open live file so far."""
    try:
        return max(0, path.read_bytes().count(b"\n") - 1)
    except FileNotFoundError:
        return 0


def _report(stdout: str) -> Dict[str, str]:
    """The ``key: value`` lines the segment app prints at the end."""
    return dict(re.fullmatch(r"(\w+): (.*)", line).groups() for line in stdout.splitlines()
                if re.fullmatch(r"\w+: .*", line))


def live_stream(checkpoint: Path, mask: Path, frame, frames: int, size: tuple, out: Path, device: str,
                precision: str, rate: float, timeout: float = 1800.0) -> Dict[str, Any]:
    """Pipe ``frames`` frames of ``frame(t)`` (``size`` ``(H, W)``) into the segment app; the send and seen times
    of each frame, and the app's own report."""
    height, width = size
    command = [sys.executable, "-m", "stcnbuf.apps.segment", "video=-", f"reader.size={width}x{height}",
               "reader.shorter_side=null", f"model.checkpoint={checkpoint}", f"init.mask={mask}",
               f"output_dir={out}", f"device={device}", f"inference.precision={precision}", "outputs.overlay=false"]
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "app.log", "wb")
    app = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
    partial = out / "masks.rle.jsonl.partial"
    sent: List[float] = []
    seen: List[float] = []
    flushed = threading.Condition()

    def send() -> None:
        began = time.perf_counter()
        for t in range(frames):
            with flushed:
                if rate <= 0:
                    flushed.wait_for(lambda: len(seen) >= t or app.poll() is not None)
            if rate > 0:
                time.sleep(max(0.0, began + t / rate - time.perf_counter()))
            data = np.ascontiguousarray(frame(t)).tobytes()
            sent.append(time.perf_counter())
            try:
                app.stdin.write(data)
                app.stdin.flush()
            except BrokenPipeError:
                return
        app.stdin.close()

    writer = threading.Thread(target=send, daemon=True)
    writer.start()
    deadline = time.monotonic() + timeout
    while len(seen) < frames and app.poll() is None and time.monotonic() < deadline:
        count = _lines(partial)
        now = time.perf_counter()
        if count > len(seen):
            with flushed:
                seen.extend([now] * (count - len(seen)))
                flushed.notify_all()
        time.sleep(0.0005)
    writer.join(timeout=max(1.0, deadline - time.monotonic()))
    try:
        app.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        app.kill()
        log.close()
    text = (out / "app.log").read_text(errors="replace")
    if app.returncode != 0 or len(seen) < frames:
        raise RuntimeError(f"the segment app ended with code {app.returncode} after {len(seen)} of {frames} frames:\n"
                           f"{text[-2000:]}")
    return {"sent": sent, "seen": seen, "app": _report(text)}


def summary(sent: List[float], seen: List[float], warm_up: int) -> Dict[str, float]:
    """Latency (ms: median, p95, max) and frames per second of the frames after ``warm_up``."""
    ms = (np.asarray(seen[warm_up:]) - np.asarray(sent[warm_up:len(seen)])) * 1000.0
    span = seen[-1] - sent[warm_up]
    return {"latency_ms_median": float(np.median(ms)), "latency_ms_p95": float(np.percentile(ms, 95)),
            "latency_ms_max": float(ms.max()), "fps": (len(seen) - warm_up) / span if span > 0 else float("nan")}


def run_live(args: argparse.Namespace) -> str:
    """Latency and frame rate of a live stream through the segment app, per model and object count."""
    if args.live_frames <= args.live_warm_up:
        raise SystemExit(f"--live-frames ({args.live_frames}) must be larger than --live-warm-up ({args.live_warm_up})")
    rate = "the next frame sent once the previous line is flushed" if args.live_fps <= 0 else \
        f"frames sent at {args.live_fps:g} per second"
    title = (f"Live stream (video=-, raw rgb24) at {args.width}×{args.height}, {rate}; latency from a frame's write "
             f"into the pipe to its line in masks.rle.jsonl, {args.live_frames} frames ({args.live_warm_up} warm-up), "
             f"random weights, {args.device}, {args.precision}")
    rows: List[List[Any]] = []
    runs: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for model in args.live_models:
            torch.manual_seed(0)
            checkpoint = export_original(STCN(**model_architecture(model)).eval(), root / f"{model}.pth")
            for objects in (1, 3):
                frame, label = synthetic_stream(StreamConfig(height=args.height, width=args.width, objects=objects))
                mask = write_label_png(root / f"mask-{objects}.png", label)
                print(f"live: {model}, {objects} object(s)", file=sys.stderr, flush=True)
                measured = live_stream(checkpoint, mask, frame, args.live_frames, (args.height, args.width),
                                       root / f"{model}-{objects}", args.device, args.precision, args.live_fps)
                figures = summary(measured["sent"], measured["seen"], args.live_warm_up)
                runs.append({"model": model, "objects": objects, **figures, "app_report": measured["app"]})
                rows.append([model, objects, f"{figures['fps']:.2f}", f"{figures['latency_ms_median']:.0f}",
                             f"{figures['latency_ms_p95']:.0f}", f"{figures['latency_ms_max']:.0f}",
                             measured["app"].get("kept_up", "?")])
                parts._write(args, "live", parts._with_machine(args, {"title": title, "runs": runs}))
    from stcnbuf.lab.bench.machine import machine_info, machine_line

    table = (title + f". Measured on {machine_line(machine_info(args.device))}.\n\n" +
             markdown_table(["model", "objects", "FPS", "latency median ms", "p95 ms", "max ms", "kept up"], rows))
    print(table)
    return table


__all__ = ["live_stream", "run_live", "summary"]
