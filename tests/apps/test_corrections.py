"""Corrections in the segment app: a rerun with one more (or one changed) mask keeps the frames before the
first visit it affects and ends byte for byte as a fresh run given all the masks at once."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from stcnbuf.apps.segment.segment import segment_video
from stcnbuf.io.masks import write_label_png
from tests.conftest import compose

FRAMES, HEIGHT, WIDTH = 12, 32, 48


def frames_folder(folder: Path) -> Path:
    """A folder of frames: two squares moving over a gradient."""
    ys, xs = np.mgrid[:HEIGHT, :WIDTH]
    for t in range(FRAMES):
        frame = np.stack([xs * 3, ys * 4, np.full_like(xs, 60)], -1).astype(np.uint8)
        frame[4:16, 4 + t:16 + t] = (230, 40, 40)
        frame[18:30, 30 - t // 2:42 - t // 2] = (40, 220, 60)
        cv2.imwrite(str(folder / f"{t:05d}.png"), frame[..., ::-1])
    return folder


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return frames_folder(tmp_path_factory.mktemp("video"))


def mask(folder: Path, name: str, t: int, shift: int = 0, objects=(1, 2)) -> Path:
    """Objects 1 and 2 where they are on frame ``t`` (object 1 ``shift`` pixels right)."""
    labels = np.zeros((HEIGHT, WIDTH), np.uint8)
    if 1 in objects:
        labels[4:16, 4 + t + shift:16 + t + shift] = 1
    if 2 in objects:
        labels[18:30, 30 - t // 2:42 - t // 2] = 2
    return write_label_png(folder / name, labels)


def run(video, checkpoint, out, frames, masks, *overrides):
    cfg = compose("segment", [f"video={video}", f"model.checkpoint={checkpoint}", f"output_dir={out}",
                              "reader.shorter_side=32", "outputs.overlay=false", "snapshot_every=3",
                              "memory.capacity=4", "inference.mem_every=3",
                              f"init.frame=[{','.join(map(str, frames))}]",
                              f"init.mask=[{','.join(map(str, masks))}]", *overrides])
    return segment_video(cfg)


@pytest.mark.parametrize("mode,start,correction", [
    ("online", 1, 8),    # a correction in the forward run
    ("online", 7, 3),    # before the start frame: in the backward run
    ("offline", 4, 10),  # after the burn-in, in the final pass
])
def test_a_correction_recomputes_only_what_it_affects(tmp_path, video, tiny_checkpoint, mode, start, correction):
    first = mask(tmp_path, "first.png", start)
    fix = mask(tmp_path, "fix.png", correction, shift=3)  # object 1 moved: a correction of a tracked object
    args = [f"inference={mode}", "inference.burn_in_passes=1"] if mode == "offline" else []
    args.append(f"outputs.png={mode == 'online' and start < correction}")
    fresh = run(video, tiny_checkpoint, tmp_path / "fresh", [start, correction], [first, fix], *args)
    assert fresh["frames_reused"] == 0 and fresh["frames_recomputed"] == FRAMES
    out = tmp_path / "corrected"
    before = run(video, tiny_checkpoint, out, [start], [first], *args)
    assert before["frames_recomputed"] == FRAMES
    old = (out / "masks.rle.jsonl").read_bytes()
    corrected = run(video, tiny_checkpoint, out, [start, correction], [first, fix], *args)
    new = (out / "masks.rle.jsonl").read_bytes()
    assert new == (tmp_path / "fresh" / "masks.rle.jsonl").read_bytes() and new != old
    pngs = sorted((tmp_path / "fresh" / "masks").glob("*.png"))
    assert len(pngs) == (FRAMES if "outputs.png=True" in args else 0)
    for png in pngs:
        assert (out / "masks" / png.name).read_bytes() == png.read_bytes(), png.name
    # the outputs before the correction's visit were kept, from the latest snapshot (after every 3rd visit) before
    # it; the file lists the outputs in plan order, and offline the burn-in visits follow the start (output 0)
    order = [int(line.split(",")[0].split(":")[1]) for line in new.decode().splitlines()[1:]]
    burn_in = before["burn_in_frames"]
    assert burn_in == ((FRAMES - 1) // 3 if mode == "offline" else 0)
    visit = order.index(correction) + burn_in
    snapshot = (visit // 3) * 3 - 1
    assert corrected["frames_reused"] == (snapshot + 1 if mode == "online" else 1 + max(0, snapshot - burn_in))
    assert corrected["frames_reused"] + corrected["frames_recomputed"] == FRAMES
    assert corrected["frames_recomputed"] < FRAMES and corrected["burn_in_frames"] == 0
    if mode == "offline" or start > correction:
        return
    # the same masks again: nothing to do
    again = run(video, tiny_checkpoint, out, [start, correction], [first, fix], *args)
    assert again["frames_reused"] == FRAMES and again["frames_recomputed"] == 0
    # back to the first mask alone: the shared prefix is kept again, the rest matches the first run
    back = run(video, tiny_checkpoint, out, [start], [first], *args)
    assert (out / "masks.rle.jsonl").read_bytes() == old and 0 < back["frames_reused"] < FRAMES
