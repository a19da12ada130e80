"""``python -m stcnbuf.lab.bench.corrections``: the time of a correction near the end of a long video against a
full rerun with the same masks.

A looped video (``--frames`` frames, two textured squares; :func:`~stcnbuf.lab.bench.soak.write_video_folder`)
is segmented by the segment app from frame 0 (online, bounded memory, random small network). Then, in
``--rounds`` alternating rounds: a copy of that run folder is rerun with one more mask, on frame
``--correction`` (default: 100 frames before the end; object 1 moved), which keeps the frames before the latest
snapshot preceding it; and a fresh folder is run with both masks at once. Both must write the same
``masks.rle.jsonl`` byte for byte. Reports the medians of the wall times (whole processes: start-up, reading,
writing included) and of the segmentation compute seconds (``--threads`` torch threads per run, default 1), the frames reused and recomputed, and the CPU.

    python -m stcnbuf.lab.bench.corrections --frames 2000 --rounds 3 --out docs/results/benchmarks/corrections
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from stcnbuf.io.atomic import atomic_write_text
from stcnbuf.io.masks import write_label_png
from stcnbuf.lab.bench.machine import machine_info, machine_line
from stcnbuf.lab.bench.soak import looped_frames, random_weights, write_video_folder


def _segment(command: Sequence[str], out: Path, threads: int) -> Dict[str, float]:
    """Run the segment app into ``out`` with ``threads`` torch threads; its printed result with the process's wall
    seconds."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    began = time.perf_counter()
    done = subprocess.run([*command, f"output_dir={out}"], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"the segment app failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    return {"process_seconds": wall, "seconds": float(result["seconds"]),
            "frames_reused": int(result["frames_reused"]), "frames_recomputed": int(result["frames_recomputed"])}


def run(work: Path, frames: int, correction: int, rounds: int, height: int, width: int, snapshot_every: int,
        snapshot_keep: int, threads: int = 1) -> Dict[str, object]:
    if not 0 < correction < frames:
        raise ValueError(f"--correction {correction} must be a frame after the first (1..{frames - 1})")
    write_video_folder(work / "video", frames, height, width)
    frame = looped_frames(frames, height, width)
    first = write_label_png(work / "first.png", frame(0)[1])
    labels = frame(correction)[1]
    moved = np.where(np.roll(labels == 1, 4, axis=1), 1, np.where(labels == 1, 0, labels)).astype(np.uint8)
    fix = write_label_png(work / "fix.png", moved)  # object 1 four pixels to the right
    common = [sys.executable, "-m", "stcnbuf.apps.segment", f"video={work / 'video' / 'frames'}",
              f"model.checkpoint={random_weights(work / 'weights.pth')}", "memory=buffer", "memory.capacity=8",
              "inference=online", "reader.shorter_side=null", "outputs.overlay=false", "device=cpu",
              f"snapshot_every={snapshot_every}", f"snapshot_keep={snapshot_keep}", f"paths.log_dir={work / 'logs'}"]
    before = _segment([*common, "init.frame=0", f"init.mask={first}"], work / "before", threads)
    both = [*common, f"init.frame=[0,{correction}]", f"init.mask=[{first},{fix}]"]
    results: Dict[str, List[Dict[str, float]]] = {"correction": [], "full": []}
    identical = True
    for index in range(rounds):
        for side in (("correction", "full") if index % 2 == 0 else ("full", "correction")):
            out = work / f"{side}{index}"
            if side == "correction":
                shutil.copytree(work / "before", out)
            results[side].append(_segment(both, out, threads))
        identical &= ((work / f"correction{index}" / "masks.rle.jsonl").read_bytes()
                      == (work / f"full{index}" / "masks.rle.jsonl").read_bytes())
        for side in results:
            shutil.rmtree(work / f"{side}{index}")

    def median(side: str, key: str) -> float:
        return round(statistics.median(r[key] for r in results[side]), 2)

    summary = {side: {key: median(side, key) for key in results[side][0]} for side in results}
    info = machine_info()
    return {"frames": frames, "size": [height, width], "correction_frame": correction, "rounds": rounds,
            "snapshot_every": snapshot_every, "snapshot_keep": snapshot_keep, "threads": threads, "first_run": before, **summary,
            "speedup_process": round(summary["full"]["process_seconds"] / summary["correction"]["process_seconds"], 2),
            "speedup_compute": round(summary["full"]["seconds"] / max(summary["correction"]["seconds"], 1e-9), 2),
            "identical": identical, "machine": machine_line(info), "rounds_raw": results}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--correction", type=int, default=None, help="frame of the correction (default: frames - 100)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--height", type=int, default=48)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--snapshot-every", type=int, default=100)
    parser.add_argument("--snapshot-keep", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each run (OMP_NUM_THREADS)")
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=None, help="folder for corrections.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as temporary:
        work = args.work or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        result = run(work, args.frames, args.frames - 100 if args.correction is None else args.correction,
                     args.rounds, args.height, args.width, args.snapshot_every, args.snapshot_keep, args.threads)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out is not None:
        atomic_write_text(args.out / "corrections.json", text + "\n")
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
