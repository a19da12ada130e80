"""The long synthetic benchmark: its scheduled events happen in the frames it says, it is deterministic, and
it is written, reused and read as a dataset whose late object is introduced by its first mask."""

import hashlib
import json

import numpy as np
import pytest

from stcnbuf.lab.synthetic import long as synthetic_long
from stcnbuf.lab.synthetic.long import EVENTS, LongSyntheticConfig, LongSyntheticDataset, _LongScene, sequence_name

SMALL = LongSyntheticConfig(seed=3, height=96, width=160, frames=(700, 400), absence=120)


@pytest.fixture(scope="module")
def scene():
    scene = _LongScene(SMALL, 0)
    labels = np.stack([scene.render(f)[1] for f in range(scene.num_frames)])
    return scene, labels


def _pixels(labels, oid):
    return (labels == oid).reshape(len(labels), -1).sum(1)


def test_every_event_is_scheduled_for_its_object(scene):
    scene, _ = scene
    assert sorted(scene.events) == sorted(EVENTS)
    for i, event in enumerate(EVENTS):
        assert scene.events[event]["object"] == i + 1
    assert len(scene.events["absence"]["frames"]) == 2  # 700 frames >= 5 x 120: a second absence


def test_the_absent_object_is_gone_for_the_whole_absence_and_comes_back(scene):
    scene, labels = scene
    pixels = _pixels(labels, 1)
    for start, end in scene.events["absence"]["frames"]:
        assert end - start == SMALL.absence
        assert pixels[start:end].max() == 0
        assert pixels[max(0, start - 60):start].max() > 0       # it was there before it left
        assert pixels[end:end + 250].max() > 0                  # and it comes back


def test_the_late_object_enters_in_view_and_leaves_for_good(scene):
    scene, labels = scene
    pixels = _pixels(labels, 4)
    first, leave = scene.events["late"]["frames"][0]
    assert pixels[:first].max() == 0 and pixels[first] > 0
    obj = scene.objects[3]
    _, _, full = scene.render(first, masks=True)
    assert full[4].sum() >= synthetic_long.ENTRY_VISIBLE * obj.area * float(obj.scale[first]) ** 2
    assert pixels[leave:].max() == 0
    assert 0.25 * len(labels) <= first < leave <= 0.85 * len(labels)
    assert set(np.unique(labels[0]).tolist()) == {0, 1, 2, 3}   # frame 0 holds the three first objects


@pytest.mark.parametrize("config,index", [(SMALL, 0), (LongSyntheticConfig(0, 144, 256, (1500, 1500), 400), 1)])
def test_objects_stay_in_view_outside_their_scheduled_exits(config, index):
    """Over a long video an object's drift alone would take it out of view for long stretches; the long scene
    keeps it in: outside its absence, before its late entry and after it leaves, each object is in view on at
    least 90 % of the frames (object 3 has the short exits, 75 %)."""
    scene = _LongScene(config, index)
    frames = np.arange(0, scene.num_frames, 3)
    in_view = np.zeros((len(frames), 5), bool)
    for i, f in enumerate(frames):
        full = scene.render(int(f), masks=True)[2]  # unoccluded masks
        for oid, mask in full.items():
            in_view[i, oid] = mask.any()
    expected = {oid: np.ones(len(frames), bool) for oid in (1, 2, 3, 4)}
    for start, end in scene.events["absence"]["frames"]:
        expected[1] &= (frames < start - 60) | (frames >= end + 60)   # leaving and coming back take time
    first, leave = scene.events["late"]["frames"][0]
    expected[4] = (frames >= first) & (frames < leave - 60)
    for oid, floor in ((1, 0.9), (2, 0.9), (3, 0.75), (4, 0.9)):
        assert in_view[expected[oid], oid].mean() >= floor, (oid, in_view[expected[oid], oid].mean())


def test_appearance_changes_slowly_for_one_object_and_at_once_for_another(scene):
    scene, _ = scene
    T = scene.num_frames
    drift, abrupt = scene.objects[1].change, scene.objects[2].change
    start, end = scene.events["drift"]["frames"][0]
    assert drift[start] == 0 and drift[end - 1] == pytest.approx(1, abs=1e-3) and np.all(np.diff(drift) >= 0)
    assert np.max(np.diff(drift)) < 5.0 / (end - start)          # no jump
    at = scene.events["abrupt"]["frames"][0][0]
    assert abrupt[:at].max() == 0 and abrupt[at:].min() == 1 and 0.4 * T <= at < 0.6 * T
    assert scene.objects[0].change.max() == 0 and scene.objects[3].change.max() == 0
    # the look really changes: the object's mean colour before and after the change differs
    before, after = scene._sprite_at(scene.objects[2], at - 1, True), scene._sprite_at(scene.objects[2], at, True)
    assert np.abs(before[..., :3].astype(int) - after[..., :3].astype(int)).mean() > 10


def test_sequences_are_deterministic_and_depend_on_the_seed():
    def digest(config, index):
        h = hashlib.sha1()
        for image, labels in synthetic_long.generate_sequence(config, index):
            h.update(image.tobytes())
            h.update(labels.tobytes())
        return h.hexdigest()

    assert digest(SMALL, 1) == digest(SMALL, 1)
    assert digest(SMALL, 1) != digest(LongSyntheticConfig(**{**SMALL.as_dict(), "seed": 4}), 1)


@pytest.mark.parametrize("field,value", [("frames", (150,)), ("absence", 0), ("height", 32), ("frames", ())])
def test_bad_parameters_are_refused(field, value):
    with pytest.raises(ValueError):
        LongSyntheticConfig(**{**SMALL.as_dict(), field: value})


def test_the_error_for_short_sequences_names_the_fix():
    with pytest.raises(ValueError, match="lower data.absence or lengthen data.frames"):
        LongSyntheticConfig(frames=(5000, 500), absence=400)


def test_every_parameter_changes_the_key():
    base = SMALL.as_dict()
    keys = {SMALL.key()}
    for field, value in [("seed", 9), ("height", 100), ("width", 170), ("frames", (700, 401)), ("absence", 121)]:
        keys.add(LongSyntheticConfig(**{**base, field: value}).key())
    assert len(keys) == 6


def test_dataset_is_written_once_reused_and_read_with_late_objects(tmp_path):
    dataset = LongSyntheticDataset(tmp_path, **SMALL.as_dict())
    root = tmp_path / f"synthetic_long-{SMALL.key()}"
    assert dataset.root == root and dataset.protocol == "present"
    names = [sequence_name(i, n) for i, n in enumerate(SMALL.frames)]
    assert sorted(dataset.names) == sorted(names)
    meta = json.loads((root / synthetic_long.META_FILE).read_text())
    assert meta["config"] == SMALL.as_dict() and sorted(meta["events"]) == sorted(names)
    assert dataset.events == meta["events"]

    sequence = dataset.sequence(names[0])
    assert len(sequence.frame_paths) == 700 and sequence.fully_annotated
    annotations = sequence.annotations()
    late = meta["events"][names[0]]["late"]["frames"][0][0]
    assert [(a.frame, a.object_ids) for a in annotations] == [(0, [1, 2, 3]), (late, [4])]

    before = (root / synthetic_long.META_FILE).stat().st_mtime_ns
    LongSyntheticDataset(tmp_path, **SMALL.as_dict())
    assert (root / synthetic_long.META_FILE).stat().st_mtime_ns == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [root.name]
