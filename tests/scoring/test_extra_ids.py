"""Predicted ids that the objects lack: by default the sequence is not scored (with the reason); with
``extra_ids=ignore`` its objects are scored as if those pixels were background (vos-benchmark's scores, see
test_vos_benchmark.py), in ``score_sequence``, the scoring command and ``eval.py``'s config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stcnbuf.apps.evaluate.evaluate import evaluate
from stcnbuf.apps.score import main
from stcnbuf.scoring import score_sequence
from tests.conftest import compose
from tests.scoring.test_metrics import square_labels, write_sequence

PROTOCOLS = ("davis", "present")


def with_extra_id(gt: np.ndarray) -> np.ndarray:
    """A prediction equal to ``gt`` but for id 3 on frames 1-3, over part of object 1 and background."""
    pred = gt.copy()
    pred[1:4, 8:20, 0:12] = 3
    return pred


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_ignored_extra_ids_score_as_background(protocol):
    gt = square_labels(6, objects=2)
    pred = with_extra_id(gt)
    with pytest.raises(ValueError, match=r"holds id(\(s\) \[3\]| 3).*with extra_ids=ignore, or --extra-ids ignore"):
        score_sequence("s", gt, pred, protocol)
    ignored = score_sequence("s", gt, pred, protocol, extra_ids="ignore")
    background = score_sequence("s", gt, np.where(pred == 3, 0, pred), protocol)
    assert [o.name for o in ignored] == [o.name for o in background] == ["s_1", "s_2"]
    for a, b in zip(ignored, background):
        np.testing.assert_array_equal(a.j, b.j)
        np.testing.assert_array_equal(a.f, b.f)
    assert ignored[0].j_mean < 1 and ignored[1].j_mean == 1
    with pytest.raises(ValueError, match="unknown extra_ids 'drop'; choose one of error, ignore"):
        score_sequence("s", gt, pred, protocol, extra_ids="drop")


def folder_dataset(root: Path, gt: np.ndarray) -> Path:
    """``root/{JPEGImages,Annotations}/seq``: black frames and the label maps ``gt``; returns ``root``."""
    (root / "JPEGImages" / "seq").mkdir(parents=True)
    for t in range(len(gt)):
        Image.new("RGB", (gt.shape[2], gt.shape[1])).save(root / "JPEGImages" / "seq" / f"{t:05d}.jpg")
    write_sequence(root / "Annotations" / "seq", gt)
    return root


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_scoring_command_takes_extra_ids(tmp_path, capsys, protocol):
    gt = square_labels(6, objects=2)
    root = folder_dataset(tmp_path, gt)
    write_sequence(tmp_path / "predictions" / "seq", with_extra_id(gt))
    args = ["--pred-root", str(tmp_path / "predictions"), "data=folder", f"data.root={root}",
            f"data.protocol={protocol}"]
    assert main([*args, "--out", str(tmp_path / "default")]) == 1
    assert "seq: sequence seq: the prediction holds id" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "ignored"), "--extra-ids", "ignore"]) == 0
    scores = json.loads((tmp_path / "ignored" / "scores.json").read_text())
    assert scores["scored_sequences"] == 1 and not scores["unscored_sequences"]
    assert "ignored, as background of every object" in scores["scoring_notes"]["seq"]
    assert 0.5 < scores["J&F-Mean"] < 1


def late_object_folder(root: Path) -> list[str]:
    """A folder dataset whose object 2 enters at frame 3: under the DAVIS protocol (the objects of the first
    frame) the segmented id 2 is extra; ``eval.py``'s overrides for it."""
    gt = square_labels(6, objects=2)
    gt[:3][gt[:3] == 2] = 0
    return ["data=folder", f"data.root={folder_dataset(root, gt)}", "data.protocol=davis", "logger=none", "workers=1",
            f"output_dir={root / 'out'}"]


def test_eval_py_refuses_an_unknown_extra_ids_before_segmenting(tmp_path, tiny_checkpoint):
    overrides = [*late_object_folder(tmp_path), f"model.checkpoint={tiny_checkpoint}"]
    assert compose("eval", overrides).extra_ids == "error"
    with pytest.raises(ValueError, match="unknown extra_ids 'drop'; choose one of error, ignore"):
        evaluate(compose("eval", [*overrides, "extra_ids=drop"]))
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_eval_py_scores_with_extra_ids_ignored(tmp_path, tiny_checkpoint):
    """By default the sequence is not scored (tests/apps/test_eval.py); ignored, it is, with a note."""
    overrides = [*late_object_folder(tmp_path), f"model.checkpoint={tiny_checkpoint}", "extra_ids=ignore"]
    metrics = evaluate(compose("eval", overrides))
    assert metrics["complete"] and metrics["scored_sequences"] == 1
    assert "holds id 2" in metrics["scoring_notes"]["seq"]
