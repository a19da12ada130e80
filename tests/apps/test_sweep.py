"""Sweep summaries: one row per setting with its bootstrap interval and its paired difference to a reference,
seeds as a second level, failed jobs marked; and a real multirun with a failing job that keeps its summary."""

import csv
import json

import numpy as np
import pytest

from stcnbuf.apps.evaluate.sweep import (SummaryOptions, collect_runs, main, record_failure, summary_lines,
                                         summary_rows, write_summary)
from tests.apps.test_eval import TINY_DATA, _run, run_eval
from tests.conftest import REPO

SEQUENCES = [f"seq{i:02d}" for i in range(12)]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def _job(sweep, number, overrides, scores, train=False, evaluation="eval"):
    """A finished job folder as eval.py (or train.py, its evaluation in ``eval/`` or ``eval_transfer/``)
    writes it."""
    job = sweep / str(number)
    (job / ".hydra").mkdir(parents=True, exist_ok=True)
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    results = job / evaluation if train else job
    results.mkdir(exist_ok=True)
    jf = float(np.mean(scores))
    (results / "metrics.json").write_text(json.dumps({"J&F-Mean": jf, "J-Mean": jf, "F-Mean": jf, "fps": 10.0,
                                                      "peak_memory_mb": 100.0, "complete": True}))
    with open(results / "per-sequence_results-val.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Sequence", "J-Mean", "F-Mean"])
        for name, value in zip(SEQUENCES, scores):
            writer.writerow([f"{name}_1", value, value])


def _spread():
    return np.linspace(0.3, 0.8, len(SEQUENCES))


