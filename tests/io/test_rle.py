"""RLE JSON-lines mask files: round trips, out-of-order and resumable writing, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rlemasklib import RLEMask

from stcnbuf.io.masks import read_label_png
from stcnbuf.io.rle import RLEFile, RLEWriter, partial_path, read_mask_json, read_rle_file, write_rle_file
from tests.conftest import SHARED_DATA

IDS = [1, 2, 7, 300]
H, W, N = 24, 32, 8


def label_maps(num_frames: int = N, seed: int = 0) -> list[np.ndarray]:
    """Random blocky label maps with ids 1, 2, 7, 300; id 7 is absent from every other frame."""
    rng = np.random.default_rng(seed)
    maps = []
    for t in range(num_frames):
        ids = [0, 1, 2, 300] + ([7] if t % 2 else [])
        blocks = rng.choice(ids, size=(H // 4, W // 4))
        maps.append(np.kron(blocks, np.ones((4, 4), np.int32)).astype(np.int32))
    return maps


def write_all(path: Path, maps: list[np.ndarray], order=None, **kwargs) -> RLEWriter:
    with RLEWriter(path, H, W, len(maps), IDS, **kwargs) as writer:
        for t in order or range(len(maps)):
            writer.write(t, maps[t])
    return writer


def test_round_trip_out_of_order(tmp_path):
    maps = label_maps()
    path = tmp_path / "masks.rle.jsonl"
    writer = RLEWriter(path, H, W, N, IDS, fps=24, source="video.mp4", extra={"model": "stcn"})
    for k, t in enumerate([5, 6, 7, 4, 3, 0, 1, 2]):
        writer.write(t, maps[t])
        assert not path.exists() and partial_path(path).exists()
        assert len(partial_path(path).read_text().splitlines()) == k + 2  # flushed line by line
    assert writer.close() == 0
    assert path.exists() and not partial_path(path).exists()

    rle = read_rle_file(path)
    assert (rle.height, rle.width, rle.num_frames, rle.fps) == (H, W, N, 24)
    assert (rle.object_ids, rle.source, rle.extra) == (IDS, "video.mp4", {"model": "stcn"})
    assert rle.is_complete() and list(rle.frames) == list(range(N))
    for t in range(N):
        assert rle.label_map(t).dtype == np.int32
        np.testing.assert_array_equal(rle.label_map(t), maps[t])
        np.testing.assert_array_equal(rle.mask(t, 300), maps[t] == 300)
    assert 7 not in rle.frames[0] and 7 in rle.frames[1]  # empty masks are not stored
    assert not rle.mask(0, 7).any()


def test_uint8_label_maps_and_whole_file_write(tmp_path):
    maps = [(m % 3).astype(np.uint8) for m in label_maps()]
    with RLEWriter(tmp_path / "a.rle.jsonl", H, W, N, [1, 2]) as writer:
        for t, m in enumerate(maps):
            writer.write(t, m)
    rle = read_rle_file(tmp_path / "a.rle.jsonl")
    assert rle.label_map(0).dtype == np.uint8
    copy = write_rle_file(tmp_path / "b.rle.jsonl", rle)
    assert copy.read_text() == (tmp_path / "a.rle.jsonl").read_text()


def test_unknown_id_and_bad_frame_raise(tmp_path):
    with RLEWriter(tmp_path / "x.rle.jsonl", H, W, N, [1, 2]) as writer:
        with pytest.raises(ValueError, match=r"ids \[300\]"):
            writer.write(0, label_maps()[0])
        with pytest.raises(ValueError, match="outside"):
            writer.write(N, np.zeros((H, W), np.uint8))
        with pytest.raises(ValueError, match="shape"):
            writer.write(0, np.zeros((H + 1, W), np.uint8))


def test_resume(tmp_path):
    maps = label_maps(6)
    straight = tmp_path / "straight.rle.jsonl"
    write_all(straight, maps)

    path = tmp_path / "resumed.rle.jsonl"
    writer = RLEWriter(path, H, W, 6, IDS)
    for t in (0, 1, 2):
        writer.write(t, maps[t])
    assert writer.close() == 3 and writer.missing == [3, 4, 5]
    assert partial_path(path).exists() and not path.exists()
    with pytest.raises(FileNotFoundError, match="partial=True"):
        read_rle_file(path)
    assert sorted(read_rle_file(path, partial=True).frames) == [0, 1, 2]

    with partial_path(path).open("a") as file:  # a crash in the middle of frame 3's line
        file.write('{"frame":3,"objects":{"1":{"size":[24,32],"cou')
    assert sorted(read_rle_file(partial_path(path)).frames) == [0, 1, 2]
    with RLEWriter(path, H, W, 6, IDS, resume=True) as writer:
        assert writer.done == {0, 1, 2}
        for t in writer.missing:
            writer.write(t, maps[t])
    assert path.read_text() == straight.read_text()  # the truncated line is gone, not a duplicate frame 3


def test_resume_with_other_header_raises(tmp_path):
    path = tmp_path / "x.rle.jsonl"
    writer = RLEWriter(path, H, W, 6, IDS, source="a.mp4")
    writer.write(0, label_maps(1)[0])
    writer.close()
    with pytest.raises(ValueError, match="num_frames.*source"):
        RLEWriter(path, H, W, 7, IDS, source="b.mp4", resume=True)
    with RLEWriter(path, H, W, 6, IDS, source="a.mp4", resume=False) as writer:  # overwrites
        assert writer.done == set()


def test_read_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        read_rle_file(tmp_path / "missing.rle.jsonl")
    path = write_all(tmp_path / "x.rle.jsonl", label_maps(3)).path
    lines = path.read_text().splitlines()
    bad = tmp_path / "bad.rle.jsonl"
    bad.write_text("\n".join(lines[:2] + ["not json"] + lines[3:]) + "\n")
    with pytest.raises(ValueError, match="line 3"):
        read_rle_file(bad)
    header = json.loads(lines[0])
    bad.write_text(json.dumps({**header, "format": "something-else"}) + "\n")
    with pytest.raises(ValueError, match="not a stcnbuf-rle file"):
        read_rle_file(bad)
    frame = json.loads(lines[1])
    frame["objects"]["5"] = frame["objects"]["1"]
    bad.write_text("\n".join([lines[0], json.dumps(frame)]))
    with pytest.raises(ValueError, match="line 2: object '5' is not in"):
        read_rle_file(bad)


def test_read_mask_json(tmp_path):
    labels = np.zeros((10, 12), np.uint8)
    labels[1:4, 2:6], labels[5:9, 7:11] = 1, 3
    masks = {i: RLEMask.from_array(labels == i) for i in (1, 3)}
    coco = {i: {"size": [10, 12], "counts": m.to_dict()["counts"].decode()} for i, m in masks.items()}

    as_dict = tmp_path / "dict.json"
    as_dict.write_text(json.dumps({str(i): rle for i, rle in coco.items()}))
    as_list = tmp_path / "list.json"
    as_list.write_text(json.dumps([{"id": i, "segmentation": rle} for i, rle in coco.items()], indent=2))
    rle_file = tmp_path / "masks.rle.jsonl"
    write_rle_file(rle_file, RLEFile(10, 12, 5, [1, 3], frames={2: masks, 4: {1: masks[1]}}))
    for path in (as_dict, as_list, rle_file):
        np.testing.assert_array_equal(read_mask_json(path), labels)
    np.testing.assert_array_equal(read_mask_json(rle_file, frame=4), labels * (labels == 1))

    with pytest.raises(ValueError, match="frame 3 is not in the file"):
        read_mask_json(rle_file, frame=3)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"cat": coco[1]}))
    with pytest.raises(ValueError, match="positive integer ids"):
        read_mask_json(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="'id'"):
        read_mask_json(bad)
    with pytest.raises(FileNotFoundError):
        read_mask_json(tmp_path / "none.json")


def test_real_annotation_round_trip(tmp_path):
    png = SHARED_DATA / "pumavos" / "chair" / "Annotations" / "frame_000000.png"
    if not png.is_file():
        pytest.skip(f"real data not available: {png} is missing")
    labels = read_label_png(png)
    ids = [int(i) for i in np.unique(labels) if i]
    path = tmp_path / "chair.rle.jsonl"
    with RLEWriter(path, *labels.shape, 1, ids, source=str(png)) as writer:
        writer.write(0, labels)
    decoded = read_rle_file(path).label_map(0)
    assert decoded.dtype == labels.dtype
    np.testing.assert_array_equal(decoded, labels)
