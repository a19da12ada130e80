"""The buffer study: which runs it makes, how it summarises them (per-event J&F from the per-object scores),
and one real end-to-end study on a tiny long benchmark."""

import csv
import json
from pathlib import Path

import pytest

from stcnbuf.lab.study.__main__ import main
from stcnbuf.lab.study.grid import BOUNDED, default_grid, memory_preset
from stcnbuf.lab.study.runner import MACHINE_FILE, child_environment, run_study
from stcnbuf.lab.study.runs import StudyRun, study_runs, treatments
from stcnbuf.lab.study.summary import collect, write_summary
from tests.conftest import REPO, compose


def test_the_study_runs_every_policy_and_capacity_then_burn_in():
    runs = study_runs()
    assert len(runs) == 4 * 5 + 2 + 2 * 4 + 2 + 3 * 2
    by_name = {r.name: r for r in runs}
    assert by_name["random_pixel-c16-burn1-none-evict_first"].overrides()[-1] == "memory.burn_in_evict_first=true"
    assert by_name["random_pixel-c16-burn1-strided-weight0.5"].overrides()[-1] == "memory.burn_in_weight=0.5"
    assert by_name["random_pixel-c16-burn1-strided-confident0.9"].overrides()[-2:] == [
        "inference.order=strided", "memory.burn_in_confidence=0.9"]
    assert [r.name for r in study_runs(["fifo"], [4], unbounded=False, orders=[], every_frame_orders=[],
                                       treatment_orders=["random"],
                                       burn_in_treatments=treatments(0.25, kinds=["weight"]))] == [
        "fifo-c4", "random_pixel-c16-burn1-random-weight0.25"]
    assert by_name["fifo-c8"].overrides() == ["memory=fifo", "memory.capacity=8", "inference=online"]
    assert by_name["random_pixel-c64"].overrides()[0] == "memory=buffer"
    assert by_name["unbounded"].overrides() == ["memory=unbounded", "inference=online"]
    assert by_name["unbounded-ring"].overrides() == ["memory=unbounded", "memory.temp_size=1", "inference=online"]
    assert by_name["random_pixel-c16-burn2-reverse"].overrides() == [
        "memory=buffer", "memory.capacity=16", "inference=offline", "inference.burn_in_passes=2",
        "inference.order=reverse"]
    assert by_name["random_pixel-c16-burn1-strided-every"].overrides()[-1] == "inference.burn_in_every_frame=true"
    assert len(study_runs(["fifo"], [4], [], unbounded=False)) == 1
    seeded = {r.name: r for r in study_runs(["fifo", "reservoir"], [4, 16], [], seeds=[0, 1, 2], every_frame_orders=[])}
    assert "fifo-c16-seed1" not in seeded      # fifo makes no random choice
    assert seeded["reservoir-c16-seed2"].overrides() == ["memory=reservoir", "memory.capacity=16", "memory.seed=2",
                                                         "inference=online"]
    assert len(seeded) == 4 + 2 + 2


def test_the_default_grid_is_the_one_of_the_sweeps_it_extends():
    """Policy x capacity from sweep=long_buffer, burn-in from sweep=long_burn_in, as Hydra composes them."""
    grid = default_grid()
    online = compose("eval", ["sweep=long_buffer"], return_hydra_config=True)
    offline = compose("eval", ["sweep=long_burn_in"], return_hydra_config=True)
    assert online.hydra.runtime.choices.data == offline.hydra.runtime.choices.data == grid.data
    presets = online.hydra.sweeper.params.memory.split(",")
    assert [compose("eval", [f"memory={preset}"]).memory.policy for preset in presets] == list(grid.policies)
    assert [int(c) for c in online.hydra.sweeper.params["memory.capacity"].split(",")] == list(grid.capacities)
    assert (offline.memory.policy,) == grid.burn_in_policies and offline.memory.capacity == grid.reference_capacity
    assert [int(n) for n in offline.hydra.sweeper.params["inference.burn_in_passes"].split(",")] == list(grid.passes)
    assert offline.hydra.sweeper.params["inference.order"].split(",") == list(grid.orders)
    assert all(compose("eval", [f"memory={memory_preset(p)}"]).memory.policy == p for p in BOUNDED)


