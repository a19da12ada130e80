"""eval.py and the segment app drive the same engine: same settings, same masks on every frame."""

import numpy as np
import pytest

from stcnbuf.apps.evaluate.evaluate import evaluate
from stcnbuf.apps.segment.segment import segment_video
from stcnbuf.io.masks import read_label_png, write_label_png
from stcnbuf.io.rle import read_rle_file
from tests.conftest import compose, require_shared

FRAMES, MIDDLE = 21, 10


@pytest.fixture(scope="module")
def middle_annotated(tmp_path_factory):
    """21 real DAVIS frames as a folder sequence whose only mask (two objects) is on frame 10."""
    source = require_shared("davis2016", "JPEGImages", "480p", "blackswan")
    gt = read_label_png(require_shared("davis2016", "Annotations", "480p", "blackswan", f"{MIDDLE:05d}.png"))
    root = tmp_path_factory.mktemp("folder")
    frames, masks = root / "JPEGImages" / "swan", root / "Annotations" / "swan"
    frames.mkdir(parents=True)
    for path in sorted(source.glob("*.jpg"))[:FRAMES]:
        (frames / path.name).symlink_to(path.resolve())
    labels = (gt > 0).astype(np.uint8)
    labels[400:470, 20:160] = 2  # a second object on the bank
    write_label_png(masks / f"{MIDDLE:05d}.png", labels)
    return root, labels


@pytest.mark.parametrize("mode", ["online", "offline"])
def test_eval_and_segment_give_identical_masks(tmp_path, tiny_checkpoint, middle_annotated, mode):
    root, given = middle_annotated
    shared = [f"model.checkpoint={tiny_checkpoint}", f"inference={mode}", "memory=buffer", "memory.capacity=3",
              "inference.mem_every=3"]
    evaluate(compose("eval", [*shared, "data=folder", f"data.root={root}", "data.shorter_side=64", "logger=none",
                              f"output_dir={tmp_path / 'eval'}"]))
    result = segment_video(compose("segment", [*shared, f"video={root / 'JPEGImages' / 'swan'}",
                                               f"init.frame={MIDDLE}",
                                               f"init.mask={root / 'Annotations' / 'swan' / f'{MIDDLE:05d}.png'}",
                                               "reader.shorter_side=64", "outputs.overlay=false",
                                               f"output_dir={tmp_path / 'segment'}"]))
    rle = read_rle_file(result["masks"])
    predictions = tmp_path / "eval" / "predictions" / "swan"
    for index in range(FRAMES):
        from_eval = read_label_png(predictions / f"{index:05d}.png")
        assert np.array_equal(from_eval, rle.label_map(index)), index
    # the given masks are written exactly, although the working size (64 pixels) is not the native one
    assert np.array_equal(read_label_png(predictions / f"{MIDDLE:05d}.png"), given)
    assert result["burn_in_frames"] == (6 if mode == "offline" else 0)  # (21 - 1) // 3 burn-in visits
    assert result["segmented_frames"] == FRAMES + result["burn_in_frames"]
