"""Statistics that decide: per-configuration Pearson ρ, bootstrap confidence intervals, and
paired comparisons of two models on the same test configurations.

The unit of resampling is the test *configuration* (its particles are correlated), so a
confidence interval says how much a result would move with other configurations of the same
liquid. Two models evaluated on the same configurations are compared *paired*: the
per-configuration differences Δρ_c = ρ_c(a) − ρ_c(b) are resampled together, which removes the
configuration-to-configuration spread both models share. A difference is *resolved* when its
95 % interval excludes 0; a claim is then ``supported`` or ``contradicted``, otherwise
``unresolved`` (never claimed). A model trained from several seeds (``training.seeds``) is compared
by a two-level bootstrap (configurations jointly, each side's seeds independently:
:func:`seed_replicated_difference`), which is the paired bootstrap when both sides have one seed.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

SPECIES = {"A": 0, "B": 1}


def pearson_columns(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Pearson ρ of each column: (M, K), (M, K) → (K,); NaN for constant columns or M < 2."""
    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    if pred.shape[0] < 2:
        return np.full(pred.shape[1], np.nan)
    p = pred - pred.mean(axis=0)
    t = true - true.mean(axis=0)
    den = np.sqrt((p * p).sum(axis=0) * (t * t).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (p * t).sum(axis=0) / den, np.nan)


