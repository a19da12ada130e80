"""The resized-frame path against STCN's: frame and mask resizing, what is written on annotated frames, nothing
before the first annotation, and a whole YouTube-VOS-layout run against STCN's evaluation written out step by
step (tests/datasets/stcn_youtube_reference.py)."""

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms as T
from PIL import Image

from stcnbuf.apps.evaluate.evaluate import evaluate
from stcnbuf.datasets.frames import resize_frame, resize_labels, working_size
from stcnbuf.engine.checkpoint import load_network_weights
from stcnbuf.engine.model.aggregate import aggregate
from stcnbuf.io.masks import read_image, read_label_png
from tests.conftest import compose, require_shared, tiny_net
from tests.datasets.stcn_youtube_reference import stcn_youtube
from tests.datasets.test_datasets import youtube_fixture

STCN_SIZES = [((720, 1280), (480, 853)), ((406, 720), (480, 851)), ((1080, 1920), (480, 853)),
              ((853, 480), (853, 480)), ((1280, 720), (853, 480)), ((480, 854), (480, 854)), ((300, 301), (480, 481))]


@pytest.mark.parametrize("native, expected", STCN_SIZES)
def test_working_size_is_torchvision_resizes_truncated_long_side(native, expected):
    """torchvision 0.9's Resize(480): the shorter side 480, the longer int(480 * long / short) (not rounded)."""
    assert working_size(native, 480) == expected
    if min(native) != 480:
        assert list(T.Resize(480)(torch.zeros(1, *native)).shape[-2:]) == list(expected)


def test_frames_are_normalised_then_resized_bicubically_without_antialiasing():
    frame = np.random.default_rng(0).integers(0, 256, (406, 720, 3), dtype=np.uint8)
    size = working_size(frame.shape[:2], 480)
    # STCN's yv_test_dataset.py: ToTensor, Normalize, then the tensor Resize of torchvision 0.9 (no antialias)
    tensor = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])(T.ToTensor()(Image.fromarray(frame)))
    expected = T.Resize(480, interpolation=T.InterpolationMode.BICUBIC, antialias=False)(tensor)
    resized = resize_frame(frame, size, "stcn").image(torch.device("cpu"))[0]   # as the segmenter resizes it
    assert resized.dtype == torch.float32 and tuple(resized.shape) == (3, 480, 851)
    assert torch.allclose(resized, expected, atol=1e-5)
    by_hand = F.interpolate(((torch.from_numpy(frame).permute(2, 0, 1).float() / 255 - torch.tensor(
        [0.485, 0.456, 0.406]).view(3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1))[None],
        size=(480, 851), mode="bicubic", align_corners=False)[0]
    assert torch.allclose(resized, by_hand, atol=1e-5)
    area = resize_frame(frame, size, "area")
    assert area.dtype == np.uint8 and area.shape == (480, 851, 3)
    assert resize_frame(frame, frame.shape[:2], "stcn") is frame   # at the working size already: untouched


@pytest.mark.parametrize("native", [(406, 720), (720, 1280), (853, 480), (37, 53)])
def test_masks_are_resized_by_torchvisions_nearest(native):
    labels = np.random.default_rng(1).integers(0, 5, native, dtype=np.uint8)
    size = working_size(native, 480 if min(native) > 100 else 24)
    onehot = torch.from_numpy(np.stack([labels == k for k in range(5)])).float()   # STCN resizes one-hot masks
    expected = T.Resize(min(size), interpolation=T.InterpolationMode.NEAREST)(onehot).argmax(0).numpy()
    assert np.array_equal(resize_labels(labels, size), expected)


def test_opencv_nearest_picks_other_rows_than_torch_at_406x720():
    labels = np.arange(406 * 720, dtype=np.int32).reshape(406, 720) % 251
    ours = resize_labels(labels.astype(np.uint8), (480, 851))
    opencv = cv2.resize(labels.astype(np.uint8), (851, 480), interpolation=cv2.INTER_NEAREST)
    assert not np.array_equal(ours, opencv)    # why the masks go through torch's rule


@pytest.mark.slow
def test_the_youtube_recipe_writes_what_stcns_eval_youtube_writes(tmp_path, tiny_checkpoint):
    root = youtube_fixture(tmp_path / "yt", require_shared(), late_copy=True)
    metrics = evaluate(compose("eval", [
        "experiment=reproduce_ytvos19_s012", f"data.root={root}", "data.shorter_side=96",
        f"model.checkpoint={tiny_checkpoint}", f"output_dir={tmp_path / 'out'}", "logger=none"]))
    assert metrics["complete"]
    net = load_network_weights(tiny_net(), tiny_checkpoint)
    agree = total = 0
    for vid in ("caps", "judo", "late"):
        frames_dir = root / "all_frames" / "valid_all_frames" / "JPEGImages" / vid
        frames = [read_image(p) for p in sorted(frames_dir.glob("*.jpg"))]
        masks = {int(p.stem): read_label_png(p) for p in (root / "valid" / "Annotations" / vid).glob("*.png")}
        required = sorted(int(p.stem) for p in (root / "valid" / "JPEGImages" / vid).glob("*.jpg"))
        expected = stcn_youtube(net, frames, masks, required, side=96)
        written = {int(p.stem): read_label_png(p) for p in (tmp_path / "out" / "predictions" / vid).glob("*.png")}
        assert sorted(written) == sorted(expected)          # the same files: none before the first annotation
        for t, labels in expected.items():
            agree += int((written[t] == labels).sum())
            total += labels.size
    assert sorted(written) == [5, 10, 13, 15]               # "late": its first mask is on frame 5
    assert agree / total > 0.9999, f"{agree / total:.6f} of the pixels agree"


def test_annotated_frames_are_written_as_segmented_or_as_given(tmp_path, tiny_checkpoint):
    """STCN writes on an annotated frame the arg-max of its own probabilities there: the given masks resized to
    the working size (nearest), aggregated, scaled back bilinearly; the default writes the given masks."""
    shared = require_shared()
    root = youtube_fixture(tmp_path / "yt", shared)
    runs = {}
    for name, write_given in (("given", "true"), ("segmented", "false")):
        evaluate(compose("eval", [
            "data=youtubevos2019", f"data.root={root}", "data.shorter_side=96", "data.sequences=[caps]",
            f"model.checkpoint={tiny_checkpoint}", f"output_dir={tmp_path / name}", "logger=none",
            "inference.backward=false", f"inference.write_given_masks={write_given}"]))
        runs[name] = read_label_png(tmp_path / name / "predictions" / "caps" / "00000.png")
    given = read_label_png(root / "valid" / "Annotations" / "caps" / "00000.png")
    assert np.array_equal(runs["given"], given)
    small = resize_labels(given, working_size(given.shape, 96))
    probs = aggregate(torch.from_numpy(small == 1).float()[None], 0)                  # [bg, object 1]
    back = F.interpolate(probs[None], size=given.shape, mode="bilinear", align_corners=False)[0]
    by_hand = back.argmax(0).numpy().astype(np.uint8)
    assert np.array_equal(runs["segmented"], by_hand) and not np.array_equal(by_hand, given)
