"""Run folders of the applications: one writer at a time, nothing claimed by a bad setting, damaged or linked
outputs redone inside the folder, names that cannot escape it."""

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from hydra.utils import instantiate

from stcnbuf.apps.segment.segment import segment_video
from stcnbuf.io.masks import write_label_png
from stcnbuf.io.rle import read_rle_file
from tests.apps.test_eval import TINY_DATA, data_dir, run_eval  # noqa: F401 (data_dir: a fixture)
from tests.conftest import REPO, compose, moving_squares

#: the application named by argv[1] with the rest as its overrides; each process stops before its first segmented
#: frame until the file $GATE exists, after leaving segmenting-<pid> beside it
GATED = """
import os, sys, time
from pathlib import Path
from stcnbuf.engine.segmenter import Segmenter
gate, process = Path(os.environ["GATE"]), Segmenter.process
def gated(self, *args, **kwargs):
    (gate.parent / f"segmenting-{os.getpid()}").touch()
    while not gate.exists():
        time.sleep(0.05)
    return process(self, *args, **kwargs)
Segmenter.process = gated
from stcnbuf.apps import cli
sys.argv = sys.argv[1:]
getattr(cli, sys.argv[0])()
"""


def race(tmp_path, entry, *runs):
    """Start one process per argument list of ``runs`` together, let them segment once each has reached its
    first frame or one has ended; returns ``(process, stdout, stderr)`` each."""
    gate = tmp_path / "gate" / "open"
    gate.parent.mkdir()
    env = {**os.environ, "GATE": str(gate), "STCNBUF_ROOT": str(REPO)}
    logs = [(open(tmp_path / f"out{i}.txt", "w+"), open(tmp_path / f"err{i}.txt", "w+")) for i in range(len(runs))]
    started = [subprocess.Popen([sys.executable, "-c", GATED, entry, *args], cwd=REPO, env=env, stdout=out,
                                stderr=err, text=True) for args, (out, err) in zip(runs, logs)]
    deadline = time.monotonic() + 300
    while (all(p.poll() is None for p in started) and len(list(gate.parent.glob("segmenting-*"))) < len(runs)
           and time.monotonic() < deadline):
        time.sleep(0.1)
    gate.touch()
    for process in started:
        process.wait(timeout=300)
    texts = []
    for out, err in logs:
        out.seek(0), err.seek(0)
        texts.append((out.read(), err.read()))
        out.close(), err.close()
    return [(process, *text) for process, text in zip(started, texts)]


def one_refused(results):
    """The run that finished and the refusal of the other, which must name the first's process."""
    assert sorted(p.returncode for p, _, _ in results) == [0, 1], [e[-2000:] for _, _, e in results]
    (winner, _, _), = [r for r in results if r[0].returncode == 0]
    (_, _, refusal), = [r for r in results if r[0].returncode != 0]
    assert "is in use by another run" in refusal and f"pid {winner.pid} on {socket.gethostname()}" in refusal
    assert "command: " in refusal
    return winner, refusal


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    """A folder of 12 frames of two moving squares and the label map of its first frame."""
    folder = tmp_path_factory.mktemp("clip")
    (folder / "frames").mkdir()
    images, labels = moving_squares(12)
    for index, image in enumerate(images):
        cv2.imwrite(str(folder / "frames" / f"{index:05d}.png"), image[..., ::-1])
    write_label_png(folder / "first.png", labels[0])
    return folder


def segment_args(frames, checkpoint, out, *overrides):
    return [f"video={frames / 'frames'}", f"model.checkpoint={checkpoint}", f"output_dir={out}", "init.frame=0",
            f"init.mask={frames / 'first.png'}", "reader.shorter_side=64", "outputs.overlay=false", *overrides]


def run_segment(frames, checkpoint, out, *overrides):
    return segment_video(compose("segment", segment_args(frames, checkpoint, out, *overrides)))


@pytest.mark.slow
def test_two_segment_runs_into_one_folder_one_is_refused(tmp_path, frames, tiny_checkpoint):
    out = tmp_path / "out"
    args = segment_args(frames, tiny_checkpoint, out)
    one_refused(race(tmp_path, "segment", args, args))
    lines = (out / "masks.rle.jsonl").read_text().splitlines()[1:]
    assert sorted(json.loads(line)["frame"] for line in lines) == list(range(12))  # each frame once
    assert (out / ".stcnbuf.lock").read_text() == ""  # let go at the end


@pytest.mark.slow
def test_two_evaluations_into_one_folder_one_is_refused(tmp_path, data_dir, tiny_checkpoint):  # noqa: F811
    instantiate(compose("eval", [f"paths.data_dir={data_dir}", *TINY_DATA]).data)  # the data set, before the race
    common = [f"paths.data_dir={data_dir}", f"model.checkpoint={tiny_checkpoint}", f"output_dir={tmp_path / 'out'}",
              "logger=none", "workers=1", *TINY_DATA]
    one_refused(race(tmp_path, "evaluate", common, [*common, "data.sequences=[val_000]", "overwrite=true"]))
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert metrics["complete"] and metrics["config"]["data"] == record["config"]["data"]  # one run's results
    assert metrics["sequences"] == len(list((tmp_path / "out" / "sequences").glob("*.json")))


