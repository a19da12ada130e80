import dataclasses
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class
from torch.utils.data import DataLoader

from stcnbuf.apps.train.train import train
from stcnbuf.datasets.davis import DavisDataset
from stcnbuf.engine import Segmenter
from stcnbuf.engine.checkpoint import CheckpointError, export_original, load_network_weights
from stcnbuf.engine.memory import MemoryBank
from stcnbuf.engine.model import STCN
from stcnbuf.lab.synthetic.dataset import SyntheticDataset
from stcnbuf.lab.synthetic.default import SyntheticConfig, write_dataset
from stcnbuf.training.augmentation import (AugmentConfig, augment_clip, crop_box, draw_color_jitter, random_tps_warp,
                                           static_clip, tps_displacement)
from stcnbuf.training.clips import (ClipBatchSampler, ClipDataset, ClipKey, ClipSpec, Curriculum, RawClip,
                                    RepeatedSource, StaticImageSource, VideoClipSource, read_subset,
                                    sample_frame_indices)
from stcnbuf.training.losses import BootstrappedCE
from stcnbuf.training.module import VOSTrainingModule
from tests.conftest import REPO, compose, require_shared, tiny_net

TINY_NET = ["model.net.key_backbone=resnet18", "model.net.key_width=16", "model.net.value_width=16",
            "model.net.key_dim=16", "model.net.value_dim=16", "model.net.decoder_dims=[16,8,8]"]
SMALL_ARCH = dict(key_backbone="resnet18", key_width=16, value_width=16, key_dim=16, value_dim=16,
                  decoder_dims=(16, 8, 8))  # TINY_NET's
FAST = ["trainer=cpu", "datamodule.batch_size=2", "datamodule.num_workers=0", "datamodule.samples_per_epoch=8",
        "datamodule.spec.augment.crop_size=[64,64]", "logger=none", "evaluate_after=false"]


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    """A tiny synthetic DAVIS-layout set (train, val, long)."""
    config = SyntheticConfig(height=64, width=96, train_sequences=2, train_frames=10, val_sequences=1, val_frames=8,
                             long_sequences=1, long_frames=8)
    return write_dataset(config, tmp_path_factory.mktemp("synthetic") / "set")