def test_each_setting_gets_an_interval_and_its_paired_difference_to_the_reference(tmp_path):
    base = _spread()
    _job(tmp_path, 0, ["memory.capacity=4", "inference.order=none"], base)
    _job(tmp_path, 1, ["memory.capacity=16", "inference.order=none"], base + 0.05)                 # a gain
    _job(tmp_path, 2, ["memory.capacity=4", "inference.order=strided"],
         base + np.where(np.arange(len(SEQUENCES)) % 2 == 0, 0.1, -0.1))                           # a swing
    record_failure(tmp_path / "3", ["memory.capacity=0", "inference.order=none"], ValueError("capacity must be >= 1"))
    assert write_summary(tmp_path) == tmp_path / "summary.csv"
    with open(tmp_path / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["run", "memory.capacity", "inference.order", "J&F-Mean", "J&F-low", "J&F-high",
                             "reference", "J&F-diff", "J&F-diff-low", "J&F-diff-high", "differs", "J-Mean", "F-Mean",
                             "fps", "peak_memory_mb", "complete", "failed"]
    assert [r["run"] for r in rows] == ["0", "1", "2", "3"]
    reference, gain, swing, failed = rows
    assert reference["reference"] == "True" and reference["J&F-diff"] == ""
    assert float(reference["J&F-low"]) < float(reference["J&F-Mean"]) < float(reference["J&F-high"])
    assert float(gain["J&F-diff"]) == pytest.approx(0.05) and gain["differs"] == "True"
    assert float(gain["J&F-diff-low"]) == pytest.approx(0.05) == pytest.approx(float(gain["J&F-diff-high"]))
    assert swing["differs"] == "False" and float(swing["J&F-diff-low"]) < 0 < float(swing["J&F-diff-high"])
    assert failed["complete"] == "False" and failed["J&F-Mean"] == "" and failed["memory.capacity"] == "0"
    assert failed["failed"] == "job 3: ValueError: capacity must be >= 1"
    md = (tmp_path / "summary.md").read_text()
    assert "95 % bootstrap interval over 12 sequences" in md and "- job 3 failed: ValueError" in md
    assert (tmp_path / "summary.png").stat().st_size > 1000
    rows = summary_rows(collect_runs(tmp_path), SummaryOptions(reference="memory.capacity=16"))
    assert rows[1]["reference"] and rows[0]["J&F-diff"] == pytest.approx(-0.05)
    with pytest.raises(ValueError, match=r"summary.reference='memory.capacity=4' must name one setting.*matched 2"):
        summary_rows(collect_runs(tmp_path), SummaryOptions(reference="memory.capacity=4"))


def test_seeds_are_one_setting_whose_interval_includes_their_spread(tmp_path):
    base = _spread()
    for number, (capacity, seed, shift) in enumerate([(4, 0, 0.0), (4, 1, 0.0), (16, 0, -0.08), (16, 1, 0.08)]):
        _job(tmp_path, number, [f"memory.capacity={capacity}", f"memory.seed={seed}"], base + shift)
    rows = summary_rows(collect_runs(tmp_path))
    assert [(r["run"], r["memory.capacity"], r["seeds"]) for r in rows] == [("0 1", 4, "0 1"), ("2 3", 16, "0 1")]
    steady, spread = rows
    assert spread["J&F-diff"] == pytest.approx(0.0, abs=1e-9)
    assert spread["J&F-diff-low"] < -0.05 and spread["J&F-diff-high"] > 0.05 and not spread["differs"]
    assert spread["J&F-high"] - spread["J&F-low"] > steady["J&F-high"] - steady["J&F-low"]


def test_a_training_seed_sweep_ends_with_one_line_per_metric(tmp_path, capsys):
    for seed, shift in enumerate([0.0, 0.02, 0.04]):
        _job(tmp_path, seed, [f"seed={seed}"], _spread() + shift, train=True)
    lines = summary_lines(collect_runs(tmp_path))
    assert [line.split()[0] for line in lines] == ["J&F", "J", "F"]
    assert lines[0].startswith("J&F 57.0 [") and "all runs: 3 run(s) (seeds), 12 sequences, 12 objects" in lines[0]
    main([str(tmp_path), "--resamples", "500"])
    out = capsys.readouterr().out
    assert "| 0 1 2 | 0 1 2 | 0.5700 |" in out and out.rstrip().splitlines()[-3].startswith("J&F 57.0 [")
    assert not (tmp_path / "summary_transfer.csv").exists()


def test_a_training_sweep_also_summarises_its_transfer_set(tmp_path, capsys):
    for seed, shift in enumerate([0.0, 0.02, 0.04]):
        _job(tmp_path, seed, [f"seed={seed}"], _spread() + shift, train=True)
        _job(tmp_path, seed, [f"seed={seed}"], _spread() - 0.3 + shift, train=True, evaluation="eval_transfer")
    main([str(tmp_path), "--resamples", "500"])
    lines = capsys.readouterr().out.rstrip().splitlines()[-6:]
    assert [line.split(" [")[0] for line in lines] == ["J&F 57.0", "J 57.0", "F 57.0", "transfer_data: J&F 27.0",
                                                       "transfer_data: J 27.0", "transfer_data: F 27.0"]
    rows = list(csv.DictReader(open(tmp_path / "summary_transfer.csv")))
    assert [(r["run"], round(float(r["J&F-Mean"]), 4)) for r in rows] == [("0 1 2", 0.27)]
    assert (tmp_path / "summary_transfer.md").is_file() and (tmp_path / "summary_transfer.png").stat().st_size > 0


@pytest.mark.slow
def test_a_sweep_with_a_failing_job_keeps_the_summary_of_the_others(tmp_path, data_dir, tiny_checkpoint):
    """``eval.py -m memory.capacity=2,0,3``: the job with capacity 0 fails, the others are summarised, the
    failure is marked, and the exit status says so."""
    run_eval(tmp_path / "gen", data_dir, tiny_checkpoint)  # make sure the tiny synthetic set exists
    done = _run(["eval.py", "-m", "memory.capacity=2,0,3", "inference=online", f"model.checkpoint={tiny_checkpoint}",
                 f"paths.data_dir={data_dir}", f"paths.log_dir={tmp_path / 'logs'}", "logger=none", "workers=1",
                 *TINY_DATA], REPO)
    assert done.returncode != 0
    sweep = next((tmp_path / "logs" / "eval" / "multiruns").iterdir())
    with open(sweep / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["run"], r["memory.capacity"], r["complete"]) for r in rows] == [
        ("0", "2", "True"), ("1", "0", "False"), ("2", "3", "True")]
    assert rows[1]["failed"].startswith("job 1: ") and "capacity" in rows[1]["failed"]
    assert rows[0]["J&F-low"] != "" and rows[2]["J&F-diff"] != ""
    assert json.loads((sweep / "1" / "failed.json").read_text())["overrides"][0] == "memory.capacity=0"
    assert (sweep / "summary.md").is_file() and (sweep / "summary.png").stat().st_size > 1000
