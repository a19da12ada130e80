"""The transfer generator: a second synthetic set, never trained on."""

import json

import numpy as np
import pytest

from stcnbuf.io import read_label_png
from stcnbuf.lab.synthetic import transfer as synthetic_transfer
from stcnbuf.lab.synthetic.transfer import (MIN_VISIBLE, TransferConfig, TransferSyntheticDataset, _Stage,
                                            ensure_transfer_dataset, generate_sequence)

TINY = TransferConfig(height=72, width=128, num_sequences=3, frames=12)


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="must be an int"):
        TransferConfig(frames=2.5)
    with pytest.raises(ValueError, match="at least 64"):
        TransferConfig(height=32)
    with pytest.raises(ValueError, match="max_objects"):
        TransferConfig(max_objects=0)
    with pytest.raises(ValueError, match="out of range"):
        _Stage(TINY, 3)


def test_sequences_are_deterministic_and_depend_on_the_seed():
    first, again = list(generate_sequence(TINY, 1)), list(generate_sequence(TINY, 1))
    for (f1, l1), (f2, l2) in zip(first, again):
        np.testing.assert_array_equal(f1, f2)
        np.testing.assert_array_equal(l1, l2)
    other = list(generate_sequence(TransferConfig(**{**TINY.as_dict(), "seed": 1}), 1))
    assert not np.array_equal(other[0][0], first[0][0])
    assert len(first) == TINY.frames and first[0][0].shape == (72, 128, 3) and first[0][1].dtype == np.uint8


@pytest.fixture(scope="module")
def stages():
    config = TransferConfig(height=96, width=160, num_sequences=8, frames=30)
    return [_Stage(config, i) for i in range(config.num_sequences)]


def test_annotated_actors_are_in_view_in_frame_0_and_distractors_are_never_labelled(stages):
    visible = [stage._frame0_visibility() for stage in stages]   # the smallest fraction of an actor in view
    assert min(visible) >= MIN_VISIBLE, visible
    for stage in stages:
        annotated = [a for a in stage.actors if a.oid]
        assert [a.oid for a in annotated] == list(range(1, len(annotated) + 1))
        assert set(np.unique(stage.render(0)[1]).tolist()) == {0} | {a.oid for a in annotated}
        for t in range(stage.num_frames):
            assert set(np.unique(stage.render(t)[1]).tolist()) <= {0} | {a.oid for a in annotated}
    assert sum(a.oid == 0 for stage in stages for a in stage.actors) >= 2
    assert {a.kind for stage in stages for a in stage.actors} == set(synthetic_transfer.KINDS)


def test_nearer_actors_are_drawn_in_front(stages):
    """Occlusion follows depth: where two annotated actors overlap, the label is the nearer one's."""
    checked = 0
    for stage in stages:
        actors = [a for a in stage.actors if a.oid]
        for t in range(stage.num_frames):
            labels = stage.render(t, light=False)[1]
            drawn = {}
            for actor in actors:
                rgb, alpha, (x0, y0) = stage._draw_actor(actor, t)
                full = np.zeros(labels.shape, bool)
                h, w = alpha.shape
                ys, xs = np.nonzero(alpha > 127)
                keep = (ys + y0 >= 0) & (ys + y0 < labels.shape[0]) & (xs + x0 >= 0) & (xs + x0 < labels.shape[1])
                full[ys[keep] + y0, xs[keep] + x0] = True
                drawn[actor.oid] = (full, float(actor.z[t]))
            for a in drawn:
                for b in drawn:
                    overlap = drawn[a][0] & drawn[b][0]
                    if a < b and overlap.sum() >= 10:
                        near, far = (a, b) if drawn[a][1] < drawn[b][1] else (b, a)
                        assert not (labels[overlap] == far).any()
                        checked += 1
    assert checked >= 1


def test_written_as_davis_and_read_back(tmp_path):
    root = ensure_transfer_dataset(TINY, tmp_path)
    assert root.name == f"synthetic_transfer-{TINY.key()}"
    meta = json.loads((root / "synthetic_transfer.json").read_text())
    assert meta["config"] == TINY.as_dict() and meta["format_version"] == synthetic_transfer.FORMAT_VERSION
    dataset = TransferSyntheticDataset(tmp_path, **TINY.as_dict())
    assert dataset.names == ["transfer_000", "transfer_001", "transfer_002"] and dataset.scorable
    sequence = dataset.sequence("transfer_001")
    assert len(sequence) == TINY.frames and sequence.fully_annotated
    frames = list(generate_sequence(TINY, 1))
    np.testing.assert_array_equal(read_label_png(root / "Annotations/480p/transfer_001/00011.png"), frames[11][1])
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    TransferSyntheticDataset(tmp_path, **TINY.as_dict())            # reused, not rewritten
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == before