def test_the_segment_app_claims_nothing_on_a_bad_setting_and_redoes_incomplete_or_linked_outputs(
        tmp_path, frames, tiny_checkpoint):
    out, outside = tmp_path / "out", tmp_path / "outside"
    with pytest.raises(ValueError, match="memory.capacity >= 1"):
        run_segment(frames, tiny_checkpoint, out, "outputs.png=true", "memory.capacity=0")
    assert not (out / "segment.json").exists()
    whole = Path(run_segment(frames, tiny_checkpoint, out, "outputs.png=true")["masks"])  # not refused
    complete = whole.read_bytes()
    whole.write_text("".join(whole.read_text().splitlines(keepends=True)[:-3]))  # the last 3 frames lost
    run_segment(frames, tiny_checkpoint, out, "outputs.png=true")
    assert whole.read_bytes() == complete and read_rle_file(whole).is_complete()
    outside.mkdir()
    (outside / "mine.png").write_bytes(b"not the run's")
    (out / "masks").rename(tmp_path / "moved")
    (out / "masks").symlink_to(outside)
    run_segment(frames, tiny_checkpoint, out, "outputs.png=true", "resume=false")
    assert [p.name for p in outside.iterdir()] == ["mine.png"]  # removed as a link, nothing written through it
    assert not (out / "masks").is_symlink() and len(list((out / "masks").glob("*.png"))) == 12


def test_an_evaluation_claims_nothing_on_a_bad_setting_and_scores_a_sequence_named_twice_once(
        tmp_path, data_dir, tiny_checkpoint, caplog):  # noqa: F811
    with pytest.raises(ValueError, match="memory.capacity >= 1"):
        run_eval(tmp_path, data_dir, tiny_checkpoint, "memory.capacity=0")
    assert not (tmp_path / "out" / "run.json").exists()
    with caplog.at_level(logging.WARNING):
        twice = run_eval(tmp_path, data_dir, tiny_checkpoint, "inference=online",
                         "data.sequences=[val_001,val_000,val_001]")
    assert "the sequences asked for names val_001 more than once: each is evaluated once" in caplog.text
    assert twice["complete"] and twice["sequences"] == 2 and twice["frames"] == 16
    table = (tmp_path / "out" / "per-sequence_results-val.csv").read_text().splitlines()[1:]
    objects = [row.split(",")[0] for row in table]
    assert len(objects) == len(set(objects)) and any(o.startswith("val_001_") for o in objects)  # each once


def test_damaged_predictions_are_redone_and_links_out_of_the_folder_never_written_through(
        tmp_path, data_dir, tiny_checkpoint, caplog):  # noqa: F811
    run_eval(tmp_path, data_dir, tiny_checkpoint, "inference=online")
    predictions, outside = tmp_path / "out" / "predictions", tmp_path / "outside"
    png = predictions / "val_000" / "00004.png"
    original = png.read_bytes()
    png.write_bytes(original[: len(original) // 2])  # truncated
    (outside / "keep").mkdir(parents=True)
    (outside / "keep" / "mine.txt").write_text("not the run's")
    (predictions / "val_001").rename(tmp_path / "moved")
    (predictions / "val_001").symlink_to(outside / "keep")
    (tmp_path / "out" / "sequences" / "val_001.json").unlink()
    with caplog.at_level(logging.WARNING):
        assert run_eval(tmp_path, data_dir, tiny_checkpoint, "inference=online")["complete"]
    assert png.read_bytes() == original and "val_000: 1 of its 8 predictions are missing or differ" in caplog.text
    assert [p.name for p in (outside / "keep").iterdir()] == ["mine.txt"]  # nothing written through the link
    assert not (predictions / "val_001").is_symlink() and len(list((predictions / "val_001").glob("*.png"))) == 8
    predictions.rename(tmp_path / "kept")
    predictions.symlink_to(outside)
    with pytest.raises(ValueError, match="predictions is a symbolic link to .*outside, out of the run folder"):
        run_eval(tmp_path, data_dir, tiny_checkpoint, "inference=online")
    assert [p.name for p in outside.iterdir()] == ["keep"]


def test_video_names_that_would_escape_output_dir_are_refused(tmp_path, tiny_checkpoint):
    from stcnbuf.apps.segment.batch import segment_videos, video_list

    videos, masks = tmp_path / "videos", tmp_path / "masks"
    (videos / "f").mkdir(parents=True)
    masks.mkdir()
    for name in ("a.mp4", "...mp4"):
        (videos / name).write_bytes(b"")
    (tmp_path / "list.txt").write_text("videos/a.mp4\nvideos/f/..\n")
    written = []
    for spec in (videos, tmp_path / "list.txt"):
        cfg = compose("segment", [f"video={spec}", f"model.checkpoint={tiny_checkpoint}", f"init.mask={masks}",
                                  f"output_dir={tmp_path / 'out'}"])
        with pytest.raises(ValueError, match=r"are not plain folder names .*rename them"):
            segment_videos(cfg, video_list(str(spec)), lambda run: written.append(run.output_dir) or {})
    assert written == [] and not (tmp_path / "out").exists()