def spearman_columns(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of each column: (M, K), (M, K) → (K,)."""
    return pearson_columns(rankdata(pred, axis=0), rankdata(true, axis=0))


def per_configuration_rho(preds: Sequence[np.ndarray], trues: Sequence[np.ndarray], types: Sequence[np.ndarray],
                          species: str = "A") -> np.ndarray:
    """Pearson ρ of each configuration and timescale over the particles of ``species``: (C, n_t)."""
    a = SPECIES[species]
    return np.stack([pearson_columns(p[t == a], y[t == a]) for p, y, t in zip(preds, trues, types)])


def bootstrap_means(values: np.ndarray, n_boot: int = 10_000, seed: int = 0) -> np.ndarray:
    """Means of ``n_boot`` resamples (with replacement) of the rows of ``values`` (C, ...)."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    return np.nanmean(values[idx], axis=1)


@dataclass(frozen=True)
class Interval:
    """Mean over configurations with a percentile bootstrap interval (``level``, e.g. 0.95)."""

    mean: float
    low: float
    high: float
    n: int
    level: float = 0.95

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    @property
    def resolved(self) -> bool:
        """The interval excludes 0."""
        return bool(self.low > 0 or self.high < 0)

    def verdict(self) -> str:
        """For a difference a − b where a claim says a > b."""
        if self.n < 2 or not np.isfinite(self.low):
            return "unresolved"
        return "supported" if self.low > 0 else "contradicted" if self.high < 0 else "unresolved"


def interval(values: np.ndarray, level: float = 0.95, n_boot: int = 10_000, seed: int = 0) -> Interval:
    """Mean of per-configuration ``values`` (C,) with its bootstrap interval (NaN with < 2 values)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        m = float(v.mean()) if len(v) else float("nan")
        return Interval(m, float("nan"), float("nan"), len(v), level)
    means = bootstrap_means(v, n_boot, seed)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(v.mean()), float(lo), float(hi), len(v), level)


def paired_difference(rho_a: np.ndarray, rho_b: np.ndarray, level: float = 0.95, n_boot: int = 10_000,
                      seed: int = 0) -> Interval:
    """Δρ = ρ(a) − ρ(b) over the same configurations (C,), resampled jointly."""
    a, b = np.asarray(rho_a, dtype=float), np.asarray(rho_b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired comparison needs the same configurations: {a.shape} vs {b.shape}")
    return interval(a - b, level, n_boot, seed)


def seed_replicated_difference(rho_a: np.ndarray, rho_b: np.ndarray, level: float = 0.95, n_boot: int = 10_000,
                               seed: int = 0) -> Interval:
    """Δρ = ρ(a) − ρ(b) where each model was trained from several seeds: ``rho_a`` (S_a, C) and
    ``rho_b`` (S_b, C) are per-configuration ρ of every training seed on the same C test
    configurations (a closed-form model, or one seed: a single row, or a (C,) vector).

    Two-level bootstrap: each draw resamples the test configurations (jointly for a and b: paired)
    and, independently, each model's seeds, so the interval holds both the configuration-to-
    configuration spread and the seed-to-seed spread of training. With one seed per model it *is*
    :func:`paired_difference` (same numbers, bit for bit). The mean is over configurations of the
    seed-mean difference; configurations where a side has no finite ρ for any seed are left out,
    as :func:`interval` leaves out non-finite values. ``n`` of the result counts configurations.
    The one implementation of the workflow's comparisons (``steps.compare``, ``steps.summary``)
    and of ``scripts/seed_replicates.py``."""
    a, b = np.atleast_2d(np.asarray(rho_a, dtype=float)), np.atleast_2d(np.asarray(rho_b, dtype=float))
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"paired comparison needs the same configurations: {a.shape[1]} vs {b.shape[1]}")
    if len(a) == 1 and len(b) == 1:
        return paired_difference(a[0], b[0], level, n_boot, seed)
    keep = np.isfinite(a).any(axis=0) & np.isfinite(b).any(axis=0)
    a, b = a[:, keep], b[:, keep]
    n_c = a.shape[1]
    with warnings.catch_warnings():  # all-NaN slices (a seed without finite ρ on a configuration): NaN, silently
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = float(np.mean(np.nanmean(a, axis=0) - np.nanmean(b, axis=0))) if n_c else float("nan")
        if n_c < 2:
            return Interval(mean, float("nan"), float("nan"), n_c, level)
        rng = np.random.default_rng(seed)
        conf = rng.integers(0, n_c, size=(n_boot, n_c))
        sa = rng.integers(0, len(a), size=(n_boot, len(a)))
        sb = rng.integers(0, len(b), size=(n_boot, len(b)))
        # mean over resampled seeds of the per-configuration ρ, then over resampled configurations
        ma = np.nanmean(a[sa], axis=1)  # (n_boot, C): seed-resampled mean per configuration
        mb = np.nanmean(b[sb], axis=1)
        diff = np.take_along_axis(ma - mb, conf, axis=1)
        lo, hi = np.quantile(np.nanmean(diff, axis=1), [(1 - level) / 2, (1 + level) / 2])
    return Interval(mean, float(lo), float(hi), n_c, level)


def seed_replicated_interval(rho: np.ndarray, level: float = 0.95, n_boot: int = 10_000,
                             seed: int = 0) -> Interval:
    """Mean ρ of one model trained from S seeds, ``rho`` (S, C) per seed and test configuration,
    with the two-level bootstrap interval of :func:`seed_replicated_difference` (configurations and
    seeds resampled); with one seed it is :func:`interval`."""
    r = np.atleast_2d(np.asarray(rho, dtype=float))
    if len(r) == 1:
        return interval(r[0], level, n_boot, seed)
    return seed_replicated_difference(r, np.zeros((1, r.shape[1])), level, n_boot, seed)


def seed_spread(values: np.ndarray) -> float:
    """Standard deviation over seeds (ddof = 1) of per-seed values (S,); NaN with fewer than 2 seeds."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(v.std(ddof=1)) if len(v) > 1 else float("nan")


def half_width_needed(delta: np.ndarray, target: float, level: float = 0.95) -> int:
    """Configurations needed for a paired interval of half-width ``target`` (normal approximation)."""
    d = np.asarray(delta, dtype=float)
    d = d[np.isfinite(d)]
    if len(d) < 2:
        return 0
    from statistics import NormalDist

    z = NormalDist().inv_cdf((1 + level) / 2)
    return int(np.ceil((z * d.std(ddof=1) / target) ** 2))


__all__ = ["Interval", "bootstrap_means", "half_width_needed", "interval", "paired_difference",
           "pearson_columns", "per_configuration_rho", "seed_replicated_difference", "seed_replicated_interval",
           "seed_spread", "spearman_columns"]
