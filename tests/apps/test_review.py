import json

import numpy as np
import pytest
from rlemasklib import RLEMask

from stcnbuf.apps.segment.review import (LOST, LOW_CONFIDENCE, Stretch, confidence_outputs, overlay_marks,
                                         review_stretches)
from stcnbuf.io.rle import RLEFile, read_rle_file, write_rle_file

H, W = 8, 10


def made_up_video(tmp_path):
    """12 frames, given on frame 0. Object 1 is lost on frames 5-7 and back on 8, doubtful on 10; object 2 is
    doubtful on frames 2 and 3."""
    one = {t: 0.9 for t in range(12)} | {5: 0.0, 6: 0.0, 7: 0.0, 8: 0.8, 10: 0.2}
    two = {t: 0.9 for t in range(12)} | {2: 0.4, 3: 0.3}
    box_one, box_two = np.zeros((H, W), bool), np.zeros((H, W), bool)
    box_one[1:4, 1:4], box_two[5:7, 5:9] = True, True
    frames = {t: {2: RLEMask.from_array(box_two)} | ({} if 5 <= t <= 7 else {1: RLEMask.from_array(box_one)})
              for t in range(12)}
    rle = RLEFile(H, W, 12, [1, 2], extra={"given_frames": [0]}, frames=frames,
                  confidence={t: {1: one[t], 2: two[t]} for t in range(12)})
    return read_rle_file(write_rle_file(tmp_path / "masks.rle.jsonl", rle))


def test_the_lost_stretch_comes_first_then_the_longer_and_worse(tmp_path):
    rle = made_up_video(tmp_path)
    assert review_stretches(rle, below=0.5, merge_gap=0) == [
        Stretch(1, 5, 8, LOST, 0.0, 0.2, 8),  # lost on 5-7 (confidence 0 there), back on 8: check it is the object
        Stretch(2, 2, 3, LOW_CONFIDENCE, 0.3, 0.35, None),
        Stretch(1, 10, 10, LOW_CONFIDENCE, 0.2, 0.2, None)]
    merged = review_stretches(rle, below=0.5, merge_gap=1)  # 8 and 10 are one frame apart
    assert [(s.object_id, s.first, s.last, s.reason, s.reappears) for s in merged] == [
        (1, 5, 10, LOST, 8), (2, 2, 3, LOW_CONFIDENCE, None)]
    assert review_stretches(rle, below=0.1, merge_gap=0)[0] == Stretch(1, 5, 8, LOST, 0.0, 0.2, 8)
    assert len(review_stretches(rle, below=0.1, merge_gap=0)) == 1


def test_given_frames_and_objects_not_seen_yet_are_not_flagged(tmp_path):
    rle = made_up_video(tmp_path)
    rle.confidence[0][2] = 0.1  # the given frame: never to check
    for t in range(4):  # object 1 appears on frame 4 only: not lost before
        rle.frames[t].pop(1)
    stretches = review_stretches(rle, below=0.5, merge_gap=0)
    assert all(s.first > 0 for s in stretches) and not any(s.object_id == 1 and s.first < 5 for s in stretches)


def test_confidence_csv_review_json_and_marks(tmp_path):
    rle = made_up_video(tmp_path)
    written, marks = confidence_outputs(rle, tmp_path, review=True, below=0.5, merge_gap=0)
    rows = (tmp_path / "confidence.csv").read_text().splitlines()
    assert rows[0] == "frame,object_1,object_2" and rows[3] == "2,0.9000,0.4000" and rows[6] == "5,0.0000,0.9000"
    assert len(rows) == 13
    review = json.loads((tmp_path / "review.json").read_text())
    assert review["frames_to_check"] == 7 and review["below"] == 0.5
    assert review["stretches"][0] == {"object_id": 1, "first": 5, "last": 8, "reason": LOST, "worst": 0.0,
                                      "mean": 0.2, "reappears": 8, "frames": 4}
    assert (tmp_path / "review.png").stat().st_size > 5000
    assert written["frames_to_check"] == 7 and sorted(marks) == [2, 3, 5, 6, 7, 8, 10]
    assert marks[6] == "check: 1 lost" and marks[8] == "check: 1 at 0.80" and marks[3] == "check: 2 at 0.30"
    assert marks == overlay_marks(rle, review_stretches(rle, 0.5, 0))
    only_csv, no_marks = confidence_outputs(rle, tmp_path / "plain", review=False, below=0.5, merge_gap=0)
    assert list(only_csv) == ["confidence"] and no_marks == {}
    with pytest.raises(ValueError, match="outputs.review_below=1.5"):
        confidence_outputs(rle, tmp_path, review=True, below=1.5, merge_gap=0)
    rle.confidence = {}
    with pytest.raises(ValueError, match="carry no confidence"):
        confidence_outputs(rle, tmp_path, review=True, below=0.5, merge_gap=0)


