"""``python -m stcnbuf.lab.bench.soak``: kill runs at random points, resume them, compare with uninterrupted runs.

- ``segment``: a looped video (a folder of ``--frames`` frames cycling through 50 distinct ones, initial mask
  on the middle frame, so both the forward and the backward run are interrupted) segmented by the segment app
  with a bounded memory; the run is killed (SIGKILL) ``--kills`` times after random numbers of written frames
  and resumed each time. Its ``masks.rle.jsonl`` must equal that of an uninterrupted run byte for byte, and
  the uninterrupted run's resident memory must stay flat (the largest RSS of its last quarter against its RSS
  at a quarter).
- ``eval``: ``stcnbuf-eval`` on ``--sequences`` small sequences, killed ``--kills`` times after random numbers of
  finished sequences and resumed; every prediction PNG and the per-sequence scores must equal those of an
  uninterrupted run.

    python -m stcnbuf.lab.bench.soak                                  # 10,000 frames, 100 sequences, 5 kills each
    python -m stcnbuf.lab.bench.soak --frames 300 --sequences 8 --kills 3 --work /tmp/soak

Prints one JSON object (also written to ``WORK/soak.json``); exits 1 when a result differs. The network has
random weights (no download): what is tested is the machinery, not the accuracy.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import cv2
import numpy as np
import psutil
import torch

from stcnbuf.engine.checkpoint import export_original
from stcnbuf.engine.model import STCN
from stcnbuf.io.atomic import atomic_write_text
from stcnbuf.io.masks import write_label_png
from stcnbuf.lab.scripts import console_script

DISTINCT_FRAMES = 50


def looped_frames(num_frames: int, height: int, width: int, seed: int = 0) -> Callable[[int], tuple]:
    """Frame ``t`` (RGB) and its label map: two textured squares moving over a textured background, the
    motion repeating every :data:`DISTINCT_FRAMES` frames."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    textures = [rng.integers(0, 255, (height // 4, width // 4, 3), dtype=np.uint8) for _ in range(2)]

    def frame(t: int) -> tuple:
        phase = 2 * np.pi * (t % DISTINCT_FRAMES) / DISTINCT_FRAMES
        image, labels = background.copy(), np.zeros((height, width), np.uint8)
        for k, texture in enumerate(textures):
            y = int((height - texture.shape[0]) * (0.5 + 0.4 * np.sin(phase + k * np.pi)))
            x = int((width - texture.shape[1]) * (0.5 + 0.4 * np.cos(phase + k)))
            image[y:y + texture.shape[0], x:x + texture.shape[1]] = texture
            labels[y:y + texture.shape[0], x:x + texture.shape[1]] = k + 1
        return image, labels

    return frame


