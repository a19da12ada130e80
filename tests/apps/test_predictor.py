"""The video predictor (SAM 2's calls): the segment app's masks, corrections that keep what they do not change."""

import numpy as np
import pytest

import stcnbuf
from stcnbuf.io.masks import read_label_png
from stcnbuf.io.rle import read_rle_file
from tests.apps.test_corrections import FRAMES, frames_folder, mask, run

SETTINGS = dict(capacity=4, mem_every=3, snapshot_every=3)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return frames_folder(tmp_path_factory.mktemp("video"))


def give(predictor, state, frame, path, only=None):
    labels = read_label_png(path)
    for obj_id in (only or [1, 2]):
        predictor.add_new_mask(state, frame, obj_id, labels == obj_id)


def propagate(predictor, state, **kwargs):
    return {frame: (ids, masks) for frame, ids, masks in predictor.propagate_in_video(state, **kwargs)}


def test_the_predictor_gives_the_apps_masks_and_corrections_keep_the_frames_before(tmp_path, video, tiny_checkpoint):
    first, fix = mask(tmp_path, "first.png", 1), mask(tmp_path, "fix.png", 8, shift=3, objects=(1,))
    app = read_rle_file(run(video, tiny_checkpoint, tmp_path / "app", [1, 8], [first, fix])["masks"])
    predictor = stcnbuf.VideoPredictor.from_checkpoint(tiny_checkpoint, **SETTINGS)
    state = predictor.init_state(video, shorter_side=32)
    give(predictor, state, 1, first)
    before = propagate(predictor, state)
    assert sorted(before) == list(range(1, FRAMES)) and state.recomputed == FRAMES - 1
    frame, ids, given = predictor.add_new_mask(state, 8, 1, read_label_png(fix) == 1)  # a correction of object 1
    assert frame == 8 and ids == [1, 2] and given[0].any() and not given[1].any()
    after = propagate(predictor, state)
    # the visits before the correction's (8: the 8th) were kept, from the snapshot after the 6th visit
    assert state.reused == 6 and state.recomputed == FRAMES - 1 - 6
    for t in range(1, 8):
        assert np.array_equal(after[t][1], before[t][1])
    ids, corrected = after[8]
    assert np.array_equal(corrected[0], read_label_png(fix) == 1)  # the correction, exactly
    backward = propagate(predictor, state, reverse=True)
    assert sorted(backward) == [0, 1]
    differ = [(t, obj_id) for t in range(FRAMES) for k, obj_id in enumerate(ids)
              if not np.array_equal((after if t else backward)[t][1][k], app.mask(t, obj_id))]
    assert not differ


def test_windows_removal_and_reset(tmp_path, video, tiny_checkpoint):
    first = mask(tmp_path, "first.png", 4)
    predictor = stcnbuf.VideoPredictor.from_checkpoint(tiny_checkpoint, **SETTINGS)
    state = predictor.init_state(video, shorter_side=32)
    give(predictor, state, 4, first)
    assert list(propagate(predictor, state, start_frame_idx=6, max_frame_num_to_track=2)) == [6, 7, 8]
    assert list(propagate(predictor, state, max_frame_num_to_track=2, reverse=True)) == [4, 3, 2]
    assert predictor.remove_object(state, 2) == [1]
    alone = propagate(predictor, state)
    assert state.reused == 0 and all(ids == [1] for ids, _ in alone.values())
    other = predictor.init_state(video, shorter_side=32)
    give(predictor, other, 4, first, only=[1])
    for t, (ids, masks) in propagate(predictor, other).items():
        assert np.array_equal(masks, alone[t][1])
    predictor.reset_state(state)
    with pytest.raises(RuntimeError, match="add_new_mask first"):
        propagate(predictor, state)
    with pytest.raises(ValueError, match=r"is 3×2, the video 48×32"):
        predictor.add_new_mask(state, 0, 1, np.ones((2, 3), bool))
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['capacityy'\]"):
        stcnbuf.VideoPredictor.from_checkpoint(tiny_checkpoint, capacityy=3)


def test_the_documented_example_runs(tmp_path, video, tiny_checkpoint, capsys):
    from tests.conftest import REPO

    text = (REPO / "docs" / "corrections.md").read_text()
    example = text.split("```python\n", 1)[1].split("```", 1)[0]
    inputs = next(line for line in example.splitlines() if line.startswith("checkpoint, video,"))
    first, fix = mask(tmp_path, "first.png", 0), mask(tmp_path, "fix.png", 10, shift=3, objects=(1,))
    ours = f"checkpoint, video, first_mask, fixed_mask, fixed_frame = {str(tiny_checkpoint)!r}, {str(video)!r}, " \
           f"{str(first)!r}, {str(fix)!r}, 10"
    assert "shorter_side=480" in example
    scope: dict = {}
    exec(compile(example.replace(inputs, ours).replace("shorter_side=480", "shorter_side=32"), "example", "exec"),
         scope)
    assert sorted(scope["masks"]) == list(range(FRAMES))
    assert np.array_equal(scope["masks"][10][0], read_label_png(fix) == 1)
    assert capsys.readouterr().out.strip() == "10 frames kept, 2 recomputed"  # the snapshot after visit 10
