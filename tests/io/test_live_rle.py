"""Masks files of live sources: lines flushed as they come, a complete file with its count when closed, and
what a killed run left read and closed."""

import json

import numpy as np
import pytest

from stcnbuf.io.live_rle import LiveRLEWriter, close_live_file, read_live_file
from stcnbuf.io.rle import RLEWriter, read_rle_file


def label_maps(count, height=6, width=8):
    maps = []
    for t in range(count):
        labels = np.zeros((height, width), np.uint8)
        labels[1:3, t:t + 2] = 1
        labels[4, :t + 1] = 2
        maps.append(labels)
    return maps


def test_each_frame_is_flushed_and_closing_counts_them(tmp_path):
    path = tmp_path / "masks.rle.jsonl"
    maps = label_maps(3)
    writer = LiveRLEWriter(path, 6, 8, [1, 2], fps=None, source="-", extra={"given_frames": [0]})
    for t, labels in enumerate(maps):
        assert writer.write(labels) == t
        so_far = read_live_file(path.with_name(path.name + ".partial"))  # readable while the run goes on
        assert so_far.num_frames == t + 1 and np.array_equal(so_far.label_map(t), labels)
    assert not path.exists()
    assert writer.close({"dropped_frames": 0}) == path
    rle = read_rle_file(path)
    header = json.loads(path.read_text().splitlines()[0])
    assert header["num_frames"] == rle.num_frames == 3 and rle.is_complete()
    assert rle.extra == {"given_frames": [0], "dropped_frames": 0, "live": True} and rle.source == "-"
    assert all(np.array_equal(rle.label_map(t), maps[t]) for t in range(3))
    assert not path.with_name(path.name + ".partial").exists()
    with pytest.raises(ValueError, match="shape"):
        LiveRLEWriter(tmp_path / "b.rle.jsonl", 6, 8, [1]).write(np.zeros((5, 8), np.uint8))
    with pytest.raises(ValueError, match=r"ids \[2\] are not in object_ids \[1\]"):
        LiveRLEWriter(tmp_path / "c.rle.jsonl", 6, 8, [1]).write(maps[0])


def test_what_a_killed_run_left_is_closed_without_its_torn_line(tmp_path):
    path = tmp_path / "masks.rle.jsonl"
    writer = LiveRLEWriter(path, 6, 8, [1, 2])
    maps = label_maps(2)
    for labels in maps:
        writer.write(labels)
    partial = writer.partial_path
    with open(partial, "a") as file:  # killed while writing the third line
        file.write('{"frame": 2, "objects": {"1": {"si')
    assert read_live_file(partial).num_frames == 2
    close_live_file(partial)
    rle = read_rle_file(path)
    assert rle.num_frames == 2 and rle.is_complete() and np.array_equal(rle.label_map(1), maps[1])


def test_the_partial_file_of_a_file_run_is_not_taken_for_a_live_one(tmp_path):
    with RLEWriter(tmp_path / "m.rle.jsonl", 6, 8, 3, [1]) as writer:
        writer.write(0, np.zeros((6, 8), np.uint8))
    with pytest.raises(ValueError, match="not the open file of a live source"):
        close_live_file(tmp_path / "m.rle.jsonl.partial")
