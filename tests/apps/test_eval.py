import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from stcnbuf.apps.evaluate.evaluate import evaluate
from stcnbuf.engine.core import cpu_has_native_bf16
from stcnbuf.io.masks import read_label_png, write_label_png
from tests.conftest import REPO, compose, require_shared
from tests.datasets.test_datasets import youtube_fixture

TINY_DATA = ["data.height=48", "data.width=80", "data.train_sequences=1", "data.train_frames=4",
             "data.val_sequences=2", "data.val_frames=8", "data.long_sequences=1", "data.long_frames=8"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def run_eval(tmp_path, data_dir, checkpoint, *overrides):
    cfg = compose("eval", [f"paths.data_dir={data_dir}", f"model.checkpoint={checkpoint}",
                           f"output_dir={tmp_path / 'out'}", "logger=none", "workers=1", *TINY_DATA, *overrides])
    return evaluate(cfg)


def test_eval_writes_predictions_scores_and_metrics(tmp_path, data_dir, tiny_checkpoint):
    metrics = run_eval(tmp_path, data_dir, tiny_checkpoint, "memory.capacity=2")
    out = tmp_path / "out"
    for key in ("J&F-Mean", "J-Mean", "F-Mean", "fps", "peak_memory_mb", "checkpoint_sha256", "config"):
        assert metrics[key] is not None, key
    assert 0 <= metrics["J&F-Mean"] <= 1 and metrics["fps"] > 0 and metrics["complete"]
    assert metrics["config"]["inference"]["precision"] == "auto"     # the setting, and what it resolved to here
    assert metrics["precision"] == ("bf16" if cpu_has_native_bf16() else "fp32")
    memory = [m for m in metrics["peak_memory_mb-by-tenth"] if m is not None]  # 8 frames and burn-in visits
    assert len(metrics["fps-by-tenth"]) == 10 and len(memory) >= 8 and min(memory) > 0
    assert (out / "over_time.png").stat().st_size > 1000
    assert json.loads((out / "metrics.json").read_text())["J&F-Mean"] == metrics["J&F-Mean"]
    assert sorted(p.name for p in (out / "predictions").iterdir()) == ["val_000", "val_001"]
    pngs = sorted((out / "predictions" / "val_000").glob("*.png"))
    assert [p.stem for p in pngs] == [f"{i:05d}" for i in range(8)]
    assert read_label_png(pngs[3]).shape == (48, 80)
    rows = (out / "per-sequence_results-val.csv").read_text().splitlines()
    assert rows[0] == "Sequence,J-Mean,F-Mean" and rows[1].startswith("val_000_1,")
    assert metrics["config"]["memory"]["capacity"] == 2


def test_rerun_resumes_only_with_the_same_configuration(tmp_path, data_dir, tiny_checkpoint):
    first = run_eval(tmp_path, data_dir, tiny_checkpoint, "inference=online", "memory=unbounded")
    png = tmp_path / "out" / "predictions" / "val_001" / "00004.png"
    stamp = png.stat().st_mtime_ns
    second = run_eval(tmp_path, data_dir, tiny_checkpoint, "inference=online", "memory=unbounded")
    assert png.stat().st_mtime_ns == stamp
    assert second["J&F-Mean"] == first["J&F-Mean"] and second["frames"] == first["frames"]
    with pytest.raises(ValueError, match=r"another configuration \(inference.top_k: 20 -> 7\)"):
        run_eval(tmp_path, data_dir, tiny_checkpoint, "inference=online", "memory=unbounded", "inference.top_k=7")
    run_eval(tmp_path, data_dir, tiny_checkpoint, "inference=online", "memory=unbounded", "inference.top_k=7",
             "overwrite=true")
    assert png.stat().st_mtime_ns != stamp


def test_changed_inputs_are_segmented_again(tmp_path, data_dir, tiny_checkpoint):
    run_eval(tmp_path, data_dir, tiny_checkpoint, "inference=online")
    root = next(data_dir.glob("synthetic-*"))
    predictions = tmp_path / "out" / "predictions"
    stamps = {name: (predictions / name / "00004.png").stat().st_mtime_ns for name in ("val_000", "val_001")}
    mask = root / "Annotations" / "480p" / "val_001" / "00000.png"
    original, times = mask.read_bytes(), mask.stat()
    edited = read_label_png(mask)
    edited[:, : edited.shape[1] // 2] = 0  # same size, same file time: only the contents tell
    try:
        write_label_png(mask, edited)
        os.utime(mask, ns=(times.st_atime_ns, times.st_mtime_ns))
        run_eval(tmp_path, data_dir, tiny_checkpoint, "inference=online")
    finally:
        mask.write_bytes(original)
    assert (predictions / "val_000" / "00004.png").stat().st_mtime_ns == stamps["val_000"]
    assert (predictions / "val_001" / "00004.png").stat().st_mtime_ns != stamps["val_001"]
    stamps = {name: (predictions / name / "00004.png").stat().st_mtime_ns for name in ("val_000", "val_001")}
    frame = root / "JPEGImages" / "480p" / "val_000" / "00005.jpg"
    os.utime(frame, ns=(frame.stat().st_atime_ns, frame.stat().st_mtime_ns + 10**9))
    run_eval(tmp_path, data_dir, tiny_checkpoint, "inference=online")
    assert (predictions / "val_000" / "00004.png").stat().st_mtime_ns != stamps["val_000"]
    assert (predictions / "val_001" / "00004.png").stat().st_mtime_ns != stamps["val_001"]  # its mask was restored


def test_a_failing_sequence_does_not_lose_the_others(tmp_path, data_dir, tiny_checkpoint):
    run_eval(tmp_path, data_dir, tiny_checkpoint)  # generates the data
    root = next(data_dir.glob("synthetic-*"))
    broken = root / "JPEGImages" / "480p" / "val_001" / "00003.jpg"
    original = broken.read_bytes()
    broken.write_bytes(b"broken")
    try:
        metrics = run_eval(tmp_path, data_dir, tiny_checkpoint, "overwrite=true", "inference.top_k=5")
    finally:
        broken.write_bytes(original)
    assert list(metrics["failed_sequences"]) == ["val_001"]
    assert "00003.jpg" in metrics["failed_sequences"]["val_001"]
    assert not metrics["complete"] and metrics["sequences"] == 1 and metrics["J&F-Mean"] is not None
    retried = run_eval(tmp_path, data_dir, tiny_checkpoint, "inference.top_k=5")
    assert retried["complete"] and retried["sequences"] == 2


def test_a_sequence_without_all_its_ground_truth_is_named_and_the_others_scored(tmp_path, data_dir, tiny_checkpoint):
    run_eval(tmp_path / "gen", data_dir, tiny_checkpoint)  # make sure the tiny synthetic set exists
    gt = next(data_dir.glob("synthetic-*")) / "Annotations" / "480p" / "val_001" / "00004.png"
    original = gt.read_bytes()
    gt.unlink()
    try:
        metrics = run_eval(tmp_path, data_dir, tiny_checkpoint)
    finally:
        gt.write_bytes(original)
    assert metrics["sequences"] == 2 and metrics["scored_sequences"] == 1 and metrics["J&F-Mean"] is not None
    assert list(metrics["unscored_sequences"]) == ["val_001"] and "00004.png" in metrics["unscored_sequences"]["val_001"]
    assert not metrics["complete"] and json.loads((tmp_path / "out" / "metrics.json").read_text())["J-Mean"] is not None
    rows = (tmp_path / "out" / "per-sequence_results-val.csv").read_text().splitlines()[1:]
    assert rows and all(row.startswith("val_000_") for row in rows)


def test_two_shards_into_one_folder_give_the_results_of_one_run(tmp_path, data_dir, tiny_checkpoint):
    args = ["inference=online", "data.val_sequences=3"]
    whole = run_eval(tmp_path / "whole", data_dir, tiny_checkpoint, *args)
    shards = [run_eval(tmp_path, data_dir, tiny_checkpoint, *args, f"shard={i}/2") for i in range(2)]
    assert [s["sequences"] for s in shards] == [2, 1] and not (tmp_path / "out" / "metrics.json").exists()
    assert (tmp_path / "out" / "shards" / "1-of-2" / "metrics.json").is_file()
    pngs = {p: p.stat().st_mtime_ns for p in (tmp_path / "out" / "predictions").rglob("*.png")}
    merged = run_eval(tmp_path, data_dir, tiny_checkpoint, *args)  # the same command without shard: scores all
    assert merged["sequences"] == 3 and all(p.stat().st_mtime_ns == t for p, t in pngs.items())  # none redone
    for table in ("per-sequence_results-val.csv", "global_results-val.csv"):
        assert (tmp_path / "out" / table).read_bytes() == (tmp_path / "whole" / "out" / table).read_bytes()
    assert merged["J&F-Mean"] == whole["J&F-Mean"]
    with pytest.raises(ValueError, match=r"shard='2/2': give I/N with 0 <= I < N"):
        run_eval(tmp_path, data_dir, tiny_checkpoint, *args, "shard=2/2")


def test_a_folder_dataset_scores_objects_that_enter_late(tmp_path, data_dir, tiny_checkpoint):
    run_eval(tmp_path / "gen", data_dir, tiny_checkpoint)  # make sure the tiny synthetic set exists
    source, root = next(data_dir.glob("synthetic-*")), tmp_path / "folder"
    for kind in ("JPEGImages", "Annotations"):
        (root / kind).mkdir(parents=True)
    for name in ("val_000", "val_001"):
        (root / "JPEGImages" / name).symlink_to(source / "JPEGImages" / "480p" / name)
    (root / "Annotations" / "val_000").symlink_to(source / "Annotations" / "480p" / "val_000")
    (root / "Annotations" / "val_001").mkdir()  # only its first mask: segmented, not scorable
    (root / "Annotations" / "val_001" / "00000.png").symlink_to(source / "Annotations" / "480p" / "val_001" / "00000.png")
    (root / "JPEGImages" / "late").symlink_to(source / "JPEGImages" / "480p" / "val_000")
    for path in sorted((source / "Annotations" / "480p" / "val_000").glob("*.png")):  # object 2 enters at frame 3
        labels, other = read_label_png(path), read_label_png(source / "Annotations" / "480p" / "val_001" / path.name)
        late = (other > 0) & (labels == 0) & (int(path.stem) >= 3)
        write_label_png(root / "Annotations" / "late" / path.name, np.where(late, 2, labels).astype(np.uint8))
    overrides = ["data=folder", f"data.root={root}", f"model.checkpoint={tiny_checkpoint}", "logger=none", "workers=1"]
    metrics = evaluate(compose("eval", overrides + [f"output_dir={tmp_path / 'out'}"]))
    assert metrics["J&F-Mean"] is not None and metrics["scored_sequences"] == 2 and not metrics["complete"]
    assert "ground truth on 1 frame" in metrics["unscored_sequences"]["val_001"]
    assert metrics["scoring_protocol"] == "present" and len(metrics["J&F-by-tenth"]) == 10
    assert (tmp_path / "out" / "over_time.png").stat().st_size > 1000
    rows = [row.split(",")[0] for row in (tmp_path / "out" / "per-sequence_results-folder.csv").read_text().splitlines()[1:]]
    assert rows == ["late_1", "late_2", "val_000_1"]  # the late object is scored, from frame 4
    davis = evaluate(compose("eval", overrides + ["data.protocol=davis", f"output_dir={tmp_path / 'davis'}"]))
    assert "holds id 2, but the first ground-truth frame has 1 object" in davis["unscored_sequences"]["late"]


def test_offline_from_the_middle_frame(tmp_path, data_dir, tiny_checkpoint):
    metrics = run_eval(tmp_path, data_dir, tiny_checkpoint, "inference=offline", "inference.init_frame=middle",
                       "inference.order=random", "inference.burn_in_passes=2", "memory=fifo", "memory.capacity=2")
    assert metrics["complete"] and len(list((tmp_path / "out" / "predictions" / "val_000").glob("*.png"))) == 8


def test_youtube_vos_outputs_exactly_the_required_frames_and_a_submission(tmp_path, tiny_checkpoint):
    root = youtube_fixture(tmp_path / "yt", require_shared())
    cfg = compose("eval", [f"model.checkpoint={tiny_checkpoint}", f"output_dir={tmp_path / 'out'}", "logger=none",
                           "data=youtubevos2019", f"data.root={root}", "data.all_frames=true",
                           "data.shorter_side=96", "inference=online", "memory=buffer", "memory.capacity=6"])
    metrics = evaluate(cfg)
    assert metrics["complete"] and metrics["J&F-Mean"] is None
    caps = tmp_path / "out" / "predictions" / "caps"
    assert sorted(int(p.stem) for p in caps.glob("*.png")) == sorted(set(range(0, 87, 5)) | {33})
    assert read_label_png(caps / "00035.png").shape == (853, 480)
    assert 2 not in np.unique(read_label_png(caps / "00030.png"))  # object 2 enters at frame 33
    assert 2 in np.unique(read_label_png(caps / "00033.png"))
    with zipfile.ZipFile(metrics["submission"]) as archive:
        names = archive.namelist()
    assert "Annotations/caps/00033.png" in names and "Annotations/judo/00015.png" in names
    assert len(names) == len(list(caps.glob("*.png"))) + len(list((tmp_path / "out/predictions/judo").glob("*.png")))
    offline = evaluate(compose("eval", [f"model.checkpoint={tiny_checkpoint}", f"output_dir={tmp_path / 'off'}",
                                        "logger=none", "data=youtubevos2019", f"data.root={root}",
                                        "data.shorter_side=96", "data.sequences=[judo]", "inference=offline"]))
    assert offline["complete"]  # offline: burn-in from the first annotation, later objects join in the final pass
    judo = tmp_path / "off" / "predictions" / "judo"
    for stem, new_id in (("00000", 1), ("00005", 2), ("00008", 3), ("00013", 4)):
        assert new_id in np.unique(read_label_png(judo / f"{stem}.png"))
    assert 4 not in np.unique(read_label_png(judo / "00010.png"))


def _run(args, cwd, env_extra=None):
    env = {**os.environ, "HYDRA_FULL_ERROR": "1", **(env_extra or {})}
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, env=env)


@pytest.mark.slow
def test_eval_command_line_and_a_two_by_two_sweep(tmp_path, data_dir, tiny_checkpoint):
    pytest.importorskip("wandb", reason="logger=wandb: pip install -e '.[wandb]'")
    run_eval(tmp_path / "gen", data_dir, tiny_checkpoint)  # make sure the tiny synthetic set exists
    root = next(data_dir.glob("synthetic-*"))
    args = ["eval.py", "data=davis2017", f"data.root={root}", "data.split=val", f"model.checkpoint={tiny_checkpoint}",
            "memory=unbounded", "inference=online", "inference.mem_every=5", "device=cpu",
            f"output_dir={tmp_path / 'cli'}", f"paths.log_dir={tmp_path / 'elsewhere'}"]
    done = _run([*args, "inference.top_k=20", "logger=wandb"], REPO, {"WANDB_MODE": "offline", "WANDB_SILENT": "true"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "J&F" in done.stdout and (tmp_path / "cli" / "metrics.json").is_file()
    assert any((tmp_path / "cli" / "wandb").glob("offline-run-*"))
    overrides = tmp_path / "cli" / ".hydra" / "overrides.yaml"  # everything of the run is in its folder
    assert "inference.top_k=20" in overrides.read_text() and (tmp_path / "cli" / "eval.log").is_file()
    assert not (tmp_path / "elsewhere").exists()
    refused = _run([*args, "inference.top_k=7", "logger=none"], REPO)
    assert refused.returncode != 0 and "another configuration" in refused.stderr
    assert "inference.top_k=20" in overrides.read_text()  # the record of the results there is untouched
    broken = tmp_path / "broken"  # a folder whose only sequence fails: the exit status says so
    (broken / "JPEGImages").mkdir(parents=True)
    (broken / "JPEGImages" / "00000.jpg").write_bytes(b"not a jpeg")
    write_label_png(broken / "Annotations" / "00000.png", np.ones((8, 8), np.uint8))
    failed = _run(["eval.py", "data=folder", f"data.root={broken}", f"model.checkpoint={tiny_checkpoint}",
                   f"output_dir={tmp_path / 'failed'}", "logger=none"], REPO)
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert failed.stdout.strip().splitlines()[-1].startswith("INCOMPLETE: 1 of 1 sequences failed")
    sweep = _run(["eval.py", "-m", "inference=offline", "memory.capacity=2,4", "inference.order=none,strided",
                  f"model.checkpoint={tiny_checkpoint}", f"paths.data_dir={data_dir}", f"paths.log_dir={tmp_path / 'logs'}",
                  "logger=none", *TINY_DATA], REPO)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    summary = next((tmp_path / "logs" / "eval" / "multiruns").glob("*/summary.csv"))
    lines = summary.read_text().splitlines()
    assert lines[0].startswith("run,memory.capacity,inference.order,J&F-Mean,J&F-low,J&F-high,reference,J&F-diff")
    assert len(lines) == 5
    assert (summary.parent / "summary.png").stat().st_size > 1000 and (summary.parent / "summary.md").is_file()


def test_missing_checkpoint_is_explained(tmp_path, data_dir):
    cfg = compose("eval", [f"paths.data_dir={data_dir}", f"paths.log_dir={tmp_path}", f"output_dir={tmp_path / 'o'}",
                           "logger=none", *TINY_DATA])
    with pytest.raises(FileNotFoundError, match="no checkpoint given: set model.checkpoint=FILE"):
        evaluate(cfg)


@pytest.mark.slow
def test_offline_eval_holds_at_most_its_frame_budget(tmp_path, tiny_checkpoint):
    """A 400-frame sequence with a small frame cache peaks within 10 % of a 100-frame one (frames beyond the
    budget are decoded again on every pass instead of being held)."""
    import cv2

    rng = np.random.default_rng(0)
    background = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    peaks = {}
    for length in (100, 400):
        root = tmp_path / f"len{length}"
        frames, masks = root / "JPEGImages" / "clip", root / "Annotations" / "clip"
        frames.mkdir(parents=True)
        masks.mkdir(parents=True)
        for t in range(length):
            cv2.imwrite(str(frames / f"{t:05d}.jpg"), np.roll(background, 2 * t, axis=1))
        first = np.zeros((300, 400), np.uint8)
        first[100:200, 150:250] = 1
        write_label_png(masks / "00000.png", first)
        script = ("import resource, runpy, sys; sys.argv = ['eval.py'] + sys.argv[1:]\n"
                  "runpy.run_path('eval.py', run_name='__main__')\n"
                  "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
        done = _run(["-c", script, f"model.checkpoint={tiny_checkpoint}", "data=folder", f"data.root={root}",
                     "inference=offline", "inference.frame_cache_mb=8", "inference.mem_every=10", "memory=buffer",
                     "memory.capacity=2", "logger=none", f"output_dir={tmp_path / f'out{length}'}"], REPO)
        assert done.returncode == 0, done.stderr[-3000:]
        assert len(list((tmp_path / f"out{length}" / "predictions" / "clip").glob("*.png"))) == length
        peaks[length] = int(done.stdout.split("PEAK")[-1])
    assert peaks[400] <= 1.1 * peaks[100], peaks  # KiB; holding all 400 frames would add ~140 MiB


@pytest.mark.slow
def test_a_two_job_sweep_through_submitits_local_executor(tmp_path, data_dir, tiny_checkpoint):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="pip install -e '.[cluster]'")
    done = _run(["eval.py", "-m", "hydra/launcher=local", "memory.capacity=2,4", f"model.checkpoint={tiny_checkpoint}",
                 f"paths.data_dir={data_dir}", f"paths.log_dir={tmp_path / 'logs'}", "logger=none", "workers=1",
                 *TINY_DATA], REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    sweep = next((tmp_path / "logs" / "eval" / "multiruns").iterdir())
    assert list(sweep.glob(".submitit/*/*_result.pkl"))  # the jobs ran as submitit jobs
    rows = (sweep / "summary.csv").read_text().splitlines()
    assert rows[0].startswith("run,memory.capacity,") and [r.split(",")[1] for r in rows[1:]] == ["2", "4"]
    assert all((sweep / job / ".hydra" / "overrides.yaml").is_file() for job in ("0", "1"))


@pytest.mark.parametrize("setting, message", [
    ("data.shorter_side=-5", r"data\.shorter_side must be a positive number of pixels .* got -5"),
    ("inference.order=bogus", r"unknown inference\.order 'bogus'; choose one of none, random, reverse, strided"),
    ("inference.burn_in_passes=-1", r"inference\.burn_in_passes must be at least 0, got -1"),
    ("inference.mem_every=0", r"inference\.mem_every must be at least 1, got 0"),
    ("workers=0", r"workers \(scoring processes\) must be at least 1, or null for one per core, got 0"),
])
def test_a_bad_size_or_count_setting_is_refused_by_name_before_segmenting(tmp_path, data_dir, tiny_checkpoint,
                                                                          setting, message):
    with pytest.raises(Exception, match=message):
        run_eval(tmp_path, data_dir, tiny_checkpoint, "inference=offline", setting)
    assert not list(tmp_path.rglob("*.png"))
