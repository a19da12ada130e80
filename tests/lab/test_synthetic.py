"""The synthetic default dataset: determinism, DAVIS layout, the behaviours it promises, safe (re)generation."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from stcnbuf.io import DAVIS_PALETTE, read_image, read_label_png
from stcnbuf.lab.synthetic import default as synthetic
from stcnbuf.lab.synthetic.default import (SPLITS, SyntheticConfig, ensure_synthetic_dataset, generate_sequence,
                                           write_dataset)
from stcnbuf.lab.synthetic.scene import drifting_offsets
from stcnbuf.lab.synthetic.shapes import SHAPE_KINDS, shape_outlines

TINY = SyntheticConfig(seed=3, height=64, width=96, train_sequences=2, train_frames=8, val_sequences=1,
                       val_frames=6, long_sequences=1, long_frames=12, max_objects=3)
#: longer tiny sequences, to measure the behaviours (exits, occlusion, drift, motion)
BEHAVIOUR = SyntheticConfig(seed=1, height=64, width=96, train_sequences=6, train_frames=48, val_sequences=0,
                            long_sequences=0, max_objects=3)


def frames_of(config, split="train", index=0):
    return list(generate_sequence(config, split, index))


# -- config ------------------------------------------------------------------------------------------------


def test_key_is_short_stable_and_covers_every_field():
    assert TINY.key() == SyntheticConfig(**TINY.as_dict()).key()
    assert len(TINY.key()) == 10 and int(TINY.key(), 16) >= 0
    keys = {TINY.key()}
    for name, value in TINY.as_dict().items():
        keys.add(SyntheticConfig(**{**TINY.as_dict(), name: value + 1}).key())
    assert len(keys) == len(TINY.as_dict()) + 1


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        SyntheticConfig(seed=-1)
    with pytest.raises(ValueError):
        SyntheticConfig(max_objects=0)
    with pytest.raises(ValueError):
        generate_sequence(TINY, "test", 0)
    with pytest.raises(ValueError):
        generate_sequence(TINY, "train", TINY.train_sequences)


# -- determinism -------------------------------------------------------------------------------------------


def test_generate_sequence_is_deterministic_and_well_formed():
    first, second = frames_of(TINY), frames_of(TINY)
    assert len(first) == TINY.train_frames
    for (f1, l1), (f2, l2) in zip(first, second):
        assert f1.shape == (TINY.height, TINY.width, 3) and f1.dtype == np.uint8
        assert l1.shape == (TINY.height, TINY.width) and l1.dtype == np.uint8
        np.testing.assert_array_equal(f1, f2)
        np.testing.assert_array_equal(l1, l2)


def test_another_seed_gives_other_content():
    other = SyntheticConfig(**{**TINY.as_dict(), "seed": TINY.seed + 1})
    a, b = frames_of(TINY), frames_of(other)
    assert not np.array_equal(a[0][0], b[0][0])
    # and the splits differ from each other too
    assert not np.array_equal(frames_of(TINY, "val")[0][0], a[0][0])


def test_a_sequence_does_not_depend_on_the_split_size_or_generation_order():
    small = SyntheticConfig(**{**TINY.as_dict(), "train_sequences": 2})
    large = SyntheticConfig(**{**TINY.as_dict(), "train_sequences": 5})
    later = frames_of(large, "train", 4)  # generate another sequence first
    assert later
    for (f1, l1), (f2, l2) in zip(frames_of(small, "train", 1), frames_of(large, "train", 1)):
        np.testing.assert_array_equal(f1, f2)
        np.testing.assert_array_equal(l1, l2)


def test_written_label_pngs_are_byte_identical(tmp_path):
    a, b = write_dataset(TINY, tmp_path / "a"), write_dataset(TINY, tmp_path / "b")
    pngs = sorted(p.relative_to(a) for p in a.rglob("*.png"))
    assert len(pngs) == sum(TINY.sequences(s) * TINY.frames(s) for s in SPLITS)
    for rel in pngs:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


# -- layout ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    return write_dataset(TINY, tmp_path_factory.mktemp("synthetic") / "data")


def test_davis_layout(tiny_dataset):
    root = tiny_dataset
    meta = json.loads((root / "synthetic.json").read_text())
    assert meta["config"] == TINY.as_dict() and meta["format_version"] == synthetic.FORMAT_VERSION
    for split in SPLITS:
        names = (root / "ImageSets" / "2017" / f"{split}.txt").read_text().split()
        assert names == [f"{split}_{i:03d}" for i in range(TINY.sequences(split))]
        for name in names:
            images = sorted((root / "JPEGImages" / "480p" / name).iterdir())
            masks = sorted((root / "Annotations" / "480p" / name).iterdir())
            assert [p.name for p in images] == [f"{i:05d}.jpg" for i in range(TINY.frames(split))]
            assert [p.stem for p in masks] == [p.stem for p in images]  # every frame annotated
            labels = []
            for image_path, mask_path in zip(images, masks):
                with Image.open(image_path) as image:
                    assert image.format == "JPEG" and image.mode == "RGB"
                    assert image.size == (TINY.width, TINY.height)
                with Image.open(mask_path) as mask:
                    assert mask.format == "PNG" and mask.mode == "P"
                    assert mask.size == (TINY.width, TINY.height)
                    assert bytes(mask.getpalette()[:3 * 8]) == DAVIS_PALETTE[:3 * 8]
                labels.append(read_label_png(mask_path))
            labels = np.stack(labels)
            ids = set(np.unique(labels).tolist()) - {0}
            assert ids and ids <= set(range(1, TINY.max_objects + 1))
            first = labels[0]
            assert set(np.unique(first).tolist()) - {0} == ids, f"{name}: frame 0 lacks an object"
            for oid in ids:
                area0 = int((first == oid).sum())
                largest = int((labels == oid).sum(axis=(1, 2)).max())
                assert area0 >= 20 and area0 >= 0.3 * largest, (name, oid, area0, largest)


def test_reads_back_like_the_generator(tiny_dataset):
    (frame, labels), = frames_of(TINY, "val")[:1]
    np.testing.assert_array_equal(read_label_png(tiny_dataset / "Annotations/480p/val_000/00000.png"), labels)
    jpeg = read_image(tiny_dataset / "JPEGImages/480p/val_000/00000.jpg").astype(np.int16)
    assert np.abs(jpeg - frame).mean() < 6  # quality-90 JPEG of the same picture


# -- behaviour, measured on generated sequences ------------------------------------------------------------


@pytest.fixture(scope="module")
def behaviour():
    """Per sequence: frames (T×H×W×3), labels (T×H×W), full per-object masks and the z-order."""
    out = []
    for index in range(BEHAVIOUR.train_sequences):
        scene = synthetic._DefaultScene(BEHAVIOUR, "train", index)
        frames, labels, full = [], [], []
        for t in range(scene.num_frames):
            image, label, masks = scene.render(t, masks=True)
            frames.append(image), labels.append(label), full.append(masks)
        out.append(dict(frames=np.stack(frames), labels=np.stack(labels), full=full, z_order=scene.z_order))
    # the helper renders exactly what generate_sequence yields
    for (f1, l1), f2, l2 in zip(generate_sequence(BEHAVIOUR, "train", 0), out[0]["frames"], out[0]["labels"]):
        np.testing.assert_array_equal(f1, f2)
        np.testing.assert_array_equal(l1, l2)
    return out


def test_objects_leave_the_frame_and_come_back(behaviour):
    returns = 0
    for seq in behaviour:
        labels = seq["labels"]
        for oid in set(np.unique(labels[0]).tolist()) - {0}:
            present = (labels == oid).any(axis=(1, 2))
            absent = np.flatnonzero(~present)
            if len(absent) and present[absent[0]:].any():
                returns += 1
    assert returns >= 1


def test_objects_occlude_each_other(behaviour):
    occlusions = 0
    for seq in behaviour:
        z = seq["z_order"]  # back to front
        for t, masks in enumerate(seq["full"]):
            labels = seq["labels"][t]
            for back_rank, back in enumerate(z):
                for front in z[back_rank + 1:]:
                    overlap = masks[back] & masks[front]
                    if overlap.sum() >= 10:
                        # the label map shows the front-most object there, so the back one's area shrinks
                        assert not (labels[overlap] == back).any()
                        assert (labels == back).sum() < masks[back].sum()
                        occlusions += 1
    assert occlusions >= 3


def test_lighting_drifts(behaviour):
    for seq in behaviour:
        brightness = seq["frames"].reshape(len(seq["frames"]), -1).mean(axis=1)
        assert brightness.max() - brightness.min() > 5.0


def test_objects_move(behaviour):
    for seq in behaviour:
        labels = seq["labels"]
        displacement = 0.0
        for oid in set(np.unique(labels[0]).tolist()) - {0}:
            start = np.argwhere(labels[0] == oid).mean(axis=0)
            for label in labels[1:]:
                if (label == oid).sum() >= 20:
                    displacement = max(displacement, float(np.linalg.norm(np.argwhere(label == oid).mean(0) - start)))
        assert displacement > 5.0


def test_every_shape_kind_fills_within_its_radius_and_rings_have_a_hole():
    rng = np.random.default_rng(0)
    size, radius = 81, 36.0
    centre = (size - 1) / 2
    for kind in SHAPE_KINDS:
        for _ in range(5):
            alpha = np.zeros((size, size), np.uint8)
            for outline, value in shape_outlines(rng, radius, kind):
                cv2.fillPoly(alpha, [np.round((outline + centre) * 16).astype(np.int32)], value, cv2.LINE_AA, shift=4)
            ys, xs = np.nonzero(alpha > 127)
            assert len(ys) > 30, kind
            assert np.hypot(ys - centre, xs - centre).max() <= radius + 1.5, kind
            if kind == "ring":
                assert alpha[int(centre), int(centre)] == 0 and (alpha > 127).any(axis=0)[int(centre)]


def test_drifting_fields_move_straight_then_turn_back_within_their_margin():
    t = np.arange(100, dtype=np.float64)
    pad, offsets = drifting_offsets(t, np.array([0.5, -1.0]), limit=1000)
    assert pad == 102 and offsets[0].tolist() == [102, 102] and offsets[-1].tolist() == [151, 3]
    t = np.arange(5000, dtype=np.float64)
    pad, offsets = drifting_offsets(t, np.array([2.0, 0.0]), limit=300)
    assert pad == 302 and offsets.min() >= 1 and offsets.max() <= 2 * pad - 1      # the field stays small
    steps = np.abs(np.diff(offsets[:, 0]))
    assert steps.max() <= 2 and (np.diff(offsets[:, 0]) < 0).any()              # it turns back, no jumps


@pytest.fixture(scope="module")
def wide_scenes():
    """Scenes of the default train split at 96×160, for the widened variety (distractors, bending, sensor)."""
    config = SyntheticConfig(seed=0, height=96, width=160, train_sequences=16, train_frames=24, val_sequences=0,
                             long_sequences=0)
    return [synthetic._DefaultScene(config, "train", i) for i in range(config.train_sequences)]


def test_distractors_are_unlabelled_and_hide_what_is_behind_them(wide_scenes):
    hidden = 0
    for scene in (s for s in wide_scenes if s.distractors):
        order = scene.layers
        for t in range(scene.num_frames):
            _, labels, full = scene.render(t, masks=True)
            for rank, distractor in enumerate(order):
                placed = scene._warp(distractor, t, True) if distractor.oid == 0 else None
                if placed is None:
                    continue
                warped, x0, y0 = placed
                cover = np.zeros(labels.shape, bool)
                cover[y0:y0 + warped.shape[0], x0:x0 + warped.shape[1]] = warped[..., 3] > 127
                in_front = cover.copy()
                for above in order[rank + 1:]:
                    if above.oid:
                        in_front &= ~full[above.oid]
                assert not labels[in_front].any()          # where a distractor is on top, nothing is labelled
                for below in order[:rank]:
                    if below.oid and (full[below.oid] & in_front).sum() >= 10:
                        hidden += 1
    assert sum(len(s.distractors) for s in wide_scenes) >= 4 and hidden >= 1


def test_bending_objects_change_shape_beyond_a_rigid_motion(wide_scenes):
    bent = [(s, o) for s in wide_scenes for o in s.objects if o.bend is not None]
    assert bent
    scene, obj = bent[0]
    differs = 0
    for t in range(scene.num_frames):
        placed = scene._warp(obj, t, True)
        bend, obj.bend = obj.bend, None
        rigid = scene._warp(obj, t, True)
        obj.bend = bend
        if placed is None or rigid is None:
            continue
        a, b = placed[0][..., 3] > 127, rigid[0][..., 3] > 127
        h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
        a, b = a[:h, :w], b[:h, :w]
        differs += (a & b).sum() / max((a | b).sum(), 1) < 0.97
    assert differs >= scene.num_frames // 2


def test_sensor_noise_and_blur_vary_between_sequences(wide_scenes):
    assert {s.noise > 0 for s in wide_scenes} == {True, False} and any(s.blur > 0 for s in wide_scenes)
    scene = next(s for s in wide_scenes if s.noise > 0 and s.blur == 0)
    noisy = scene.render(3)[0].astype(np.float32)
    noise, scene.noise = scene.noise, 0.0
    clean = scene.render(3)[0].astype(np.float32)
    scene.noise = noise
    assert abs(float((noisy - clean).std()) - noise) < 0.35 * noise + 0.5


# -- ensure_synthetic_dataset ------------------------------------------------------------------------------


def mtimes(root: Path):
    return {p: p.stat().st_mtime_ns for p in root.rglob("*")}


def test_ensure_generates_then_reuses(tmp_path, caplog):
    path = ensure_synthetic_dataset(TINY, tmp_path)
    assert path == tmp_path / f"synthetic-{TINY.key()}" and (path / "synthetic.json").is_file()
    before = mtimes(path)
    with caplog.at_level(logging.INFO, logger="stcnbuf.lab.synthetic.cache"):
        assert ensure_synthetic_dataset(TINY, tmp_path) == path
    assert mtimes(path) == before
    assert any("reusing" in r.getMessage() for r in caplog.records)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary folders left

    other = SyntheticConfig(**{**TINY.as_dict(), "seed": 9})
    other_path = ensure_synthetic_dataset(other, tmp_path)
    assert other_path != path and other_path.is_dir() and mtimes(path) == before


@pytest.mark.parametrize("damage", ["missing", "corrupt", "other_config", "old_format"])
def test_ensure_regenerates_a_folder_without_a_matching_marker(tmp_path, damage):
    path = ensure_synthetic_dataset(TINY, tmp_path)
    marker = path / "synthetic.json"
    stale = path / "JPEGImages" / "480p" / "stale_file.txt"
    stale.write_text("left from an older run")
    meta = json.loads(marker.read_text())
    if damage == "missing":
        marker.unlink()
    elif damage == "corrupt":
        marker.write_text('{"config": {"seed": ')
    elif damage == "other_config":
        meta["config"]["seed"] += 1
        marker.write_text(json.dumps(meta))
    else:
        meta["format_version"] = -1
        marker.write_text(json.dumps(meta))
    assert ensure_synthetic_dataset(TINY, tmp_path) == path
    assert json.loads(marker.read_text())["config"] == TINY.as_dict()
    assert not stale.exists()  # a fresh folder, not a patched one
    assert (path / "Annotations/480p/train_000/00000.png").is_file()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_interrupted_generation_leaves_nothing_at_the_final_path(tmp_path, monkeypatch):
    real = synthetic._write_sequence
    calls = []

    def failing(config, split, index, root):
        calls.append((split, index))
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated interruption")
        return real(config, split, index, root)

    monkeypatch.setattr(synthetic, "_write_sequence", failing)
    with pytest.raises(KeyboardInterrupt):
        ensure_synthetic_dataset(TINY, tmp_path)
    assert len(calls) == 2
    assert not (tmp_path / f"synthetic-{TINY.key()}").exists()
    assert list(tmp_path.iterdir()) == []  # the partial folder was removed too

    monkeypatch.setattr(synthetic, "_write_sequence", real)
    path = ensure_synthetic_dataset(TINY, tmp_path)
    assert (path / "synthetic.json").is_file()


def test_folders_of_killed_generations_are_removed(tmp_path):
    import socket
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host, name = socket.gethostname(), f"synthetic-{TINY.key()}"
    killed = tmp_path / f".{name}.partial-{host}-{int(gone.stdout)}-0badcafe"  # SIGKILLed mid-generation
    running = tmp_path / f".{name}.partial-{host}-{os.getpid()}-00c0ffee"   # another generation in progress
    elsewhere = tmp_path / f".{name}.partial-otherhost-{int(gone.stdout)}-0badcafe"
    for folder in (killed, running, elsewhere):
        (folder / "JPEGImages").mkdir(parents=True)
    ensure_synthetic_dataset(TINY, tmp_path)
    assert not killed.exists() and running.exists() and elsewhere.exists()
