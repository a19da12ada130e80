"""Paired bootstrap confidence intervals for settings scored on the same objects.

Every setting of a sweep or a study is scored on the same objects, so their differences are paired: one
bootstrap replicate draws the sequences (each with all its objects: objects of one video are not independent)
with replacement once, and every setting is scored on that same draw. A setting's value is the mean of its
object scores (the DAVIS J&F-Mean); its interval is the percentile interval of its replicates, and its
difference to a reference setting the percentile interval of the replicates' differences.

Seeds are a second level: a setting run with several seeds (memory seeds, training seeds) has one row of
object scores per seed, its value is the mean over its seeds, and every replicate also draws that setting's
seeds with replacement, independently of the sequences (a seed acts on every sequence at once, so the two
levels are crossed, not nested). The seed variation thus widens the interval; with few seeds (2-3) the
bootstrap underestimates it, so the interval is a lower bound on the uncertainty due to the seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Hashable, Mapping, Sequence

import numpy as np

#: replicates drawn by default; enough for the 2.5 % and 97.5 % quantiles to settle within ~0.1 point
RESAMPLES = 2000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A value with its bootstrap confidence interval [``low``, ``high``]."""

    value: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        """The interval lies wholly above or below 0 (a difference the data distinguish from none)."""
        return self.low > 0 or self.high < 0

    def scaled(self, factor: float) -> "Interval":
        return Interval(self.value * factor, self.low * factor, self.high * factor)


def percentile_interval(value: float, replicates: np.ndarray, confidence: float = CONFIDENCE) -> Interval:
    """``value`` with the central ``confidence`` share of ``replicates`` as its interval."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence}")
    low, high = np.quantile(replicates, [(1 - confidence) / 2, (1 + confidence) / 2])
    return Interval(float(value), float(low), float(high))


class PairedBootstrap:
    """Replicates of every setting's mean score over one shared draw of the sequences.

    Args:
        scores: setting name -> its object scores, an array of shape ``(objects,)`` or ``(seeds, objects)``;
            object ``i`` is the same object in every setting.
        groups: the sequence of each object (the unit that is resampled), length ``objects``.
        resamples: bootstrap replicates.
        seed: seeds every draw (the same inputs and seed give the same intervals).
    """

    def __init__(self, scores: Mapping[str, object], groups: Sequence[Hashable], resamples: int = RESAMPLES,
                 seed: int = 0) -> None:
        if resamples < 1:
            raise ValueError(f"resamples must be at least 1, got {resamples}")
        if not scores:
            raise ValueError("no settings to compare")
        _, group_index = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)
        n_groups = int(group_index.max()) + 1 if len(group_index) else 0
        if n_groups == 0:
            raise ValueError("no objects to resample")
        rng = np.random.default_rng(seed)
        #: how often each sequence is drawn in each replicate, (resamples, sequences)
        self.weights = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=resamples).astype(float)
        counts = np.bincount(group_index, minlength=n_groups).astype(float)
        denominators = self.weights @ counts
        self.estimates: Dict[str, float] = {}
        self.replicates: Dict[str, np.ndarray] = {}
        self.seeds: Dict[str, int] = {}
        for name in scores:  # in the given order: one stream of seed draws, reproducible under ``seed``
            table = np.atleast_2d(np.asarray(scores[name], dtype=float))
            if table.ndim != 2 or table.shape[1] != len(group_index):
                raise ValueError(f"setting {name!r}: scores of shape {table.shape}, expected (seeds, "
                                 f"{len(group_index)}) objects")
            if not np.isfinite(table).all():
                raise ValueError(f"setting {name!r}: scores must be finite (score every object in every seed)")
            sums = np.stack([np.bincount(group_index, weights=row, minlength=n_groups) for row in table])
            per_seed = (self.weights @ sums.T) / denominators[:, None]        # (resamples, seeds)
            n_seeds = table.shape[0]
            if n_seeds > 1:
                seed_weights = rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=resamples)
                self.replicates[name] = (per_seed * seed_weights).sum(axis=1) / n_seeds
            else:
                self.replicates[name] = per_seed[:, 0]
            self.estimates[name] = float(table.mean())
            self.seeds[name] = n_seeds

    def interval(self, name: str, confidence: float = CONFIDENCE) -> Interval:
        """The mean score of ``name`` with its interval."""
        return percentile_interval(self.estimates[name], self.replicates[name], confidence)

    def difference(self, name: str, reference: str, confidence: float = CONFIDENCE) -> Interval:
        """``name`` minus ``reference`` with the paired interval of that difference."""
        return percentile_interval(self.estimates[name] - self.estimates[reference],
                                   self.replicates[name] - self.replicates[reference], confidence)