def test_segment_app_writes_confidence_review_and_marked_overlay(tmp_path, tiny_checkpoint):
    from tests.apps.test_segment import require_shared, run_segment

    video = require_shared("videos", "blackswan.mp4")
    mask = require_shared("davis2016", "Annotations", "480p", "blackswan", "00000.png")
    args = ["init.frame=0", f"init.mask={mask}", "reader.stop=5"]
    plain = run_segment(tmp_path, video, tiny_checkpoint, *args)
    out = tmp_path / "out"
    assert plain["confidence"] == str(out / "confidence.csv") and "review" not in plain
    assert not (out / "review.json").exists()
    lines = [json.loads(line) for line in (out / "masks.rle.jsonl").read_text().splitlines()[1:]]
    assert [sorted(line["confidence"]) for line in lines] == [["1"]] * 5
    overlay_time = (out / "overlay.mp4").stat().st_mtime_ns
    # a random network: every segmented frame is under 1 (or lost), the given frame 0 is not judged
    reviewed = run_segment(tmp_path, video, tiny_checkpoint, *args, "outputs.review=true", "outputs.review_below=1")
    review = json.loads((out / "review.json").read_text())
    assert reviewed["frames_to_check"] == 4 == review["frames_to_check"]
    assert [(s["first"], s["last"]) for s in review["stretches"]] == [(1, 4)]
    assert (out / "overlay.mp4").stat().st_mtime_ns > overlay_time  # now with the frames marked
    csv = (out / "confidence.csv").read_text().splitlines()
    assert csv[0] == "frame,object_1" and float(csv[2].split(",")[1]) == lines[1]["confidence"]["1"]


def test_eval_reports_how_confidence_separates_bad_frames(tmp_path, tiny_checkpoint):
    from stcnbuf.scoring.separation import spearman
    from tests.apps.test_eval import run_eval

    metrics = run_eval(tmp_path, tmp_path / "data", tiny_checkpoint, "inference=online", "memory=unbounded")
    figures = metrics["confidence"]
    rows = []
    for marker in sorted((tmp_path / "out" / "sequences").glob("*.json")):
        rows += json.loads(marker.read_text())["record"]["confidence_scores"]
    frames = {(name, t) for name in ("val_000", "val_001") for t in range(1, 8)}  # frame 0 is given
    assert figures["object_frames"] == len(rows) > 0 and {row[0] for row in rows} <= {t for _, t in frames}
    assert figures["bad_object_frames"] == sum(row[3] < 0.5 for row in rows)
    assert figures["spearman_j"] == pytest.approx(spearman([r[2] for r in rows], [r[3] for r in rows]))
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["confidence"] == figures


def test_marked_frames_are_framed_and_labelled():
    from stcnbuf.io.overlay import mark

    image = np.full((60, 80, 3), 100, np.uint8)
    marked = mark(image, "check: 1 lost")
    assert (marked[0, 40] == (255, 40, 40)).all() and (marked[59, 79] == (255, 40, 40)).all()
    assert (marked[40, 40] == 100).all() and (image == 100).all()  # the middle and the input untouched
    assert (marked[6:20, 6:40] == 255).any()  # white text in the label box
