"""Mask post-processing on hand-made masks with known answers, and the command line."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rlemasklib import RLEMask

from stcnbuf.apps.segment.postprocess import (clean_mask, largest_component, postprocess, postprocess_file,
                                              temporal_intersection)
from stcnbuf.io.rle import RLEFile, read_rle_file, write_rle_file
from tests.conftest import REPO



def rle(dense: np.ndarray) -> RLEMask:
    return RLEMask.from_array(dense.astype(np.uint8))


def dense(mask: RLEMask) -> np.ndarray:
    return mask.to_array(order="C").astype(bool)


def box(shape, y0, y1, x0, x1) -> np.ndarray:
    out = np.zeros(shape, bool)
    out[y0:y1, x0:x1] = True
    return out


def test_largest_component_keeps_the_big_blob():
    big, small = box((20, 20), 2, 8, 2, 8), box((20, 20), 14, 17, 14, 17)
    np.testing.assert_array_equal(dense(largest_component(rle(big | small))), big)
    np.testing.assert_array_equal(dense(clean_mask(rle(big | small), keep_largest=True)), big)
    assert not largest_component(RLEMask.zeros((5, 5))).any()


def test_closing_bridges_a_two_pixel_gap():
    left, right = box((12, 20), 3, 9, 2, 8), box((12, 20), 3, 9, 10, 16)  # columns 8, 9 empty
    mask = rle(left | right)
    np.testing.assert_array_equal(dense(clean_mask(mask, close_radius=0)), left | right)
    np.testing.assert_array_equal(dense(clean_mask(mask, close_radius=2)), box((12, 20), 3, 9, 2, 16))
    # a block near the image border stays as it is (no growth towards the border)
    np.testing.assert_array_equal(dense(clean_mask(rle(left), close_radius=2)), left)


def test_fill_holes_smaller_than_the_limit():
    block = box((16, 16), 3, 13, 3, 13)
    holed = block & ~box((16, 16), 7, 9, 7, 9)  # a 4-pixel hole
    np.testing.assert_array_equal(dense(clean_mask(rle(holed), fill_holes_area=5)), block)
    np.testing.assert_array_equal(dense(clean_mask(rle(holed), fill_holes_area=4)), holed)


def test_box_clip_removes_far_blobs():
    reference = rle(box((20, 20), 10, 14, 10, 14))  # 4×4, +50 % -> rows/cols 8..15
    near, far = box((20, 20), 9, 13, 9, 13), box((20, 20), 0, 3, 0, 3)
    mask = rle(near | far)
    np.testing.assert_array_equal(dense(clean_mask(mask, box_margin=0.5, reference=reference)), near)
    np.testing.assert_array_equal(dense(clean_mask(mask, box_margin=0.0, reference=reference)),
                                  box((20, 20), 10, 13, 10, 13))
    empty = RLEMask.zeros((20, 20))
    np.testing.assert_array_equal(dense(clean_mask(mask, box_margin=0.5, reference=empty)), near | far)


def moving_square_frames() -> dict[int, dict[int, RLEMask]]:
    """Object 1: a 4×4 square moving 1 px right per frame; object 2: static, missing in frame 2."""
    frames = {}
    for t in range(5):
        frames[t] = {1: rle(box((10, 16), 2, 6, 2 + t, 6 + t))}
        if t != 2:
            frames[t][2] = rle(box((10, 16), 7, 9, 0, 2))
    return frames


def test_temporal_intersection_window_one():
    result = temporal_intersection(moving_square_frames(), window=1)
    # columns covered by all of frames t-1..t+1 (clipped at the ends): [max start, min end)
    expected_columns = {0: (3, 6), 1: (4, 6), 2: (5, 7), 3: (6, 8), 4: (6, 9)}
    for t, (x0, x1) in expected_columns.items():
        np.testing.assert_array_equal(dense(result[t][1]), box((10, 16), 2, 6, x0, x1))
    assert [2 in result[t] for t in range(5)] == [True, False, False, False, True]
    assert temporal_intersection(moving_square_frames(), window=0).keys() == set(range(5))


def test_given_masks_are_kept_as_they_are():
    frames = moving_square_frames()
    given = RLEFile(10, 16, 5, [1, 2], extra={"given_frames": [1]}, frames=frames)
    result = postprocess(given, temporal_window=1, close_radius=1)
    np.testing.assert_array_equal(dense(result.frames[1][2]), dense(frames[1][2]))  # its neighbour lacks object 2
    np.testing.assert_array_equal(dense(result.frames[1][1]), dense(frames[1][1]))
    assert 2 not in postprocess(dataclasses.replace(given, extra={}), temporal_window=1).frames[1]


def write_blobs(path: Path) -> None:
    """3 frames of one object: a square and, in frames 1 and 2, a far-away bigger blob."""
    frames = {}
    for t in range(3):
        mask = box((24, 24), 2, 8, 2 + t, 8 + t)
        if t:
            mask |= box((24, 24), 14, 22, 14, 22)
        frames[t] = {1: rle(mask)}
    write_rle_file(path, RLEFile(24, 24, 3, [1], fps=10, source="v.mp4", extra={"model": "m"}, frames=frames))


def test_postprocess_file_clips_to_the_previous_output(tmp_path):
    write_blobs(tmp_path / "in.rle.jsonl")
    out = postprocess_file(tmp_path / "in.rle.jsonl", tmp_path / "out.rle.jsonl", box_margin=0.2)
    result = read_rle_file(out)
    for t in range(3):  # the far blob is bigger, but outside the previous frame's box
        np.testing.assert_array_equal(result.mask(t, 1), box((24, 24), 2, 8, 2 + t, 8 + t))
    assert (result.fps, result.source, result.extra["model"]) == (10, "v.mp4", "m")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stcnbuf.apps.segment.postprocess", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def test_cli(tmp_path):
    source, target = tmp_path / "in.rle.jsonl", tmp_path / "out.rle.jsonl"
    write_blobs(source)
    done = run_cli(str(source), str(target), "--largest-component", "--close", "1", "--fill-holes", "3",
                   "--temporal-window", "1")
    assert done.returncode == 0, done.stderr
    assert "largest component" in done.stdout and str(target) in done.stdout
    result = read_rle_file(target)
    assert result.is_complete() and result.extra["model"] == "m"
    assert result.extra["postprocess"] == [{"close_radius": 1, "keep_largest": True, "fill_holes_area": 3,
                                            "box_margin": None, "temporal_window": 1}]
    # largest component keeps the far blob in frames 1, 2, absent from frame 0: empty at 0 and 1
    assert [1 in result.frames[t] for t in range(3)] == [False, False, True]

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "other"}) + "\n")
    for args in ([str(tmp_path / "missing.rle.jsonl"), str(target)], [str(bad), str(target)],
                 [str(source), str(target), "--close", "-1"]):
        done = run_cli(*args)
        assert done.returncode == 2 and ("error" in done.stderr), (args, done.stderr)


@pytest.mark.parametrize("kwargs", [{"close_radius": -1}, {"temporal_window": -2}, {"box_margin": -0.1}])
def test_negative_settings_raise(tmp_path, kwargs):
    write_blobs(tmp_path / "in.rle.jsonl")
    with pytest.raises(ValueError, match="must be >= 0"):
        postprocess_file(tmp_path / "in.rle.jsonl", tmp_path / "out.rle.jsonl", **kwargs)