@pytest.fixture(scope="module")
def youtube_train_root(synthetic_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("youtube")
    for kind in ("JPEGImages", "Annotations"):
        for seq in (synthetic_root / kind / "480p").iterdir():
            if seq.name.startswith("train"):
                (root / "train_480p" / kind).mkdir(parents=True, exist_ok=True)
                (root / "train_480p" / kind / seq.name).symlink_to(seq)
    return root


@pytest.fixture(scope="module")
def static_root(synthetic_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("static")
    for jpg in sorted((synthetic_root / "JPEGImages/480p/train_000").glob("*.jpg"))[:3]:
        (root / jpg.name).symlink_to(jpg)
        mask = synthetic_root / "Annotations/480p/train_000" / (jpg.stem + ".png")
        (root / (jpg.stem + ".png")).symlink_to(mask)
    return root


def run_train(tmp_path, *overrides):
    cfg = compose("train", [f"output_dir={tmp_path / 'run'}", f"paths.log_dir={tmp_path / 'logs'}",
                            f"paths.data_dir={tmp_path / 'data'}", *FAST, *overrides])
    return train(cfg)


# ---------------------------------------------------------------- pieces
def test_bootstrapped_ce_on_a_hand_made_case():
    loss = BootstrappedCE(start_warm=10, end_warm=20, top_p=0.25)
    logits = torch.zeros(1, 3, 1, 4)
    logits[0, 1, 0, :] = torch.tensor([4.0, 2.0, 0.0, -2.0])
    target = torch.ones(1, 1, 4, dtype=torch.long)
    per_pixel = -torch.log_softmax(logits, 1)[0, 1, 0]
    plain, p = loss(logits, target, step=5)
    assert p == 1.0 and torch.isclose(plain, per_pixel.mean())
    hardest, p = loss(logits, target, step=25)
    assert p == 0.25 and torch.isclose(hardest, per_pixel.max())  # one pixel of four: the worst
    assert loss.fraction(15) == pytest.approx(0.625)
    half, _ = loss(logits, target, step=15)  # p = 0.625: the two hardest pixels
    assert torch.isclose(half, per_pixel.sort(descending=True).values[:2].mean())


def test_curriculum_switches_at_the_given_fractions():
    curriculum = Curriculum()  # STCN: 5, then 10, 15, 20, 25 from 10 %, 20 %, 30 %, 40 %, 5 from 90 %
    assert [curriculum.max_gap(p) for p in (0, 0.099, 0.1, 0.25, 0.35, 0.5, 0.89, 0.9, 1.0)] == \
        [5, 5, 10, 15, 20, 25, 25, 5, 5]
    with pytest.raises(ValueError, match="must increase"):
        Curriculum(values=[1, 2], switch_at=[0.5, 0.2])


def _stcn_index_distribution(length, jump):
    """The exact distribution of STCN's three frame indices (vos_dataset.py), by enumeration of its draws."""
    jump = min(length, jump)
    probability = {}
    starts, steps = range(length - jump + 1), range(jump + 1)
    weight = 1 / (len(starts) * len(steps) ** 2 * 2)
    for start in starts:
        for a in steps:
            f1 = min(start + a + 1, length - jump, length - 1)
            for b in steps:
                f2 = min(f1 + b + 1, length - jump // 2, length - 1)
                for triple in ((start, f1, f2), (f2, f1, start)):
                    probability[triple] = probability.get(triple, 0) + weight
    return probability


@pytest.mark.parametrize("length, jump", [(12, 5), (30, 7), (4, 25)])
def test_clip_frame_indices_follow_stcns_distribution(length, jump):
    expected = _stcn_index_distribution(length, jump)
    rng, draws = np.random.default_rng(0), 60_000
    counts = {}
    for _ in range(draws):
        triple = tuple(sample_frame_indices(length, 3, jump, rng))
        counts[triple] = counts.get(triple, 0) + 1
    assert set(counts) <= set(expected)                     # nothing the formula cannot draw
    worst = max(abs(counts.get(t, 0) / draws - p) / np.sqrt(p * (1 - p) / draws) for t, p in expected.items())
    assert worst < 5                                         # every frequency within 5 standard errors


def test_clips_have_a_target_and_a_second_object_selector(synthetic_root, static_root):
    spec = ClipSpec(augment=AugmentConfig(crop_size=(48, 48)))
    video = VideoClipSource(DavisDataset(synthetic_root, split="train"))
    dataset = ClipDataset({"video": RepeatedSource(video)}, 40, spec, Curriculum(initial=3), seed=1)
    seen_second = seen_single = empty = 0
    for key in (key for batch in ClipBatchSampler(40, 4) for key in batch):
        item = dataset[key]
        assert item["frames"].shape == (3, 3, 48, 48) and item["labels"].shape == (3, 48, 48)
        assert item["selector"][0] == 1 and set(torch.unique(item["labels"]).tolist()) <= {0, 1, 2}
        empty += int((item["labels"][0] == 1).sum()) == 0   # five crops without an object: an empty target
        if item["selector"][1] == 1:
            seen_second += 1
        else:
            seen_single += 1
            assert int((item["labels"] == 2).sum()) == 0
    assert seen_second and seen_single and empty < 10   # the fixture's objects are tiny (~1 % of a frame each)
    again = ClipDataset({"video": RepeatedSource(video)}, 40, spec, Curriculum(initial=3), seed=1)
    assert torch.equal(again[(0, 7)]["frames"], dataset[(0, 7)]["frames"])
    assert not torch.equal(dataset[(1, 7)]["frames"], dataset[(0, 7)]["frames"])
    static = ClipDataset({"static": RepeatedSource(StaticImageSource(static_root))}, 4,
                         ClipSpec(max_objects=1, augment=AugmentConfig(crop_size=(48, 48))), Curriculum())
    item = static[(0, 0)]
    assert item["selector"].tolist() == [1.0] and set(torch.unique(item["labels"]).tolist()) == {0, 1}


def _roughness(images):
    """Mean absolute difference of horizontally neighbouring pixels."""
    return float((images[..., 1:].float() - images[..., :-1].float()).abs().mean())


def test_each_optional_augmentation_does_what_it_says_and_is_seeded(static_root):
    frames = [np.random.default_rng(i).integers(0, 256, (40, 60, 3), dtype=np.uint8) for i in range(3)]
    frames = [np.kron(f[::4, ::4], np.ones((4, 4, 1), np.uint8))[:40, :60] for f in frames]  # flat 4×4 patches
    masks = [np.zeros((40, 60), np.uint8)] * 3
    clips = {}
    for name, extra in {"plain": {}, "blur": {"blur_p": 1.0, "blur_sigma": (1.5, 1.5)},
                        "noise": {"noise_p": 1.0, "noise_sigma": 20.0}}.items():
        cfg = AugmentConfig(crop_size=(32, 32), grayscale_p=0.0, **extra)
        clips[name], _ = augment_clip(frames, masks, np.random.default_rng(5), cfg)
        again, _ = augment_clip(frames, masks, np.random.default_rng(5), cfg)
        assert torch.equal(again, clips[name]), name
    assert _roughness(clips["blur"]) < 0.8 * _roughness(clips["plain"])
    grain = clips["noise"].float() - clips["plain"].float()
    assert grain.abs().mean() > 1 and not torch.equal(grain[0], grain[1])   # fresh noise on every frame
    static = StaticImageSource(static_root)
    cfg = AugmentConfig(crop_size=(32, 32), noise_p=1.0, noise_sigma=20.0)
    noisy = static.sample(0, np.random.default_rng(1), 3, 1, cfg).frames
    clean = static.sample(0, np.random.default_rng(1), 3, 1, AugmentConfig(crop_size=(32, 32))).frames
    # static clips get them too: the same deformations (drawn first), then noise on top
    assert 1 < float((noisy.float() - clean.float()).abs().mean()) < 20


def test_bootstrapped_ce_is_taken_per_clip_on_two_channels_without_a_second_object():
    """STCN's LossComputer: each clip's hardest p of its own pixels, a clip without a second object scored on
    (background, target) only, the batch's loss the mean of the clips' (values computed here by hand)."""
    loss = BootstrappedCE(start_warm=0, end_warm=10, top_p=0.5)
    logits = torch.tensor([[[[-3.0, 2.0, 1.0, -2.0]], [[1.0, -1.0, 3.0, 2.0]], [[2.0, 1.0, -1.0, 0.0]]],   # all wrong
                           [[[0.0, 0.0, 0.0, 1.0]], [[0.5, 4.0, 5.0, 6.0]], [[-16.0, -16.0, -16.0, -16.0]]]])
    target = torch.tensor([[[0, 1, 2, 0]], [[1, 1, 1, 0]]])
    has_second = torch.tensor([True, False])

    def per_pixel(clip, channels):  # -log softmax of the target channel, by hand
        values = logits[clip, :channels, 0].double()
        return [float(torch.logsumexp(values[:, x], 0) - values[target[clip, 0, x], x]) for x in range(4)]

    first, second = sorted(per_pixel(0, 3), reverse=True), sorted(per_pixel(1, 2), reverse=True)
    expected = (np.mean(first[:2]) + np.mean(second[:2])) / 2          # p = 0.5 at step 10: 2 of 4 pixels each
    value, p = loss(logits, target, step=10, has_second=has_second)
    assert p == 0.5 and float(value) == pytest.approx(expected, rel=1e-6)
    pooled = np.mean(sorted(per_pixel(0, 3) + per_pixel(1, 3), reverse=True)[:4])   # the batch-pooled variant
    assert abs(pooled - expected) > 0.1                                # this batch tells the two apart
    plain, p = BootstrappedCE(start_warm=100)(logits, target, step=0, has_second=has_second)
    assert p == 1.0 and float(plain) == pytest.approx((np.mean(per_pixel(0, 3)) + np.mean(per_pixel(1, 2))) / 2)


class _CountingSource:
    """A clip source of ``size`` items whose first ``empty`` clips have no object in their first frame."""

    def __init__(self, size, empty=0, redraws=True):
        self.size, self.empty, self.calls, self.redraws_empty_clips = size, empty, [], redraws

    def __len__(self):
        return self.size

    def sample(self, item, rng, num_frames, max_gap, augment):
        self.calls.append(item)
        labels = torch.zeros(num_frames, 8, 8, dtype=torch.uint8)
        if len(self.calls) > self.empty:
            labels[:, 2:5, 2:5], labels[:, 6:, 6:] = 3, 7
        return RawClip(torch.zeros(num_frames, 3, 8, 8, dtype=torch.uint8), labels)


def test_the_concatenation_of_sources_is_visited_as_stcns_shuffled_concat_dataset():
    davis, youtube = _CountingSource(60), _CountingSource(3464)
    dataset = ClipDataset({"davis": RepeatedSource(davis, 5), "youtube": RepeatedSource(youtube, 1)},
                          samples_per_epoch=1000, spec=ClipSpec(), curriculum=Curriculum(), seed=3)
    assert dataset.num_entries == 5 * 60 + 3464
    first_run = [dataset.entry(epoch, index) for epoch in range(4) for index in range(1000)][:3764]
    counts = {}
    for entry in first_run:
        counts[entry] = counts.get(entry, 0) + 1
    assert {counts[(0, i)] for i in range(60)} == {5} and {counts[(1, i)] for i in range(3464)} == {1}
    assert sum(n for (source, _), n in counts.items() if source == 0) / 3764 == pytest.approx(300 / 3764)  # ~8 %
    later = [dataset.entry(3, index)[0] for index in range(764, 1000)]   # the second run's start
    assert later != [s for s, _ in first_run[:236]]                      # another permutation
    assert ClipDataset({"davis": RepeatedSource(davis, 5), "youtube": RepeatedSource(youtube, 1)}, 1000,
                       ClipSpec(), Curriculum(), seed=3).entry(2, 17) == dataset.entry(2, 17)
    with pytest.raises(ValueError, match="integers >= 1"):
        ClipDataset({"davis": RepeatedSource(davis, 0)}, 10, ClipSpec(), Curriculum())


def test_objects_are_any_first_frame_label_after_five_tries_an_empty_target():
    spec = ClipSpec(num_frames=3, augment=AugmentConfig(crop_size=(8, 8)))
    found = _CountingSource(4, empty=3)        # three clips without an object, then one with ids 3 and 7
    item = ClipDataset({"s": RepeatedSource(found)}, 4, spec, Curriculum())[(0, 0)]
    assert len(set(found.calls)) == 1 and len(found.calls) == 4    # redrawn from the same video
    assert item["selector"].tolist() == [1.0, 1.0] and set(item["labels"].unique().tolist()) == {0, 1, 2}
    assert torch.equal(item["first_masks"][0], (item["labels"][0] == 1).float())
    never = _CountingSource(4, empty=99)
    item = ClipDataset({"s": RepeatedSource(never)}, 4, spec, Curriculum())[(0, 0)]
    assert len(never.calls) == 5                                     # STCN's five tries
    assert item["selector"].tolist() == [1.0, 0.0] and int(item["labels"].sum()) == 0   # an empty target
    static = _CountingSource(4, empty=99, redraws=False)               # stage 0: a clip trains as it comes
    ClipDataset({"s": RepeatedSource(static)}, 4, spec, Curriculum())[(0, 0)]
    assert len(static.calls) == 1 and StaticImageSource.redraws_empty_clips is False


def test_shipped_subsets_are_stcns_lists():
    youtube, davis = read_subset("stcn_youtubevos_train"), read_subset("stcn_davis_train")
    assert len(youtube) == len(set(youtube)) == 3464 and len(davis) == 60
    assert davis[:3] == ["bear", "bmx-bumps", "boat"] and youtube[0] == "003234408d"
    with pytest.raises(FileNotFoundError, match="neither a shipped list"):
        read_subset("no_such_list")


def test_crop_box_falls_back_as_torchvision_does():
    from torchvision.transforms import RandomResizedCrop

    torch.manual_seed(0)
    image = torch.zeros(3, 10, 100)
    expected = RandomResizedCrop.get_params(image, scale=[1.0, 1.0], ratio=[3 / 4, 4 / 3])  # every try fails
    assert crop_box(10, 100, np.random.default_rng(0), (1.0, 1.0), (3 / 4, 4 / 3)) == tuple(expected) == (0, 43, 10, 13)
    top, left, h, w = crop_box(300, 400, np.random.default_rng(1), (0.36, 1.0), (3 / 4, 4 / 3))
    assert 0.36 * 120000 - 2 * (h + w) <= h * w <= 120000 and 3 / 4 - 0.05 <= w / h <= 4 / 3 + 0.05


def test_color_jitter_draws_torchvisions_factors_in_a_random_order():
    rng = np.random.default_rng(0)
    draws = [draw_color_jitter(rng, 0.1, 0.03, 0.03) for _ in range(2000)]
    assert len({d.order for d in draws}) == 24                       # every order of the four adjustments
    brightness = np.array([d.factors[0] for d in draws])
    assert 0.9 <= brightness.min() < 0.91 and 1.09 < brightness.max() <= 1.1
    assert all(0.97 <= d.factors[1] <= 1.03 and d.factors[3] is None for d in draws)


def test_video_clips_crop_the_whole_frame_first_then_deform_each_frame():
    """With the per-frame affine and jitter off, a clip is the PIL bicubic resized crop (and flip) of each frame,
    all at one box: the crop comes first and is shared (STCN's all_im_dual_transform)."""
    from PIL import Image
    from torchvision.transforms import InterpolationMode
    import torchvision.transforms.functional as F

    frames = [np.random.default_rng(i).integers(0, 256, (60, 90, 3), dtype=np.uint8) for i in range(3)]
    masks = [np.random.default_rng(9 + i).integers(0, 3, (60, 90), dtype=np.uint8) for i in range(3)]
    cfg = AugmentConfig(crop_size=(32, 32), clip_brightness=0, clip_contrast=0, clip_saturation=0, grayscale_p=0,
                        frame_degrees=0, frame_shear=0, frame_brightness=0, frame_contrast=0, frame_saturation=0)
    for seed in range(4):
        images, labels = augment_clip(frames, masks, np.random.default_rng(seed), cfg)
        rng = np.random.default_rng(seed)
        flip = rng.random() < 0.5
        box = crop_box(60, 90, rng, cfg.crop_scale, cfg.crop_ratio)
        for t in range(3):
            image, label = Image.fromarray(frames[t]), Image.fromarray(masks[t])
            if flip:
                image, label = F.hflip(image), F.hflip(label)
            expected = np.array(F.resized_crop(image, *box, [32, 32], interpolation=InterpolationMode.BICUBIC))
            expected_labels = np.array(F.resized_crop(label, *box, [32, 32], interpolation=InterpolationMode.NEAREST))
            assert np.array_equal(images[t].permute(1, 2, 0).numpy(), expected)
            assert np.array_equal(labels[t].numpy(), expected_labels)
    turned, _ = augment_clip(frames, masks, np.random.default_rng(0), AugmentConfig(
        crop_size=(32, 32), frame_brightness=0, frame_contrast=0, frame_saturation=0))
    fill = (turned.permute(0, 2, 3, 1).reshape(-1, 3) == torch.tensor([124, 116, 104], dtype=torch.uint8)).all(1)
    assert fill.any()                        # the per-frame affine turns the crop and fills with the mean


def test_thin_plate_spline_moves_control_points_exactly():
    rng = np.random.default_rng(0)
    source = rng.uniform(0, 1, (12, 2))
    target = source + rng.normal(scale=0.02, size=source.shape)
    assert np.allclose(tps_displacement(source, target, target), source - target, atol=1e-6)
    affine = tps_displacement(source, source + 0.01, rng.uniform(0, 1, (50, 2)))   # a shift: its inverse
    assert np.allclose(affine, -0.01, atol=1e-6)
    image = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    mask = (rng.random((40, 50)) > 0.5).astype(np.uint8)
    same, same_mask = random_tps_warp(image, mask, np.random.default_rng(1), 0.0, 12)   # no movement
    rows = np.rint(np.linspace(0, 1, 40) * 40).astype(int)[:-1]       # STCN's remap of the unit grid: j -> j*W/(W-1)
    cols = np.rint(np.linspace(0, 1, 50) * 50).astype(int)[:-1]
    assert np.array_equal(same_mask[:-1, :-1], mask[rows][:, cols]) and not same_mask[-1].any()


def test_static_clips_keep_grey_masks_threshold_them_and_feed_the_first_one_soft(static_root):
    image = np.random.default_rng(0).integers(0, 256, (80, 120, 3), dtype=np.uint8)
    mask = np.zeros((80, 120), np.uint8)
    mask[20:60, 30:90] = 255
    clip = static_clip(image, mask, 3, np.random.default_rng(2), AugmentConfig(crop_size=(48, 48), tps_p=0.0))
    assert clip.frames.shape == (3, 3, 48, 48) and clip.masks.shape == (3, 48, 48)
    grey = clip.masks[(clip.masks > 0) & (clip.masks < 255)]
    assert grey.numel() > 0                                 # the bicubic per-frame affine leaves soft edges
    source = StaticImageSource(static_root)
    raw = source.sample(0, np.random.default_rng(3), 3, 1, AugmentConfig(crop_size=(48, 48)))
    assert set(raw.labels.unique().tolist()) <= {0, 1} and raw.soft_first is not None
    item = ClipDataset({"static": RepeatedSource(source)}, 2, ClipSpec(max_objects=1,
                       augment=AugmentConfig(crop_size=(48, 48))), Curriculum())[(0, 0)]
    soft = item["first_masks"][0]
    assert torch.equal(soft > 0.5, item["labels"][0] == 1) and ((soft > 0) & (soft < 1)).any()


def test_a_stage0_file_gets_an_orthogonal_fifth_channel_for_training_and_zeros_for_inference(tmp_path):
    from stcnbuf.engine.build import build_network

    state = STCN(**SMALL_ARCH).state_dict()
    state["value_encoder.conv1.weight"] = state["value_encoder.conv1.weight"][:, :4].clone()   # a stage-0 file
    path = tmp_path / "stage0.pth"
    torch.save(state, path)
    evaluated = build_network({"checkpoint": str(path), "net": {}})
    assert float(evaluated.value_encoder.conv1.weight[:, 4].detach().abs().max()) == 0
    torch.manual_seed(0)
    trained = build_network({"checkpoint": str(path), "net": {}}, for_training=True)
    fifth = trained.value_encoder.conv1.weight[:, 4].detach().reshape(16, -1).double()   # 16 rows, 49 columns
    assert torch.allclose(fifth @ fifth.T, torch.eye(16, dtype=torch.float64), atol=1e-5)   # orthonormal rows
    assert torch.equal(trained.value_encoder.conv1.weight[:, :4], state["value_encoder.conv1.weight"])
    forced = build_network({"checkpoint": str(path), "net": {}, "stage0_channel": "zeros"}, for_training=True)
    assert float(forced.value_encoder.conv1.weight[:, 4].detach().abs().max()) == 0


def test_clip_batches_continue_from_the_training_position():
    done = [6]
    sampler = ClipBatchSampler(8, 2, batches_done=lambda: done[0], total_batches=10)
    assert len(sampler) == 4
    assert list(sampler) == [[ClipKey(1, 4, 0.6), ClipKey(1, 5, 0.6)], [ClipKey(1, 6, 0.7), ClipKey(1, 7, 0.7)]]
    done[0] = 8  # an epoch boundary: the whole next epoch
    assert [[k.index for k in batch] for batch in sampler] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert {k.epoch for batch in sampler for k in batch} == {2}
    second = ClipBatchSampler(10, 2, rank=1, world_size=2)  # every world_size-th clip, the same count everywhere
    assert [[k.index for k in batch] for batch in second] == [[1, 3], [5, 7]]
    with pytest.raises(ValueError, match="no full batch"):
        ClipBatchSampler(3, 4)
    repeated = ClipBatchSampler(4, 2, batches_done=lambda: done[0], total_batches=10, repeat=True)  # debug=overfit
    assert list(repeated) == [[ClipKey(0, 0, 0.0), ClipKey(0, 1, 0.0)], [ClipKey(0, 2, 0.0), ClipKey(0, 3, 0.0)]]


TINY_SYNTHETIC = [f"{prefix}.{key}={value}" for prefix in ("clips.synthetic.source.dataset", "val_data")
                  for key, value in (("height", 48), ("width", 64), ("train_sequences", 2), ("train_frames", 6),
                                     ("val_sequences", 1), ("val_frames", 5), ("long_sequences", 1),
                                     ("long_frames", 5))]


@pytest.mark.parametrize("preset", ["default", "fdr", "limit", "overfit", "profiler"])
def test_debug_presets_run(tmp_path_factory, preset):
    data = tmp_path_factory.getbasetemp() / "debug_data"  # generated once for all presets
    out = tmp_path_factory.mktemp(f"debug_{preset}")
    cfg = compose("train", [f"debug={preset}", f"output_dir={out}", f"paths.data_dir={data}",
                            f"paths.log_dir={out / 'logs'}", "logger=none", "datamodule.batch_size=2",
                            "datamodule.samples_per_epoch=8", "datamodule.spec.augment.crop_size=[48,48]",
                            "trainer.max_steps=4", "trainer.val_check_interval=2", *TINY_SYNTHETIC])
    assert cfg.task_name == "debug" and cfg.trainer.detect_anomaly and cfg.datamodule.num_workers == 0
    if preset == "limit":
        pytest.importorskip("tensorboardX", reason="logger=tensorboard: pip install -e '.[tensorboard]'")
        cfg.logger = compose("train", ["logger=tensorboard", f"output_dir={out}"]).logger
    result = train(cfg)
    assert result["steps"] == (1 if preset == "fdr" else 4)
    if preset == "limit":
        assert list((out / "tensorboard").glob("events.out.tfevents.*"))


def test_loader_workers_draw_the_curriculum_gap_of_each_step(synthetic_root):
    """The gap comes with the key, so a worker process draws exactly the clip the main process would."""
    spec = ClipSpec(augment=AugmentConfig(crop_size=(32, 32)))
    video = VideoClipSource(DavisDataset(synthetic_root, split="train"))
    dataset = ClipDataset({"video": RepeatedSource(video)}, 4, spec,
                          Curriculum(initial=2, values=[4], switch_at=[0.75]))
    sampler = ClipBatchSampler(4, 2, batches_done=lambda: 2, total_batches=4)
    batches = list(DataLoader(dataset, batch_sampler=sampler, num_workers=1))
    assert [b["max_gap"].tolist() for b in batches] == [[2, 2], [4, 4]]
    keys = [key for batch in sampler for key in batch]
    expected = torch.stack([dataset[key]["frames"] for key in keys])
    assert torch.equal(torch.cat([b["frames"] for b in batches]), expected)


def test_training_needs_every_frame_annotated(tmp_path):
    caps = require_shared("pumavos", "caps")
    from stcnbuf.datasets.folder import FolderDataset

    with pytest.raises(ValueError, match="needs a mask for every frame: folder/caps lacks"):
        VideoClipSource(FolderDataset(caps))


# ---------------------------------------------------------------- experiments
def tiny_data(root):
    """Clips and validation from the tiny synthetic set instead of generating the quickstart's."""
    return ["clips=davis2017", f"clips.davis2017.source.dataset.root={root}", "clips.davis2017.source.subset=null",
            "data@val_data=davis2017", f"val_data.root={root}"]


def _constructor_keys(target: str) -> set:
    """The arguments a config of ``target`` can set (SyntheticDataset: its generator parameters too)."""
    cls = get_class(target)
    parameters = inspect.signature(cls.__init__).parameters.values()
    keys = {p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)} - {"self"}
    if cls is SyntheticDataset:
        keys |= {f.name for f in dataclasses.fields(SyntheticConfig)}
    return keys


@pytest.mark.parametrize("clips, name", [("synthetic", "synthetic"), ("synthetic_small", "synthetic"),
                                         ("davis2017", "davis2017"), ("youtubevos", "youtubevos"),
                                         ("folder", "folder"), ("static", "fss"),
                                         ("images", "images")])
def test_every_clip_source_key_overrides_without_a_plus(clips, name):
    cfg = compose("train", [f"clips={clips}"])
    source = cfg.clips[name].source
    assert _constructor_keys(source._target_) - {"dataset"} <= set(source)
    if "dataset" in source:
        assert _constructor_keys(source.dataset._target_) <= set(source.dataset)
    if clips.startswith("synthetic"):
        plain = compose("train", [f"clips={clips}", "clips.synthetic.source.dataset.train_sequences=4"])
        assert plain.clips.synthetic.source.dataset.train_sequences == 4


def test_fast_dev_run_quickstart(tmp_path, synthetic_root):
    result = run_train(tmp_path, "+trainer.fast_dev_run=2", *tiny_data(synthetic_root), *TINY_NET)
    assert result["steps"] == 2


def test_fast_dev_run_stage0_on_stcns_static_layout(tmp_path, static_root, tiny_checkpoint):
    """STCN's six static sets under paths.data_dir/static: FSS-1000 in class folders, the others flat."""
    images = sorted(p for p in static_root.iterdir() if p.suffix == ".jpg")
    for folder in ("fss/class_a", "DUTS-TR", "DUTS-TE", "ecssd", "BIG_small", "HRSOD_small"):
        (tmp_path / "data" / "static" / folder).mkdir(parents=True)
        for image in images:
            (tmp_path / "data" / "static" / folder / image.name).symlink_to(image.resolve())
            (tmp_path / "data" / "static" / folder / (image.stem + ".png")).symlink_to(
                (static_root / (image.stem + ".png")).resolve())
    cfg = compose("train", ["experiment=stage0", f"paths.data_dir={tmp_path / 'data'}"])
    assert [cfg.clips[n].repeat for n in ("fss", "duts_tr", "duts_te", "ecssd", "big", "hrsod")] == [1, 1, 1, 1, 5, 5]
    result = run_train(tmp_path, "experiment=stage0", "+trainer.fast_dev_run=2", *TINY_NET)
    assert result["steps"] == 2
    own = run_train(tmp_path / "own", "experiment=stage0", "clips=images",
                    f"clips.images.source.image_dir={static_root}", "trainer.max_steps=1",
                    "callbacks.last.every_n_train_steps=1", *TINY_NET)
    assert own["steps"] == 1
    exported = torch.load(own["exported"], weights_only=True)["value_encoder.conv1.weight"]
    assert exported.shape[1] == 4   # a single-object run is written as STCN's stage-0 files are
    tuned = run_train(tmp_path / "tuned", "experiment=stage0", "clips=images", f"model.checkpoint={tiny_checkpoint}",
                      f"clips.images.source.image_dir={static_root}", "trainer.max_steps=1",
                      "callbacks.last.every_n_train_steps=1")
    kept = torch.load(tuned["exported"], weights_only=True)["value_encoder.conv1.weight"]
    assert kept.shape[1] == 5       # from a multi-object file, its trained 5th channel stays


def test_fast_dev_run_stage3(tmp_path, synthetic_root, youtube_train_root):
    result = run_train(tmp_path, "experiment=stage3", f"clips.davis2017.source.dataset.root={synthetic_root}",
                       "clips.davis2017.source.subset=null", "clips.youtubevos.source.subset=null",
                       f"clips.youtubevos.source.dataset.root={youtube_train_root}", f"val_data.root={synthetic_root}",
                       "+trainer.fast_dev_run=2", *TINY_NET)
    assert result["steps"] == 2


def test_fast_dev_run_finetune_from_an_original_format_file(tmp_path, synthetic_root):
    folder = tmp_path / "own_videos"  # the folder layout: JPEGImages/<seq>/, Annotations/<seq>/
    folder.mkdir()
    for kind in ("JPEGImages", "Annotations"):
        (folder / kind).symlink_to(synthetic_root / kind / "480p")
    checkpoint = export_original(tiny_net(seed=3), tmp_path / "stcn.pth")
    result = run_train(tmp_path, "experiment=finetune", f"model.checkpoint={checkpoint}",
                       f"clips.folder.source.dataset.root={folder}", "+trainer.fast_dev_run=4")
    assert result["steps"] == 2   # four batches, two optimiser steps: the recipe accumulates two (batch 8)


@pytest.mark.parametrize("freeze, frozen", [("module.freeze_bn=true", ""),
                                            ("module.freeze_key_encoder=true", "key_encoder.")])
def test_frozen_batchnorm_statistics_stay_fixed_across_validation(tmp_path, synthetic_root, freeze, frozen):
    """freeze_bn keeps every BatchNorm's running statistics, freeze_key_encoder the key encoder's, through
    trainer.fit: 4 steps with a validation loop after step 2."""
    run_train(tmp_path, *TINY_NET, "module.freeze_bn=false", freeze, "trainer.max_steps=4",
              "trainer.val_check_interval=2", "callbacks.last.every_n_train_steps=4", *tiny_data(synthetic_root))
    before = STCN(**SMALL_ARCH).state_dict()  # a new network's statistics: mean 0, variance 1, no batches
    saved = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 4
    after = {k[len("net."):]: v for k, v in saved["state_dict"].items()}
    statistics = [k for k in before if k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    kept = [k for k in statistics if k.startswith(frozen)]
    assert [k for k in kept if not torch.equal(after[k], before[k])] == []
    assert all(not torch.equal(after[k], before[k]) for k in statistics if k not in kept)


@pytest.mark.slow
def test_finetune_on_real_frames_from_original_and_stage0_files_then_export(tmp_path):
    chair = require_shared("pumavos", "chair")
    net = tiny_net(seed=3)
    original = export_original(net, tmp_path / "stcn.pth")
    stage0 = net.state_dict()
    stage0["value_encoder.conv1.weight"] = stage0["value_encoder.conv1.weight"][:, :4].clone()
    torch.save(stage0, tmp_path / "stage0.pth")
    for name, checkpoint in (("original", original), ("stage0", tmp_path / "stage0.pth")):
        run_dir = tmp_path / name
        result = run_train(run_dir, "experiment=finetune", f"model.checkpoint={checkpoint}",
                           f"clips.folder.source.dataset.root={chair}", "trainer.max_steps=3",
                           "callbacks.last.every_n_train_steps=1", "datamodule.samples_per_epoch=8",
                           "module.freeze_key_encoder=true")
        assert result["steps"] == 3
        trained = load_network_weights(STCN(**_arch()), result["exported"])
        assert torch.equal(trained.key_encoder.conv1.weight, net.key_encoder.conv1.weight)  # frozen
        assert not torch.equal(trained.decoder.pred.weight, net.decoder.pred.weight)  # learned
    # export -> strict reload -> identical predictions
    ckpt = torch.load(result["checkpoint"], weights_only=True)
    from_lightning = STCN(**_arch())
    from_lightning.load_state_dict({k[4:]: v for k, v in ckpt["state_dict"].items()}, strict=True)
    reloaded = STCN(**_arch())
    reloaded.load_state_dict(torch.load(result["exported"], weights_only=True), strict=True)
    from stcnbuf.datasets.folder import FolderDataset

    sequence = FolderDataset(chair).sequence("chair")
    frames = [sequence.read_frame(i)[::4, ::4].copy() for i in range(4)]
    mask = sequence.read_mask(0)[::4, ::4].copy()
    outputs = []
    for model in (from_lightning, reloaded):
        seg = Segmenter(model, MemoryBank(), mem_every=2)
        outputs.append([seg.start(frames[0], mask).probs] + [seg.step(f).probs for f in frames[1:]])
    for a, b in zip(*outputs):
        assert torch.equal(a, b)


class StopAfter(L.Callback):
    """Stops training after ``steps`` steps, as if the run had been killed there."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step >= self.steps:
            trainer.should_stop = True


def _arch():
    return dict(key_backbone="resnet18", key_dim=16, value_dim=32, decoder_dims=(32, 16, 16))


class DecliningScore(VOSTrainingModule):
    """Validation without inference: a J&F that falls with the step, so the first validation is the best."""

    def on_validation_epoch_start(self) -> None:
        pass

    def validation_step(self, name, batch_idx: int) -> None:
        pass

    def on_validation_epoch_end(self) -> None:
        self.log("val/J&F", 1.0 - self.global_step / 100)


class RunsCode:
    """Unpickling this creates ``path``: what a malicious checkpoint would do."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


def _weights(path) -> dict:
    return torch.load(path, weights_only=True)["state_dict"]


def _assert_same_weights(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-6), key


@pytest.mark.slow
def test_resume_mid_epoch_with_workers_continues_exactly_and_keeps_the_best(tmp_path, synthetic_root, capsys):
    """Killed at step 6 (mid-epoch: 4 batches an epoch) and resumed with ckpt_path=last: the same weights at
    step 10 as an uninterrupted run, the best checkpoint (step 2) carried over and exported, and the report
    tells this run's steps from the total."""
    common = [*TINY_NET, *tiny_data(synthetic_root), "module._target_=tests.training.test_training.DecliningScore",
              "datamodule.num_workers=1", "datamodule.samples_per_epoch=8", "callbacks.last.every_n_train_steps=2",
              "trainer.val_check_interval=2", "trainer.max_steps=10", "module.milestones=[5]",
              "module.loss.start_warm=2", "module.loss.end_warm=6", "datamodule.curriculum.initial=2",
              "datamodule.curriculum.values=[4]", "datamodule.curriculum.switch_at=[0.7]"]
    straight = run_train(tmp_path / "straight", *common)

    def run(name, *extra):  # runs inside logs/train/runs/, where ckpt_path=last looks
        logs = tmp_path / "logs"
        return train(compose("train", [f"output_dir={logs / 'train' / 'runs' / name}", f"paths.log_dir={logs}",
                                       f"paths.data_dir={tmp_path / 'data'}", *FAST, *common, *extra]))

    first = run("first", "+callbacks.interrupt._target_=tests.training.test_training.StopAfter", "+callbacks.interrupt.steps=6")
    assert first["steps"] == 6
    capsys.readouterr()
    resumed = run("second", "ckpt_path=last")
    assert (resumed["steps"], resumed["run_steps"]) == (10, 4)
    assert "trained 4 steps in this run (10 in all)" in capsys.readouterr().out
    last = [tmp_path / "straight" / "run", tmp_path / "logs" / "train" / "runs" / "second"]
    a, b = (torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True) for folder in last)
    _assert_same_weights(a["state_dict"], b["state_dict"])
    assert a["lr_schedulers"][0]["last_epoch"] == b["lr_schedulers"][0]["last_epoch"] == 10
    assert a["optimizer_states"][0]["state"][0]["step"] == b["optimizer_states"][0]["state"][0]["step"]
    assert resumed["val/J&F"] == pytest.approx(straight["val/J&F"]) == pytest.approx(0.98)
    assert Path(resumed["checkpoint"]) == last[1] / "checkpoints" / "best-step000002.ckpt"
    _assert_same_weights(_weights(straight["checkpoint"]), _weights(resumed["checkpoint"]))
    assert torch.equal(torch.load(straight["exported"], weights_only=True)["decoder.pred.weight"],
                       torch.load(resumed["exported"], weights_only=True)["decoder.pred.weight"])
    requeued = run("first")  # the interrupted folder again, no ckpt_path (a requeued job): continues its last.ckpt
    assert (requeued["steps"], requeued["run_steps"]) == (10, 4)
    again = torch.load(tmp_path / "logs" / "train" / "runs" / "first" / "checkpoints" / "last.ckpt", weights_only=True)
    _assert_same_weights(a["state_dict"], again["state_dict"])


def test_an_epoch_that_accumulation_does_not_divide_is_refused(synthetic_root):
    from types import SimpleNamespace

    from stcnbuf.training.datamodule import ClipDataModule

    video = VideoClipSource(DavisDataset(synthetic_root, split="train"))
    module = ClipDataModule({"video": RepeatedSource(video)}, batch_size=2, num_workers=0, samples_per_epoch=6)
    module.trainer = SimpleNamespace(global_rank=0, world_size=1, global_step=0, accumulate_grad_batches=2,
                                     max_steps=10)
    with pytest.raises(ValueError, match=r"3 batches per epoch .*accumulate_grad_batches=2: set "
                                         r"datamodule.samples_per_epoch to a multiple of 4"):
        module.train_dataloader()
    module.trainer.accumulate_grad_batches = 3
    assert len(module.train_dataloader()) == 3


def test_resume_refuses_a_checkpoint_that_would_run_code(tmp_path, synthetic_root, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # torch.load's unsafe default, unless told
    marker = tmp_path / "code-ran"
    torch.save({"state_dict": {}, "global_step": 1, "payload": RunsCode(marker)}, tmp_path / "evil.ckpt")
    with pytest.raises(CheckpointError, match=r"evil\.ckpt.*io\.open"):
        run_train(tmp_path, f"ckpt_path={tmp_path / 'evil.ckpt'}", "trainer.max_steps=2", *TINY_NET,
                  *tiny_data(synthetic_root))
    assert not marker.exists()


@pytest.mark.slow
def test_ddp_with_two_cpu_processes(tmp_path, synthetic_root):
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    done = subprocess.run([sys.executable, "train.py", "trainer=ddp_cpu", "trainer.max_steps=2",
                           f"output_dir={tmp_path / 'run'}", f"paths.log_dir={tmp_path / 'logs'}",
                           f"paths.data_dir={tmp_path / 'data'}", *[o for o in FAST if not o.startswith("trainer=")],
                           *TINY_NET, *tiny_data(synthetic_root), "callbacks.last.every_n_train_steps=1",
                           "trainer.val_check_interval=2"],
                          cwd=REPO, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "trained 2 steps" in done.stdout
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


def test_a_bad_transfer_set_fails_before_training(tmp_path, synthetic_root):
    with pytest.raises(InstantiationException, match="at least 1 sequence of 2 frames"):
        run_train(tmp_path, "trainer.max_steps=2", *tiny_data(synthetic_root), *TINY_NET, "evaluate_after=true",
                  "data@transfer_data=synthetic_transfer", "transfer_data.frames=1")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_training_ends_with_the_evaluation_report(tmp_path, synthetic_root, capsys):
    """evaluate_after=true: the best checkpoint goes through eval.py's application (called with explicit
    arguments) beside the copy-first-mask baseline, on the held-out sequences and on the other generator's,
    and overlay previews are saved."""
    result = run_train(tmp_path, "trainer.max_steps=2", "trainer.val_check_interval=2", *tiny_data(synthetic_root),
                       *TINY_NET, "evaluate_after=true", "data@transfer_data=synthetic_transfer",
                       "transfer_data.height=64", "transfer_data.width=96", "transfer_data.num_sequences=1",
                       "transfer_data.frames=5")
    evaluation = result["evaluation"]
    assert 0 <= evaluation["model"]["J&F-Mean"] <= 1 and 0 <= evaluation["baseline"]["J&F-Mean"] <= 1
    assert evaluation["model"]["frames"] == 8 and evaluation["model"]["burn_in_frames"] == 0
    assert (tmp_path / "run" / "eval" / "metrics.json").is_file()
    assert len(list(Path(evaluation["overlays"]).glob("*.png"))) == 1
    transfer = evaluation["transfer"]
    assert transfer["model"]["frames"] == 5 and 0 <= transfer["baseline"]["J&F-Mean"] <= 1
    assert json.loads((tmp_path / "run" / "eval_transfer" / "metrics.json").read_text())["J&F-Mean"] == \
        pytest.approx(transfer["model"]["J&F-Mean"])
    out = capsys.readouterr().out
    assert "held-out J&F" in out and "another generator, never trained on: J&F" in out


@pytest.mark.slow
def test_sigterm_stops_training_with_a_failure_and_its_checkpoints_are_not_picked(tmp_path, synthetic_root, caplog):
    """SIGTERM (a cluster's time limit, `kill`) once a checkpoint exists: the process exits 143, not 0 (Lightning's
    bare SystemExit), nothing is exported, training.json marks the run interrupted, and eval.py and the segment
    app, given no checkpoint, pass over it: refused while it is the only run, the newest finished run used else."""
    import signal
    import time

    logs = tmp_path / "logs"
    run = logs / "train" / "runs" / "interrupted"
    command = [sys.executable, "train.py", "trainer.max_steps=150", f"output_dir={run}", f"paths.log_dir={logs}",
               f"paths.data_dir={tmp_path / 'data'}", *FAST, *TINY_NET, *tiny_data(synthetic_root),
               "callbacks.last.every_n_train_steps=5"]
    with open(tmp_path / "train.log", "w") as output:
        process = subprocess.Popen(command, cwd=REPO, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while not (run / "checkpoints" / "last.ckpt").is_file() and process.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint after 300 s"
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=120)
    log = (tmp_path / "train.log").read_text()
    assert code == 128 + signal.SIGTERM, log[-3000:]
    from stcnbuf.engine.checkpoint import find_checkpoint, training_status
    from stcnbuf.runs.training_status import write_training_status

    status = training_status(run)
    assert status["status"] == "interrupted" and status["reason"] == "SIGTERM", status
    assert 5 <= status["step"] < 150 and status["max_steps"] == 150
    assert f"training stopped at step {status['step']} of 150 (SIGTERM): nothing exported" in log
    assert not (run / "stcn_export.pth").exists()
    with pytest.raises(FileNotFoundError, match=rf"every training run under .* is unfinished: {run} \(interrupted at "
                                                rf"step {status['step']} of 150 \(SIGTERM\)\)"):
        find_checkpoint(None, logs)
    finished = logs / "train" / "runs" / "finished" / "checkpoints" / "best-step000002.ckpt"
    finished.parent.mkdir(parents=True)
    finished.write_bytes(b"weights")
    os.utime(finished, (1, 1))  # older than the interrupted run's
    write_training_status(finished.parent.parent, "finished", 2, 2)
    with caplog.at_level("WARNING"):
        assert find_checkpoint(None, logs) == str(finished)
    assert "the newest checkpoint of a finished training run; passed over the checkpoints of 1 unfinished run(s): " \
           f"{run} (interrupted at step {status['step']} of 150 (SIGTERM))" in caplog.text
