import json

import numpy as np
import pytest

from stcnbuf.io.rle import RLEWriter, read_rle_file, write_rle_file


def labels(t):
    out = np.zeros((4, 5), np.uint8)
    out[: t + 1, :2] = 1
    out[3, 3:] = 2
    return out


def test_confidence_round_trips_through_writer_resume_and_rewrite(tmp_path):
    path = tmp_path / "m.rle.jsonl"
    with RLEWriter(path, 4, 5, 3, [1, 2]) as writer:
        writer.write(0, labels(0), {1: 1.0, 2: 0.987654})
        writer.write(1, labels(1))  # no confidence on this frame (e.g. a frame no visit covered)
    with RLEWriter(path, 4, 5, 3, [1, 2], resume=True) as writer:
        assert writer.done == {0, 1}
        writer.write(2, labels(2), {1: 0.25, 2: 0.0})
    rle = read_rle_file(path)
    assert rle.confidence == {0: {1: 1.0, 2: 0.9877}, 2: {1: 0.25, 2: 0.0}}
    assert json.loads(path.read_text().splitlines()[3])["confidence"] == {"1": 0.25, "2": 0.0}
    again = read_rle_file(write_rle_file(tmp_path / "copy.rle.jsonl", rle))
    assert again.confidence == rle.confidence and np.array_equal(again.label_map(2), labels(2))


def test_files_without_confidence_read_as_before(tmp_path):
    path = tmp_path / "old.rle.jsonl"
    with RLEWriter(path, 4, 5, 2, [1, 2]) as writer:
        writer.write(0, labels(0))
        writer.write(1, labels(1))
    assert "confidence" not in path.read_text()
    rle = read_rle_file(path)
    assert rle.confidence == {} and np.array_equal(rle.label_map(1), labels(1))


def test_a_later_line_without_confidence_replaces_the_earlier_one(tmp_path):
    path = tmp_path / "m.rle.jsonl"
    with RLEWriter(path, 4, 5, 1, [1, 2]) as writer:
        writer.write(0, labels(0), {1: 0.5, 2: 0.5})
        writer.write(0, labels(0))
    assert read_rle_file(path).confidence == {}


@pytest.mark.parametrize("value, message", [({"3": 0.5}, "not in the header's object_ids"),
                                            ({"1": 1.5}, r"must be a number in \[0, 1\]"),
                                            ({"1": True}, "must be a number"), ([0.5], "must be an object")])
def test_bad_confidence_is_refused_naming_the_line(tmp_path, value, message):
    path = tmp_path / "m.rle.jsonl"
    with RLEWriter(path, 4, 5, 1, [1, 2]) as writer:
        writer.write(0, labels(0))
    lines = path.read_text().splitlines()
    line = json.loads(lines[1])
    line["confidence"] = value
    path.write_text(lines[0] + "\n" + json.dumps(line) + "\n")
    with pytest.raises(ValueError, match=f"line 2: .*{message}"):
        read_rle_file(path)
    with RLEWriter(tmp_path / "w.rle.jsonl", 4, 5, 1, [1, 2]) as writer, pytest.raises(ValueError, match="confidence"):
        writer.write(0, labels(0), {1: 2.0})
