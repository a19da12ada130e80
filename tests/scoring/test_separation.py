import numpy as np
import pytest

from stcnbuf.scoring.separation import (auroc_of_low_scores, average_ranks, confidence_separation,
                                        object_frame_scores, spearman)


def test_average_ranks_share_ties():
    assert average_ranks([0.3, 0.1, 0.3, 0.2, 0.3]).tolist() == [4.0, 1.0, 4.0, 2.0, 4.0]


def test_auroc_against_hand_counted_pairs():
    # good frames score 0.9, 0.8, 0.1; bad ones 0.8, 0.3. Pairs (good, bad) where the good one scores higher:
    # (0.9, 0.8) (0.9, 0.3) (0.8, 0.3) = 3, the tie (0.8, 0.8) = 1/2, (0.1, *) = 0: 3.5 of 6 pairs
    scores = [0.9, 0.8, 0.8, 0.3, 0.1]
    bad = [False, False, True, True, False]
    assert auroc_of_low_scores(scores, bad) == pytest.approx(3.5 / 6)
    assert auroc_of_low_scores([0.9, 0.7, 0.2], [False, False, True]) == 1.0
    assert auroc_of_low_scores([0.5, 0.5], [False, True]) == 0.5
    assert auroc_of_low_scores([0.5, 0.6], [False, False]) is None


def test_spearman_against_hand_values():
    # ranks x: 1, 2.5, 2.5, 4; y: 1, 3, 2, 4; centred products 2.25 + 0 + 0 + 2.25 over sqrt(4.5 * 5)
    assert spearman([1, 2, 2, 4], [1, 3, 2, 4]) == pytest.approx(4.5 / np.sqrt(22.5))
    assert spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) is None and spearman([1], [2]) is None


def test_agrees_with_scipy_on_tied_data():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    j = rng.integers(0, 5, 300) / 4  # many ties in both
    confidence = np.clip(j + rng.normal(0, 0.3, 300), 0, 1).round(1)
    bad = j < 0.5
    u = stats.mannwhitneyu(confidence[~bad], confidence[bad]).statistic
    assert auroc_of_low_scores(confidence, bad) == pytest.approx(u / (bad.sum() * (~bad).sum()))
    assert spearman(confidence, j) == pytest.approx(stats.spearmanr(confidence, j).statistic)
    figures = confidence_separation(confidence, j)
    assert figures["object_frames"] == 300 and figures["bad_object_frames"] == int(bad.sum())


def test_object_frame_scores_leave_out_objects_absent_from_both():
    gt = np.array([[1, 1, 0], [2, 255, 0]], np.uint8)
    pred = np.array([[1, 0, 0], [2, 2, 0]], np.uint8)
    scores = object_frame_scores(gt, pred, {1: 0.9, 2: 0.4, 3: 0.1})
    assert scores == [(1, 0.9, 0.5), (2, 0.4, 0.5)]  # void counts as background: 2 is right on 1 of 2 pixels