@pytest.mark.parametrize("kwargs,message", [({"policies": ["lru"]}, "unknown bounded policies"),
                                            ({"orders": ["backwards"]}, "unknown burn-in orders"),
                                            ({"treatment_orders": ["sideways"]}, "unknown burn-in orders")])
def test_unknown_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        study_runs(**kwargs)
    with pytest.raises(ValueError, match="unknown burn-in treatments"):
        treatments(kinds=["forget"])


def _fake_run(runs_dir, name, jf, objects, complete=True, dataset="synthetic_long"):
    folder = runs_dir / name
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({
        "dataset": dataset, "sequences": 2, "frames": 1100, "burn_in_frames": 0, "J&F-Mean": jf, "J-Mean": jf - 0.02, "F-Mean": jf + 0.02, "fps": 10.0, "peak_memory_mb": 900.0,
        "config": {"memory": {"temp_size": 0 if name.startswith("unbounded") else 1}},
        "J&F-by-tenth": [jf] * 10, "complete": complete}))
    with open(folder / "per-sequence_results-synthetic_long.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Sequence", "J-Mean", "F-Mean"])
        for seq, scores in objects.items():
            for oid, (j, fm) in scores.items():
                writer.writerow([f"{seq}_{oid}", j, fm])


def test_summary_gives_each_event_the_score_of_its_object(tmp_path):
    runs = [StudyRun("fifo-c4", "policy", "fifo", 4, 0, None),
            StudyRun("unbounded", "policy", "unbounded", None, 0, None),
            StudyRun("random_pixel-c16-burn1-none", "burn_in", "random_pixel", 16, 1, "none"),
            StudyRun("random_pixel-c16-burn1-none-evict_first", "burn_in", "random_pixel", 16, 1, "none",
                     treatment="evict_first", treatment_overrides=("memory.burn_in_evict_first=true",)),
            StudyRun("fifo-c64", "policy", "fifo", 64, 0, None)]
    per_object = {"long_00_700f": {1: (0.2, 0.4), 2: (0.5, 0.5), 3: (0.6, 0.8), 4: (0.9, 0.9)},
                  "long_01_400f": {1: (0.4, 0.6), 2: (0.5, 0.7), 3: (0.6, 0.6), 4: (0.1, 0.3)}}
    _fake_run(tmp_path, "fifo-c4", 0.5, per_object)
    _fake_run(tmp_path, "unbounded", 0.7, per_object)
    _fake_run(tmp_path, "random_pixel-c16-burn1-none", 0.4, per_object)
    _fake_run(tmp_path, "random_pixel-c16-burn1-none-evict_first", 0.45, per_object)
    _fake_run(tmp_path, "fifo-c64", 0.9, per_object, complete=False)  # interrupted: left out
    rows = collect(runs, tmp_path)
    assert [r["run"] for r in rows] == ["fifo-c4", "unbounded", "random_pixel-c16-burn1-none",
                                        "random_pixel-c16-burn1-none-evict_first"]
    fifo = rows[0]
    assert fifo["J&F"] == 50.0 and fifo["J"] == 48.0
    assert fifo["J&F absence"] == pytest.approx(40.0)   # ((0.2 + 0.4) / 2 + (0.4 + 0.6) / 2) / 2
    assert fifo["J&F drift"] == pytest.approx(55.0) and fifo["J&F late"] == pytest.approx(55.0)
    assert fifo["J&F-by-tenth"] == [50.0] * 10
    (tmp_path / MACHINE_FILE).write_text("Some CPU (avx2), 2 physical cores\n")
    md = write_summary(runs, tmp_path / "docs", tmp_path, "study --out docs -- model.checkpoint=x.ckpt").read_text()
    assert "| fifo | 4 | 1 | 0 | 50.0 | 48.0 | 52.0 | 40.0 | 55.0 | 65.0 | 55.0 | 10.0 | 900.0 |" in md
    assert "| random_pixel | 16 | 1 | none | False |  | 40.0 |" in md and "Some CPU (avx2)" in md
    assert "| random_pixel | 16 | 1 | none | False | evict_first | 45.0 |" in md
    assert "model.checkpoint=x.ckpt" in md
    with open(tmp_path / "docs" / "study.csv") as f:
        assert [r["run"] for r in csv.DictReader(f)] == ["fifo-c4", "unbounded", "random_pixel-c16-burn1-none",
                                                         "random_pixel-c16-burn1-none-evict_first"]
    for plot in ("capacity.png", "over_time.png", "burn_in.png"):
        assert (tmp_path / "docs" / plot).stat().st_size > 1000


