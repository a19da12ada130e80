import json
import subprocess
import sys

import torch

from stcnbuf.bench.reference import OriginalSTCN
from stcnbuf.inference import OnlineSegmenter
from stcnbuf.memory import MemoryBank
from tests.conftest import REPO, moving_squares, tiny_net


def test_engine_matches_the_original_computation(video):
    """Shared object-independent halves, the gathered top-k read and the preallocated memory give the same
    probabilities as STCN's original per-object, dense-read computation."""
    frames, labels = video
    original = OriginalSTCN(tiny_net(), mem_every=2, top_k=10)
    ours = OnlineSegmenter(tiny_net(), MemoryBank("unbounded"), mem_every=2, top_k=10, channels_last=False)
    original.start(frames[0], labels[0], [1, 2])
    ours.start(frames[0], labels[0])
    pad = None
    for frame in frames[1:]:
        theirs = original.step(frame)
        pad = original.padding
        theirs = theirs[:, pad[2]: theirs.shape[1] - pad[3], pad[0]: theirs.shape[2] - pad[1]]
        torch.testing.assert_close(ours.step(frame).probs, theirs, atol=1e-4, rtol=1e-4)


def test_channels_last_gives_the_same_results():
    frames, labels = moving_squares(num_frames=6)
    runs = []
    for channels_last in (False, True):
        seg = OnlineSegmenter(tiny_net(), MemoryBank("fifo", 3, temp_size=1), mem_every=2, channels_last=channels_last)
        runs.append([seg.start(frames[0], labels[0]).probs] + [seg.step(f).probs for f in frames[1:]])
    for a, b in zip(*runs):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_quick_benchmark_runs_and_writes_its_results(tmp_path):
    done = subprocess.run([sys.executable, "-m", "stcnbuf.bench", "--quick", "--out", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| policy |" in done.stdout and "ratio" in done.stdout
    growth = done.stdout.split("| policy | s/frame, frames 1-2 |")[1].split("\n\n")[0]
    assert "| unbounded |" in growth and "| random_pixel |" in growth  # the growth table has a row per policy
    stream = json.loads((tmp_path / "stream.json").read_text())
    assert {r["policy"] for r in stream["rows"]} == {"unbounded", "random_pixel"}
    compare = json.loads((tmp_path / "compare.json").read_text())
    assert compare["ratio"] > 0 and compare["label_agreement"] > 0.9
    assert json.loads((tmp_path / "precision.json").read_text())["random weights"]["bf16_speedup"] > 0
    assert (tmp_path / "stream.png").stat().st_size > 1000 and (tmp_path / "summary.md").is_file()


def test_fps_grid_runs_each_setting(tmp_path):
    done = subprocess.run([sys.executable, "-m", "stcnbuf.bench", "fps", "--quick", "--compile-modes", "none",
                           "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = json.loads((tmp_path / "fps.json").read_text())["runs"]
    assert [(r["objects"], r["precision"]) for r in runs] == [(1, "fp32"), (1, "bf16"), (3, "fp32"), (3, "bf16")]
    assert all(r["fps"] > 0 and len(r["seconds"]) == 6 for r in runs)
    assert "| objects | precision | compile | FPS |" in done.stdout
