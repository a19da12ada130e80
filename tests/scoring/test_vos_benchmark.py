"""J, F and J&F against vos-benchmark (``hkchengrex/vos-benchmark``, the dev extra) on the same PNGs: real OSVOS
predictions on DAVIS ground truth, perturbed real and synthetic ground truth, and a sequence with an extra
predicted id (``extra_ids="ignore"``); and where the two differ, as docs/evaluation.md says.

vos-benchmark runs in this process, one ``VideoEvaluator`` per sequence, its global means taken as its
``benchmark()`` takes them (over all objects): ``benchmark()`` would fork a pool from the test process, whose
OpenCV and PyTorch thread pools may be running, and write ``results.csv`` beside the predictions.

Tolerance: both compute every per-frame value from the same integer pixel counts with the same formulas (IoU,
boundary precision and recall within ``ceil(0.008 · diagonal)``), so only the means' summation order and
vos-benchmark's scaling by 100 before its global mean may round differently: a few ulps, far below ``REL``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from stcnbuf.io import read_label_png, write_label_png
from stcnbuf.scoring import EvaluationResult, SequenceJob, jaccard, score_jobs
from tests.conftest import require_shared
from tests.scoring.test_metrics import blobs, write_sequence

VideoEvaluator = pytest.importorskip(
    "vos_benchmark.benchmark", reason="vos-benchmark is not importable (the dev extra: pip install -e '.[dev]')"
).VideoEvaluator

REL = 1e-12  #: relative tolerance on values in percent (see the module)


def vos_benchmark_scores(gt_root: Path, pred_root: Path,
                         names: list[str]) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """vos-benchmark's global ``J&F-Mean``, ``J-Mean``, ``F-Mean`` and per-object (J, F), named
    ``<sequence>_<id>``, in percent, for the sequences ``names``."""
    per_object = {}
    for name in names:
        _, iou, boundary = VideoEvaluator(str(gt_root), str(pred_root))(name)
        per_object.update({f"{name}_{k}": (iou[k], boundary[k]) for k in iou})
    j, f = (float(np.array([values[i] for values in per_object.values()]).mean()) for i in (0, 1))
    return {"J&F-Mean": (j + f) / 2, "J-Mean": j, "F-Mean": f}, per_object


def percent(result: EvaluationResult) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """The same figures of ``result``, in percent."""
    metrics = result.global_metrics()
    return ({key: 100 * metrics[key] for key in ("J&F-Mean", "J-Mean", "F-Mean")},
            {o.name: (100 * o.j_mean, 100 * o.f_mean) for o in result.objects})


def score(jobs: list[SequenceJob]) -> EvaluationResult:
    result = score_jobs(jobs, workers=1, progress=False)
    assert not result.unscored, result.unscored
    return result


def assert_equal_to_vos_benchmark(jobs: list[SequenceJob], gt_root: Path, pred_root: Path) -> EvaluationResult:
    """Score ``jobs``, check their figures against vos-benchmark's on ``gt_root`` and ``pred_root``, return them."""
    result = score(jobs)
    ours, theirs = percent(result), vos_benchmark_scores(gt_root, pred_root, [job.name for job in jobs])
    assert sorted(ours[1]) == sorted(theirs[1])
    for name, values in ours[1].items():
        assert values == pytest.approx(theirs[1][name], rel=REL), name
    assert ours[0] == pytest.approx(theirs[0], rel=REL)
    return result


# --- real data ------------------------------------------------------------------------------------------------

def test_osvos_on_davis_2016_ground_truth(tmp_path):
    """OSVOS on two DAVIS 2016 sequences (89 frames); vos-benchmark reads the 2016 masks' 255 as object 255, so
    it gets them as 2017 masks (255 -> 1, equal to the 2017 ground truth on these sequences)."""
    gt_root, osvos = require_shared("davis2016", "Annotations", "480p"), require_shared("davis2017-osvos")
    names = ("car-shadow", "libby")
    jobs = []
    for name in names:
        gt_paths = sorted((gt_root / name).glob("*.png"))
        for path in gt_paths:
            write_label_png(tmp_path / "gt" / name / path.name, (read_label_png(path) > 0).astype(np.uint8))
        jobs.append(SequenceJob(name, gt_paths, [osvos / name / p.name for p in gt_paths], gt_binary=True))
    assert_equal_to_vos_benchmark(jobs, tmp_path / "gt", osvos)


def test_osvos_on_davis_2017_palette_ground_truth():
    """The DAVIS 2017 sample blackswan (masks of frames 0-5) as a 6-frame sequence, read by both as it is."""
    gt_root, osvos = require_shared("davis2017-samples", "Annotations", "480p"), require_shared("davis2017-osvos")
    gt_paths = sorted((gt_root / "blackswan").glob("*.png"))
    assert len(gt_paths) == 6
    job = SequenceJob("blackswan", gt_paths, [osvos / "blackswan" / p.name for p in gt_paths])
    assert_equal_to_vos_benchmark([job], gt_root, osvos)


# --- synthetic predictions -------------------------------------------------------------------------------------