def test_data_without_scheduled_events_gets_no_event_columns(tmp_path):
    """On any other data the object ids mean nothing: no event columns, no event panels, the data named."""
    runs = [StudyRun("fifo-c4", "policy", "fifo", 4, 0, None), StudyRun("fifo-c16", "policy", "fifo", 16, 0, None)]
    objects = {"seq_a": {1: (0.2, 0.4), 2: (0.5, 0.5), 3: (0.6, 0.8), 4: (0.9, 0.9)}}
    _fake_run(tmp_path, "fifo-c4", 0.5, objects, dataset="synthetic_transfer")
    _fake_run(tmp_path, "fifo-c16", 0.6, objects, dataset="synthetic_transfer")
    rows = collect(runs, tmp_path)
    assert all(r["J&F absence"] is None and r["J&F late"] is None for r in rows)
    md = write_summary(runs, tmp_path / "docs", tmp_path, "study").read_text()
    assert "J&F absence" not in md and "Data: synthetic_transfer (2 sequences, 1100 frames)" in md
    assert "| fifo | 4 | 1 | 0 | 50.0 | 48.0 | 52.0 | 10.0 | 900.0 |" in md
    assert (tmp_path / "docs" / "capacity.png").stat().st_size > 1000


@pytest.mark.slow
def test_a_tiny_study_end_to_end_and_resumed(tmp_path, tiny_checkpoint, monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("STCNBUF_ROOT", str(REPO))
    out, runs_dir = tmp_path / "study", tmp_path / "runs"
    args = ["--out", str(out), "--runs", str(runs_dir), "--policies", "fifo", "--capacities", "3", "--no-unbounded",
            "--passes", "1", "--jobs", "2",
            "--orders", "strided", "--every-frame-orders", "--treatment-orders", "none", "--treatments", "confident",
            "--", f"model.checkpoint={tiny_checkpoint}",
            f"paths.data_dir={tmp_path / 'data'}",
            "data.frames=[200]", "data.absence=60", "data.height=64", "data.width=96", "logger=none", "workers=1"]
    assert main(args) == 0
    rows = list(csv.DictReader(open(out / "study.csv")))
    assert [r["run"] for r in rows] == ["fifo-c3", "random_pixel-c16-burn1-strided",
                                        "random_pixel-c16-burn1-none-confident0.9"]
    assert all(0 <= float(r["J&F"]) <= 100 and float(r["fps"]) > 0 for r in rows)
    assert all(r["J&F late"] != "" for r in rows)   # the late object was introduced and scored
    offline = json.loads((runs_dir / "random_pixel-c16-burn1-strided" / "metrics.json").read_text())
    assert offline["burn_in_frames"] > 0 and offline["config"]["memory"]["capacity"] == 16
    confident = json.loads((runs_dir / "random_pixel-c16-burn1-none-confident0.9" / "metrics.json").read_text())
    assert confident["config"]["memory"]["burn_in_confidence"] == 0.9 and confident["burn_in_frames"] > 0
    assert (runs_dir / "machine.txt").read_text().strip() in (out / "study.md").read_text()
    assert (runs_dir / "machine.txt").read_text().strip().endswith(", 2 runs at once")
    assert sorted(p.name for p in out.iterdir()) == ["burn_in.png", "capacity.png", "over_time.png", "study.csv",
                                                     "study.md"]
    before = (runs_dir / "fifo-c3" / "metrics.json").stat().st_mtime_ns
    assert main(args) == 0                        # finished runs are kept, not run again
    assert (runs_dir / "fifo-c3" / "metrics.json").stat().st_mtime_ns == before


def test_summary_gives_intervals_and_the_headline_differences(tmp_path):
    """Six sequences of four objects: the ring gains 0.1 on every object (distinguished), fifo swings +-0.1
    between sequences (not distinguished), and the reference's second memory seed joins it as one setting."""
    runs = [StudyRun("random_pixel-c16", "policy", "random_pixel", 16, 0, None),
            StudyRun("fifo-c16", "policy", "fifo", 16, 0, None),
            StudyRun("random_pixel-c16-seed1", "policy", "random_pixel", 16, 0, None, seed=1),
            StudyRun("unbounded", "policy", "unbounded", None, 0, None),
            StudyRun("unbounded-ring", "policy", "unbounded", None, 0, None, ring=1),
            StudyRun("random_pixel-c16-burn1-none", "burn_in", "random_pixel", 16, 1, "none")]
    base = {f"long_{s:02d}_200f": {oid: 0.1 * oid + 0.05 * s for oid in range(1, 5)} for s in range(6)}

    def objects(shift):
        return {seq: {oid: (v + shift(i), v + shift(i)) for oid, v in scores.items()}
                for i, (seq, scores) in enumerate(base.items())}

    for name, shift in [("random_pixel-c16", lambda i: 0.0), ("fifo-c16", lambda i: 0.1 if i % 2 else -0.1),
                        ("random_pixel-c16-seed1", lambda i: 0.02), ("unbounded", lambda i: 0.0),
                        ("unbounded-ring", lambda i: 0.1), ("random_pixel-c16-burn1-none", lambda i: -0.05)]:
        _fake_run(tmp_path, name, 0.5, objects(shift))
    md = write_summary(runs, tmp_path / "docs", tmp_path, "study", reference="random_pixel-c16").read_text()
    assert "## Intervals" in md and "over the 6 sequences" in md and "24 objects scored by every run" in md
    setting = next(line for line in md.splitlines() if line.startswith("| random_pixel-c16 | 2 |"))
    assert "J&F" in md and setting.count("[") == 5            # J&F and its four events, each with an interval
    headline = md[md.index("## Headline differences"):]
    ring = next(line for line in headline.splitlines() if line.startswith("| unbounded-ring - unbounded (the ring)"))
    assert ring.split("|")[2].strip() == "+10.0 [+10.0, +10.0] *"
    fifo = next(line for line in headline.splitlines() if line.startswith("| fifo-c16 - random_pixel-c16 |"))
    assert "*" not in fifo.split("|")[2]                       # a swing, not a difference
    burn = next(line for line in headline.splitlines()
                if line.startswith("| random_pixel-c16-burn1-none - random_pixel-c16 (burn-in)"))
    assert burn.split("|")[2].strip().startswith("-6.0 [") and burn.split("|")[2].strip().endswith("*")
    with open(tmp_path / "docs" / "study.csv") as f:
        rows = {r["run"]: r for r in csv.DictReader(f)}
    assert float(rows["unbounded-ring"]["J&F-diff"]) == pytest.approx(10.0)
    assert float(rows["fifo-c16"]["J&F-diff-low"]) < 0 < float(rows["fifo-c16"]["J&F-diff-high"])
    assert rows["random_pixel-c16"]["J&F-diff"] == "" and rows["fifo-c16"]["J&F late-low"] != ""
    burn_in = rows["random_pixel-c16-burn1-none"]   # against the same memory online, its seeds merged
    assert float(burn_in["J&F-burn-in"]) == pytest.approx(-6.0) and float(burn_in["J&F-burn-in-high"]) < 0
    assert rows["fifo-c16"]["J&F-burn-in"] == "" and (tmp_path / "docs" / "burn_in.png").stat().st_size > 1000


def test_runs_at_once_share_the_cores_unless_threads_are_set(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert child_environment(1) is None                      # one at a time: inherit
    assert child_environment(2)["OMP_NUM_THREADS"] == "4"
    assert child_environment(16)["OMP_NUM_THREADS"] == "1"
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert child_environment(2) is None                      # the caller's choice stands
    with pytest.raises(ValueError, match="jobs must be at least 1"):
        run_study([], Path("unused"), "synthetic_long", [], jobs=0)
