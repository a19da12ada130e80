"""LV3-style long sequences: forward-backward replay of a dense-ground-truth dataset, with drift per lap."""


import numpy as np
import pytest

from stcnbuf.apps.long_video import main
from stcnbuf.datasets.davis import DavisDataset
from stcnbuf.datasets.long_video import drift, replay_order
from stcnbuf.io import read_label_png
from tests.conftest import SHARED_DATA

DAVIS2016 = SHARED_DATA / "davis2016"


def test_replay_order_turns_without_repeating_frames():
    assert replay_order(4, 3) == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 2), (1, 1), (1, 0), (2, 1), (2, 2), (2, 3)]
    assert replay_order(3, 1) == [(0, 0), (0, 1), (0, 2)]
    with pytest.raises(ValueError, match="at least 2 frames"):
        replay_order(1, 3)


def test_drift_changes_the_frame_and_moves_the_labels_with_it():
    image = np.full((40, 60, 3), 100, np.uint8)
    labels = np.zeros((40, 60), np.uint8)
    labels[10:30, 20:40] = 3
    same = drift(image, labels, 0, 0.2)
    assert same[0] is image and same[1] is labels
    changed, zoomed = drift(image, labels, 1, 0.2)
    assert changed.shape == image.shape and int(changed[0, 0, 0]) != 100
    assert set(np.unique(zoomed)) == {0, 3} and (zoomed == 3).sum() > (labels == 3).sum()  # zoomed in


@pytest.mark.skipif(not DAVIS2016.is_dir(), reason="needs ../shared/data/davis2016")
def test_a_real_sequence_becomes_three_laps_with_its_ground_truth(tmp_path):
    out = tmp_path / "lv3"
    assert main(["--source", str(DAVIS2016), "--out", str(out), "--year", "2016", "--sequences", "blackswan",
                 "--laps", "3", "--drift", "0.1"]) == 0
    source = DavisDataset(DAVIS2016, year=2016, sequences=["blackswan"]).sequence("blackswan")
    replay = DavisDataset(out, year=2017, split="val").sequence("blackswan")
    n = len(source)
    assert len(replay) == 3 * n - 2 and replay.fully_annotated
    assert replay.frame_paths[n - 1].read_bytes() == source.frame_paths[n - 1].read_bytes()  # lap 0: copied
    back = 2 * n - 2  # the end of the backward lap is the first frame again, drifted
    assert replay.read_frame(back).shape == source.read_frame(0).shape
    assert not np.array_equal(replay.read_frame(back), source.read_frame(0))
    assert np.array_equal(read_label_png(replay.mask_paths[3]), source.read_mask(3))  # object 1 of DAVIS 2016
    assert set(np.unique(replay.read_mask(back))) <= {0, 1} and replay.read_mask(back).any()
    assert main(["--source", str(tmp_path / "nothing"), "--out", str(out)]) == 2
