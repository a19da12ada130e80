"""The paired bootstrap on hand-made score tables: a difference it must find, one it must not, a seed level
that widens the interval, and the same intervals under the same seed."""

import numpy as np
import pytest

from stcnbuf.scoring.bootstrap import Interval, PairedBootstrap, percentile_interval
from stcnbuf.scoring.object_scores import common_objects, score_table

SEQUENCES = 20
GROUPS = [f"seq{i:02d}" for i in range(SEQUENCES) for _ in range(2)]   # two objects per sequence


def _base():
    """Object scores that vary a lot between sequences (0.2 to 0.9), as real videos do."""
    return np.repeat(np.linspace(0.2, 0.9, SEQUENCES), 2) + np.tile([0.0, 0.05], SEQUENCES)


def test_a_consistent_small_gain_is_found_although_the_scores_spread_widely():
    base = _base()
    better = base + 0.03 + np.tile([0.0, 0.01], SEQUENCES)      # every object gains 0.03-0.04
    boot = PairedBootstrap({"ref": base, "better": better}, GROUPS)
    mean = boot.interval("better")
    assert mean.value == pytest.approx(base.mean() + 0.035)
    assert mean.high - mean.low > 0.15        # the sequences spread: each setting's own interval is wide
    difference = boot.difference("better", "ref")
    assert difference.value == pytest.approx(0.035)
    assert 0.03 <= difference.low <= difference.high <= 0.04 and difference.excludes_zero


def test_a_difference_that_changes_sign_between_sequences_is_not_distinguished():
    base = _base()
    swings = np.repeat(np.where(np.arange(SEQUENCES) % 2 == 0, 0.1, -0.1), 2)  # +0.1 on half, -0.1 on half
    boot = PairedBootstrap({"ref": base, "other": base + swings}, GROUPS)
    difference = boot.difference("other", "ref")
    assert difference.value == pytest.approx(0.0, abs=1e-12)
    assert difference.low < -0.02 and difference.high > 0.02 and not difference.excludes_zero


def test_sequences_are_resampled_with_their_objects():
    """Two objects per sequence that always move together: the interval is that of 20 units, not of 40."""
    rng = np.random.default_rng(1)
    per_sequence = rng.normal(0.5, 0.1, SEQUENCES)
    grouped = PairedBootstrap({"a": np.repeat(per_sequence, 2)}, GROUPS, resamples=4000).interval("a")
    independent = PairedBootstrap({"a": np.repeat(per_sequence, 2)}, list(range(2 * SEQUENCES)),
                                  resamples=4000).interval("a")
    assert (grouped.high - grouped.low) > 1.3 * (independent.high - independent.low)


def test_seeds_as_a_second_level_widen_the_interval():
    base = _base()
    same = np.stack([base, base, base])                          # three seeds that agree
    spread = np.stack([base - 0.1, base, base + 0.1])            # three seeds 0.1 apart on every object
    boot = PairedBootstrap({"ref": base, "same": same, "spread": spread}, GROUPS)
    assert boot.estimates["same"] == pytest.approx(boot.estimates["spread"])
    assert boot.seeds == {"ref": 1, "same": 3, "spread": 3}
    narrow, wide = boot.difference("same", "ref"), boot.difference("spread", "ref")
    assert narrow.low == pytest.approx(0.0, abs=1e-12) and narrow.high == pytest.approx(0.0, abs=1e-12)  # none
    assert wide.low < -0.05 and wide.high > 0.05                 # the seed spread alone
    assert boot.interval("spread").high - boot.interval("spread").low > \
        boot.interval("same").high - boot.interval("same").low


def test_the_same_seed_gives_the_same_intervals_and_another_seed_others():
    rng = np.random.default_rng(0)
    scores = {"a": rng.uniform(0, 1, 40), "b": rng.uniform(0, 1, (2, 40))}
    first = PairedBootstrap(scores, GROUPS, seed=7)
    again = PairedBootstrap(scores, GROUPS, seed=7)
    other = PairedBootstrap(scores, GROUPS, seed=8)
    assert first.difference("b", "a") == again.difference("b", "a")
    assert np.array_equal(first.replicates["b"], again.replicates["b"])
    assert first.difference("b", "a") != other.difference("b", "a")


def test_percentile_interval_by_hand():
    replicates = np.arange(1, 101, dtype=float)                  # 1 .. 100
    interval = percentile_interval(50.5, replicates, 0.9)
    # numpy's linear quantiles: 5 % at position 4.95 -> 5.95, 95 % at 94.05 -> 95.05
    assert interval == Interval(50.5, pytest.approx(5.95), pytest.approx(95.05))
    assert Interval(1.0, 0.5, 2.0).excludes_zero and not Interval(1.0, -0.5, 2.0).excludes_zero
    with pytest.raises(ValueError, match="confidence must be between 0 and 1"):
        percentile_interval(0.0, replicates, 95)


def test_bad_tables_are_refused_with_the_setting_named():
    with pytest.raises(ValueError, match="setting 'b': scores of shape"):
        PairedBootstrap({"a": np.zeros(40), "b": np.zeros(39)}, GROUPS)
    with pytest.raises(ValueError, match="setting 'a': scores must be finite"):
        PairedBootstrap({"a": np.full(40, np.nan)}, GROUPS)


def test_score_tables_pair_the_objects_every_run_scored():
    one = {("s1", 1): (0.2, 0.4), ("s1", 2): (0.6, 0.6), ("s2", 1): (1.0, 0.8)}
    two = {("s1", 1): (0.4, 0.4), ("s2", 1): (0.0, 0.2)}                     # s1's object 2 not scored
    objects = common_objects([one, two])
    assert objects == [("s1", 1), ("s2", 1)]
    table, groups = score_table({"a": [one], "b": [two, one]}, objects)
    assert groups == ["s1", "s2"]
    assert np.allclose(table["a"], [[0.3, 0.9]]) and np.allclose(table["b"], [[0.4, 0.1], [0.3, 0.9]])
    assert score_table({"a": [one]}, objects, "J", event=1)[0]["a"].tolist() == [[0.2, 1.0]]
