"""The scoring command on every layout eval.py scores: the same tables as eval.py from the same predictions."""

import json

import numpy as np
import pytest

from stcnbuf.apps.evaluate.evaluate import evaluate
from stcnbuf.apps.score import main
from stcnbuf.io.masks import write_label_png
from stcnbuf.scoring import scorer as scoring
from tests.conftest import compose, require_shared


def _youtube_dense(root, shared):
    """PUMaVOS chair (60 frames, one object, ground truth on every frame) in the YouTube-VOS layout, every frame
    annotated: a split with dense ground truth."""
    chair = shared / "pumavos" / "chair"
    images, annotations = root / "train" / "JPEGImages" / "chair", root / "train" / "Annotations" / "chair"
    images.mkdir(parents=True)
    annotations.mkdir(parents=True)
    for frame in sorted((chair / "JPEGImages").glob("*.jpg")):
        stem = f"{int(frame.stem.split('_')[-1]):05d}"
        (images / f"{stem}.jpg").symlink_to(frame.resolve())
        (annotations / f"{stem}.png").symlink_to((chair / "Annotations" / f"{frame.stem}.png").resolve())
    (root / "train" / "meta.json").write_text(json.dumps({"videos": {"chair": {"objects": {
        "1": {"category": "chair", "frames": ["00000"]}}}}}))
    return root


def _folder(root, shared):
    """A folder layout (and the long_video one): PUMaVOS caps, masks on frames 0, 14, 33, 43 and 66."""
    for kind in ("JPEGImages", "Annotations"):
        (root / kind).mkdir(parents=True)
        (root / kind / "caps").symlink_to((shared / "pumavos" / "caps" / kind).resolve())
    return root


@pytest.mark.slow
def test_the_scoring_command_writes_eval_pys_tables_for_every_layout(tmp_path, tiny_checkpoint):
    shared = require_shared()
    layouts = {
        "folder": (["data=folder", f"data.root={_folder(tmp_path / 'folder', shared)}"], "folder"),
        "long_video": (["data=long_video", f"data.root={tmp_path / 'folder'}"], "folder"),
        "youtube": (["data=youtubevos2019", f"data.root={_youtube_dense(tmp_path / 'yt', shared)}", "data.split=train",
                     "data.dense=true"], "train"),
    }
    for name, (data, table_set) in layouts.items():
        out = tmp_path / f"eval_{name}"
        metrics = evaluate(compose("eval", [*data, "data.shorter_side=96", f"model.checkpoint={tiny_checkpoint}",
                                            "logger=none", "workers=1", f"output_dir={out}"]))
        assert metrics["complete"] and metrics["scored_sequences"] == 1, name
        scored = tmp_path / f"scored_{name}"
        assert main(["--pred-root", str(out / "predictions"), "--out", str(scored), *data]) == 0, name
        for table in (f"global_results-{table_set}.csv", f"per-sequence_results-{table_set}.csv"):
            assert (scored / table).read_bytes() == (out / table).read_bytes(), (name, table)
        scores = json.loads((scored / "scores.json").read_text())
        assert {k: scores[k] for k in ("J&F-Mean", "J-Mean", "F-Mean", "scoring_protocol")} == \
            {k: metrics[k] for k in ("J&F-Mean", "J-Mean", "F-Mean", "scoring_protocol")}, name
    assert not (tmp_path / "eval_youtube" / "submission.zip").exists()   # scored here, not on the server


def test_the_scoring_command_explains_bad_input(tmp_path, capsys):
    (tmp_path / "predictions").mkdir()
    out = ["--out", str(tmp_path / "scores")]
    assert main(["--pred-root", str(tmp_path / "predictions"), *out]) == 2
    assert "no dataset given: --gt-root DAVIS_FOLDER, or data=NAME" in capsys.readouterr().err
    assert main(["--pred-root", str(tmp_path / "nowhere"), *out, "data=lvos"]) == 2
    assert "predictions folder not found" in capsys.readouterr().err
    assert main(["--pred-root", str(tmp_path / "predictions"), *out, "data=lvos",
                 f"data.root={tmp_path / 'nolvos'}"]) == 2
    assert "dataset folder not found" in capsys.readouterr().err
    assert main(["--pred-root", str(tmp_path / "predictions"), *out, "data=folder", "memory.capacity=3"]) == 2
    assert "only data=... and paths.* overrides" in capsys.readouterr().err
    with pytest.raises(SystemExit):                       # the tables need a folder of their own
        main(["--pred-root", str(tmp_path / "predictions"), "data=folder"])
    assert "--out" in capsys.readouterr().err


def test_workers_start_only_where_the_work_pays_for_them(tmp_path, monkeypatch):
    gt = np.zeros((12, 16), np.uint8)
    gt[2:6, 3:9] = 1
    jobs = []
    for n in range(5):
        folder = tmp_path / f"s{n}"
        folder.mkdir()
        paths = [write_label_png(folder / f"{t:05d}.png", gt) for t in range(4)]
        jobs.append(scoring.SequenceJob(f"s{n}", paths, paths))

    def refuse(*args, **kwargs):
        raise AssertionError("a worker pool was started for 10 frames")

    monkeypatch.setattr(scoring, "ProcessPoolExecutor", refuse)
    result = scoring.score_jobs(jobs, progress=False)        # 5 sequences, 10 scored frames: in this process
    assert len(result.objects) == 5 and result.global_metrics()["J&F-Mean"] == 1.0
    monkeypatch.setattr(scoring, "PARALLEL_FRAMES", 10)
    monkeypatch.setattr(scoring.os, "cpu_count", lambda: 4)
    with pytest.raises(AssertionError, match="worker pool"):
        scoring.score_jobs(jobs, progress=False)              # from PARALLEL_FRAMES frames on, workers


def test_a_read_only_out_folder_is_refused_before_scoring(tmp_path):
    """``--out`` on a read-only disk (a read-only tmpfs in a mount namespace as root, else a folder without write
    permission): one line naming the folder and the cause, exit 2, no traceback."""
    import os
    import shutil
    import subprocess
    import sys

    from hydra.utils import instantiate

    data = [f"paths.data_dir={tmp_path / 'data'}", "data.height=48", "data.width=80", "data.val_sequences=1",
            "data.val_frames=5", "data.train_sequences=1", "data.train_frames=4", "data.long_sequences=1",
            "data.long_frames=4"]
    dataset = instantiate(compose("eval", data).data)
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    command = [sys.executable, "-m", "stcnbuf.apps.score", "--pred-root", str(dataset.root / "Annotations" / "480p"),
               "--out", str(read_only / "scores"), *data]
    if os.geteuid() == 0:
        if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"]).returncode != 0:
            pytest.skip("as root, a read-only disk needs a mount namespace (unshare -m)")
        command = ["unshare", "-m", "sh", "-c", f'mount -t tmpfs -o ro tmpfs "{read_only}" && exec "$0" "$@"',
                   *command]
        cause = "Read-only file system"
    else:
        read_only.chmod(0o555)
        cause = "Permission denied"
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    read_only.chmod(0o755)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip() == f"error: [Errno {30 if cause.startswith('Read') else 13}] cannot write into " \
                                  f"--out {read_only / 'scores'}: {cause} (give a folder on a writable disk)"