def banded_objects(rng: np.random.Generator, num_frames: int, shape: tuple[int, int], objects: int) -> np.ndarray:
    """Label maps ``[T, H, W]``: object ``k`` a random blob in the ``k``-th horizontal band, moving sideways
    (wrapping round), so that every object is in every frame."""
    height, width = shape
    band = height // objects
    labels = np.zeros((num_frames, height, width), np.uint8)
    for k in range(1, objects + 1):
        blob = blobs(rng, (1, band, width), 0.3)[0]
        blob[band // 2, width // 2] = True
        rows = slice((k - 1) * band, k * band)
        for t in range(num_frames):
            labels[t, rows][np.roll(blob, 5 * k * t, axis=1)] = k
    return labels


def perturbed(rng: np.random.Generator, gt: np.ndarray, objects: int) -> np.ndarray:
    """A prediction: each frame shifted by up to 3 pixels, and a rectangle of a random id (background included)
    per frame: boundary errors, misses, false positives and swapped ids."""
    pred = np.stack([np.roll(frame, tuple(rng.integers(-3, 4, 2)), axis=(0, 1)) for frame in gt])
    height, width = gt.shape[1:]
    for frame in pred:
        y, x = rng.integers(0, height - 8), rng.integers(0, width - 8)
        frame[y:y + rng.integers(4, height // 3), x:x + rng.integers(4, width // 3)] = rng.integers(0, objects + 1)
    return pred


def test_perturbed_synthetic_sequences(tmp_path):
    """Several objects at two tolerance radii (2 and 4 pixels), with the empty-mask cases: an object absent from
    the ground truth but predicted, and absent from both."""
    rng = np.random.default_rng(7)
    jobs = []
    for name, frames, shape, objects in (("small", 7, (96, 128), 3), ("large", 6, (240, 320), 2)):
        gt = banded_objects(rng, frames, shape, objects)
        pred = perturbed(rng, gt, objects)
        gt[3][gt[3] == 2] = 0  # object 2 leaves frame 3, where it is still predicted
        gt[4][gt[4] == 1], pred[4][pred[4] == 1] = 0, 0  # object 1 absent from frame 4 and not predicted there
        jobs.append(SequenceJob(name, write_sequence(tmp_path / "gt" / name, gt),
                                write_sequence(tmp_path / "pred" / name, pred)))
    assert_equal_to_vos_benchmark(jobs, tmp_path / "gt", tmp_path / "pred")


def test_perturbed_real_ground_truth(tmp_path):
    """PUMaVOS chair (720×480, a 7-pixel tolerance), its first 10 masks perturbed as predictions."""
    source = require_shared("pumavos", "chair", "Annotations")
    (tmp_path / "gt" / "chair").mkdir(parents=True)
    gt_paths = [tmp_path / "gt" / "chair" / path.name for path in sorted(source.glob("*.png"))[:10]]
    for path in gt_paths:
        path.symlink_to(source / path.name)
    gt = np.stack([read_label_png(p) for p in gt_paths])
    pred = perturbed(np.random.default_rng(1), gt, 1)
    pred_paths = [write_label_png(tmp_path / "pred" / "chair" / p.name, labels) for p, labels in zip(gt_paths, pred)]
    assert_equal_to_vos_benchmark([SequenceJob("chair", gt_paths, pred_paths)], tmp_path / "gt", tmp_path / "pred")


# --- extra predicted ids and the other differences ---------------------------------------------------------

def test_an_extra_predicted_id_is_ignored_as_by_vos_benchmark_or_leaves_the_sequence_unscored(tmp_path):
    rng = np.random.default_rng(3)
    gt = banded_objects(rng, 6, (96, 128), 2)
    pred = perturbed(rng, gt, 2)
    pred[2:5, 10:40, 20:60] = 3  # id 3, which the ground truth lacks, partly over object 1
    job = SequenceJob("extra", write_sequence(tmp_path / "gt" / "extra", gt),
                      write_sequence(tmp_path / "pred" / "extra", pred))
    unscored = score_jobs([job], workers=1, progress=False)
    assert not unscored.objects
    assert "holds id 3, but the first ground-truth frame has 2 object(s)" in unscored.unscored["extra"]
    ignored = assert_equal_to_vos_benchmark([replace(job, extra_ids="ignore")], tmp_path / "gt", tmp_path / "pred")
    assert "holds id 3" in ignored.notes["extra"] and "ignored" in ignored.notes["extra"]


def test_where_vos_benchmark_differs_from_the_davis_protocol(tmp_path):
    """Object 2 is absent (and not predicted) on the first scored frames: counted there (J = F = 1) here, not
    there, where an object's mean starts at its first appearance. Object 3 enters at frame 3: not an object
    of the DAVIS protocol, which takes those of the first frame (its prediction an extra id), but scored by
    vos-benchmark from its first prediction, on frame 2. Void (255) is background here, object 255 there."""
    rng = np.random.default_rng(5)
    gt = banded_objects(rng, 8, (96, 128), 3)
    gt[1:3][gt[1:3] == 2] = 0
    gt[:3][gt[:3] == 3] = 0
    pred = perturbed(rng, gt, 3)
    pred[1:3][np.isin(pred[1:3], (2, 3))] = 0
    pred[2, :10, :10] = 3
    gt[:, :, :4] = 255
    job = SequenceJob("seq", write_sequence(tmp_path / "gt" / "seq", gt),
                      write_sequence(tmp_path / "pred" / "seq", pred), extra_ids="ignore")
    ours = {o.name: o for o in score([job]).objects}
    _, theirs = vos_benchmark_scores(tmp_path / "gt", tmp_path / "pred", ["seq"])
    assert sorted(ours) == ["seq_1", "seq_2"] and sorted(theirs) == ["seq_1", "seq_2", "seq_255", "seq_3"]
    assert (100 * ours["seq_1"].j_mean, 100 * ours["seq_1"].f_mean) == pytest.approx(theirs["seq_1"], rel=REL)
    second = ours["seq_2"]
    assert second.j[:2].tolist() == second.f[:2].tolist() == [1, 1]
    assert (100 * second.j[2:].mean(), 100 * second.f[2:].mean()) == pytest.approx(theirs["seq_2"], rel=REL)
    late = jaccard(gt[2:7] == 3, pred[2:7] == 3)
    assert late[0] == 0 and theirs["seq_3"][0] == pytest.approx(100 * late.mean(), rel=REL)
    assert theirs["seq_255"] == (0, 0)