def write_video_folder(folder: Path, num_frames: int, height: int = 96, width: int = 128) -> Path:
    """``folder/frames/<t>.jpg`` and the middle frame's mask ``folder/init.png``; returns the mask path."""
    frame = looped_frames(num_frames, height, width)
    (folder / "frames").mkdir(parents=True, exist_ok=True)
    encoded = {}
    for t in range(num_frames):
        if t % DISTINCT_FRAMES not in encoded:
            encoded[t % DISTINCT_FRAMES] = cv2.imencode(".jpg", frame(t)[0][..., ::-1])[1].tobytes()
        (folder / "frames" / f"{t:05d}.jpg").write_bytes(encoded[t % DISTINCT_FRAMES])
    return write_label_png(folder / "init.png", frame(num_frames // 2)[1])


def write_dataset(root: Path, sequences: int, frames: int = 6, height: int = 48, width: int = 64) -> Path:
    """A folder dataset of ``sequences`` short sequences, every frame annotated (so they are scored)."""
    for s in range(sequences):
        frame = looped_frames(frames, height, width, seed=s)
        for kind in ("JPEGImages", "Annotations"):
            (root / kind / f"seq{s:03d}").mkdir(parents=True, exist_ok=True)
        for t in range(frames):
            image, labels = frame(3 * t)
            cv2.imwrite(str(root / "JPEGImages" / f"seq{s:03d}" / f"{t:05d}.jpg"), image[..., ::-1])
            write_label_png(root / "Annotations" / f"seq{s:03d}" / f"{t:05d}.png", labels)
    return root


def random_weights(path: Path, seed: int = 0) -> Path:
    """A small random-weight STCN in the original checkpoint format."""
    torch.manual_seed(seed)
    return export_original(STCN(key_backbone="resnet18", key_dim=16, value_dim=32, decoder_dims=(32, 16, 16)), path)


def _start(command: Sequence[str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as output:  # a file, not a pipe: progress bars would fill a pipe and block the run
        return subprocess.Popen(list(command), cwd=log.parent, stdout=output, stderr=subprocess.STDOUT)


def _failed(command: Sequence[str], code: int, log: Path) -> RuntimeError:
    return RuntimeError(f"{' '.join(command[:3])} ... failed ({code}); the end of {log}:\n"
                        f"{log.read_text(errors='replace')[-2000:]}")


def run_killed(command: Sequence[str], progress: Callable[[], int], kill_at: Sequence[int], log: Path,
               poll_s: float = 0.02) -> Dict[str, object]:
    """Run ``command`` to completion, SIGKILLing it once ``progress()`` reaches each of ``kill_at`` (ascending)
    and starting it again; returns the kills made, the progress at each kill and each run's peak RSS."""
    kills, peaks = [], []
    targets = list(kill_at)
    while True:
        process = _start(command, log)
        watched, peak = psutil.Process(process.pid), 0
        while process.poll() is None:
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.Error:
                pass
            if targets and progress() >= targets[0]:
                process.send_signal(signal.SIGKILL)
                process.wait()
                kills.append(progress())
                targets.pop(0)
                break
            time.sleep(poll_s)
        else:
            if process.returncode != 0:
                raise _failed(command, process.returncode, log)
            peaks.append(peak)
            return {"kills": len(kills), "killed_at": kills, "peak_rss_mb": [p / 2 ** 20 for p in peaks]}
        peaks.append(peak)


def rss_profile(command: Sequence[str], progress: Callable[[], int], total: int, log: Path,
                poll_s: float = 0.05) -> Dict[str, float]:
    """Run ``command`` uninterrupted, sampling its RSS: the RSS once a quarter of ``total`` is done, the largest
    in the last quarter, and their ratio (1.0: flat)."""
    process = _start(command, log)
    watched, samples = psutil.Process(process.pid), []
    while process.poll() is None:
        try:
            samples.append((progress(), watched.memory_info().rss))
        except psutil.Error:
            break
        time.sleep(poll_s)
    if process.wait() != 0:
        raise _failed(command, process.returncode, log)
    quarter = next((rss for done, rss in samples if done >= total / 4), 0)
    late = max((rss for done, rss in samples if done >= 3 * total / 4), default=0)
    return {"rss_quarter_mb": quarter / 2 ** 20, "rss_last_quarter_mb": late / 2 ** 20,
            "growth": late / quarter if quarter else float("nan")}


def _lines(path: Path) -> int:
    """Frame lines written so far into an RLE file or its ``.partial``."""
    for candidate in (path, path.with_name(path.name + ".partial")):
        try:
            with open(candidate, "rb") as file:
                return max(file.read().count(b"\n") - 1, 0)
        except FileNotFoundError:
            continue
    return 0


def _targets(rng: np.random.Generator, total: int, kills: int) -> List[int]:
    return sorted(int(t) for t in rng.choice(np.arange(1, total), size=min(kills, total - 1), replace=False))


def soak_segment(work: Path, checkpoint: Path, frames: int, kills: int, rng: np.random.Generator) -> Dict[str, object]:
    """The segment part (see the module docstring)."""
    mask = write_video_folder(work / "video", frames)
    common = [sys.executable, "-m", "stcnbuf.apps.segment", f"video={work / 'video' / 'frames'}", f"init.mask={mask}",
              f"model.checkpoint={checkpoint}", "memory=buffer", "memory.capacity=4", "inference=online",
              "reader.shorter_side=null", "outputs.overlay=false", f"snapshot_every={max(frames // 50, 5)}",
              f"paths.log_dir={work / 'logs'}", "device=cpu"]
    straight, resumed = work / "segment_straight", work / "segment_resumed"
    memory = rss_profile([*common, f"output_dir={straight}"], lambda: _lines(straight / "masks.rle.jsonl"), frames,
                         work / "segment_straight.log")
    killed = run_killed([*common, f"output_dir={resumed}"], lambda: _lines(resumed / "masks.rle.jsonl"),
                        _targets(rng, frames, kills), work / "segment_resumed.log")
    same = (resumed / "masks.rle.jsonl").read_bytes() == (straight / "masks.rle.jsonl").read_bytes()
    return {"frames": frames, **killed, **memory, "identical": same}


def soak_eval(work: Path, checkpoint: Path, sequences: int, kills: int, rng: np.random.Generator) -> Dict[str, object]:
    """The eval part (see the module docstring)."""
    root = write_dataset(work / "dataset", sequences)
    common = [console_script("stcnbuf-eval"), "data=folder", f"data.root={root}", "data.annotation_use=first",
              f"model.checkpoint={checkpoint}", "memory=buffer", "memory.capacity=4", "inference=online",
              "logger=none", "workers=1", f"paths.log_dir={work / 'logs'}", "device=cpu"]
    straight, resumed = work / "eval_straight", work / "eval_resumed"
    code = _start([*common, f"output_dir={straight}"], work / "eval_straight.log").wait()
    if code != 0:
        raise _failed(common, code, work / "eval_straight.log")
    markers = resumed / "sequences"
    killed = run_killed([*common, f"output_dir={resumed}"],
                        lambda: len(list(markers.glob("*.json"))) if markers.is_dir() else 0,
                        _targets(rng, sequences, kills), work / "eval_resumed.log")
    pngs = sorted(p.relative_to(straight) for p in (straight / "predictions").rglob("*.png"))
    same = pngs == sorted(p.relative_to(resumed) for p in (resumed / "predictions").rglob("*.png")) and all(
        (straight / p).read_bytes() == (resumed / p).read_bytes() for p in pngs)
    tables = sorted(p.name for p in straight.glob("per-sequence_results-*.csv"))
    same = same and bool(tables) and all((straight / t).read_bytes() == (resumed / t).read_bytes() for t in tables)
    return {"sequences": sequences, "predictions": len(pngs), **killed, "identical": same}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stcnbuf.lab.bench.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=10_000, help="length of the looped video")
    parser.add_argument("--sequences", type=int, default=100, help="sequences of the eval run")
    parser.add_argument("--kills", type=int, default=5, help="kills of each run")
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill points")
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--parts", nargs="+", choices=("segment", "eval"), default=["segment", "eval"])
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="stcnbuf-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    checkpoint = random_weights(work / "random.pth")
    result: Dict[str, object] = {"work": str(work), "cpu_threads": torch.get_num_threads()}
    if "segment" in args.parts:
        result["segment"] = soak_segment(work, checkpoint, args.frames, args.kills, rng)
    if "eval" in args.parts:
        result["eval"] = soak_eval(work, checkpoint, args.sequences, args.kills, rng)
    atomic_write_text(work / "soak.json", json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0 if all(result[p]["identical"] for p in args.parts) else 1


if __name__ == "__main__":
    sys.exit(main())
