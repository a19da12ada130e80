import inspect
import json
import re
import subprocess
import sys

import pytest
import torch

from stcnbuf.engine import Segmenter
from stcnbuf.engine.memory import MemoryBank
from stcnbuf.lab.bench import parts
from stcnbuf.lab.bench.__main__ import PARTS, SUBCOMMANDS, parse
from stcnbuf.lab.bench.compare import ENGINE_SIDES
from stcnbuf.lab.bench.machine import FLAGS_OF_INTEREST, machine_info, machine_line
from stcnbuf.lab.bench.parts import STREAM_OPTIONS
from stcnbuf.lab.bench.reference import OriginalSTCN
from stcnbuf.lab.bench.rounds import alternate, ratio, rounds_table, summary
from tests.conftest import REPO, moving_squares, tiny_net


def test_engine_matches_the_original_computation(video):
    """Shared object-independent halves, the gathered top-k read and the preallocated memory give the same
    probabilities as STCN's original per-object, dense-read computation."""
    frames, labels = video
    original = OriginalSTCN(tiny_net(), mem_every=2, top_k=10)
    ours = Segmenter(tiny_net(), MemoryBank("unbounded"), mem_every=2, top_k=10, channels_last=False)
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
        seg = Segmenter(tiny_net(), MemoryBank("fifo", 3, temp_size=1), mem_every=2, channels_last=channels_last)
        runs.append([seg.start(frames[0], labels[0]).probs] + [seg.step(f).probs for f in frames[1:]])
    for a, b in zip(*runs):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_quick_benchmark_runs_and_writes_its_results(tmp_path):
    done = subprocess.run([sys.executable, "-m", "stcnbuf.lab.bench", "--quick", "--out", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| policy |" in done.stdout and "ratio" in done.stdout
    growth = done.stdout.split("| policy | s/frame, frames 2-4 |")[1].split("\n\n")[0]  # 20 frames: tenths of 2
    assert "| unbounded |" in growth and "| random_pixel |" in growth  # the growth table has a row per policy
    stream = json.loads((tmp_path / "stream.json").read_text())
    assert {r["policy"] for r in stream["rows"]} == {"unbounded", "random_pixel"}
    compare = json.loads((tmp_path / "compare.json").read_text())
    assert set(compare["sides"]) == {"original", *ENGINE_SIDES}
    assert all(len(rounds) == 2 for rounds in compare["rounds"].values())  # --quick: 2 rounds each
    default = compare["sides"]["stcnbuf default"]
    assert default["median_ratio"] > 0 and default["label_agreement"] > 0.9 and default["max_prob_difference"] < 1e-3
    assert compare["machine"]["torch_threads"] >= 1 and compare["machine"]["cpu"]
    precision = json.loads((tmp_path / "precision.json").read_text())
    assert precision["random weights"]["median_ratio"] > 0 and len(precision["random weights"]["rounds"]["bf16"]) == 2
    assert "2 alternating rounds per side, one process" in done.stdout and "Measured on" in done.stdout
    scoring = json.loads((tmp_path / "scoring.json").read_text())
    assert set(scoring["rounds"]) == {"1 worker", "2 workers"} and 0 < scoring["J&F"] < 1  # equal for both
    for name in ("stream.png", "compare.png", "precision.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert (tmp_path / "summary.md").is_file()


def test_rounds_alternate_and_are_summarised_by_median_and_best():
    order = []
    times = {"a": iter([3.0, 1.0, 2.0]), "b": iter([2.0, 4.0, 1.0])}
    results = alternate({name: (lambda r, name=name: order.append((name, r)) or next(times[name]))
                         for name in ("a", "b")}, rounds=3)
    assert order == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert summary(results["a"]) == {"median": 2.0, "best": 1.0, "worst": 3.0, "spread": 1.0, "rounds": [3.0, 1.0, 2.0]}
    r = ratio(results["a"], results["b"])
    assert r["median_ratio"] == 1.0 and r["best_ratio"] == 1.0
    assert (r["round_ratio_min"], r["round_ratio_max"]) == (0.25, 2.0)
    table = rounds_table(results, "b")
    assert "| a | 2.0000 | 1.0000 | 100 % | 3.000 / 1.000 / 2.000 | 1.000 | 1.000 | 0.250-2.000 |" in table


def test_machine_info_names_the_cpu_flags_and_threads():
    info = machine_info()
    assert set(info["flags"]) <= set(FLAGS_OF_INTEREST) and info["physical_cores"] >= 1
    line = machine_line(info)
    assert f"{info['torch_threads']} torch threads" in line and info["torch"] in line


def test_the_prepared_gpu_run_measures_memory_against_length_and_the_fps_grid(tmp_path):
    """``bench gpu`` (here on the CPU, at toy sizes): both memory policies over the stream, then every fps setting."""
    done = subprocess.run([sys.executable, "-m", "stcnbuf.lab.bench", "gpu", "--quick", "--compile-modes", "none",
                           "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    memory = json.loads((tmp_path / "device_memory.json").read_text())["results"]
    assert [r["config"]["policy"] for r in memory] == ["unbounded", "random_pixel"]
    assert all(len(r["rss_mb"]) == 12 for r in memory) and (tmp_path / "device_memory.png").stat().st_size > 1000
    assert "| policy | capacity | frame 6 | frame 12 | FPS |" in done.stdout
    runs = json.loads((tmp_path / "fps.json").read_text())["runs"]
    assert [(r["objects"], r["precision"]) for r in runs] == [(1, "fp32"), (1, "bf16"), (3, "fp32"), (3, "bf16")]
    assert all(r["fps"] > 0 and len(r["seconds"]) == 6 for r in runs)
    assert "| objects | precision | compile | FPS |" in done.stdout


def test_every_subcommand_has_the_options_its_parts_read_and_no_other():
    """Each subcommand parses exactly the options of the parts it runs (``all`` those of its five parts)."""
    helpers = ("_stream_config", "_caption", "_with_machine", "_write")
    read_by = {}
    for part, run in PARTS.items():
        source = inspect.getsource(run)
        source += "".join(inspect.getsource(getattr(parts, h)) for h in helpers if f"{h}(" in source)
        read_by[part] = set(re.findall(r"args\.(\w+)", source)) | {"quick"}
    for name, (_, run, _) in SUBCOMMANDS.items():
        given = set(vars(parse([name]))) - {"what"}
        read = set().union(*(read_by[part] for part in run))
        optional = set(STREAM_OPTIONS) & given   # read where present (``_stream_config``)
        assert read <= given and given - read <= optional, (name, read - given, given - read - optional)
    assert set(vars(parse(["evaluator"]))) == {"what", "out", "quick", "shared_data"}


def test_the_subcommand_comes_first_defaults_to_all_and_refuses_options_of_others(capsys):
    args = parse(["--quick", "--out", "x"])
    assert args.what == "all" and args.capacity == 3 and args.rounds == 2 and args.frames == [10, 20]
    assert parse(["fps", "--quick"]).fps_frames == 6
    with pytest.raises(SystemExit):
        parse(["stream", "--rounds", "2"])
    capsys.readouterr()
    with pytest.raises(SystemExit):
        parse(["scoring", "--help"])
    text = capsys.readouterr().out
    assert "--scoring-frames" in text and "--rounds" in text and "--policies" not in text
