"""The ceiling that replica noise puts on Pearson ρ between predicted and true propensity.

A propensity label is a mean over R iso-configurational replicas (Widmer-Cooper & Harrowell,
PRL 93, 135701 (2004)): p̂_i = p_i + e_i, with p_i the infinite-replica propensity and e_i
replica noise of variance se_i² = s_i²/R (s_i the replica standard deviation of particle i),
independent of p_i. Over the particles of one configuration, any prediction f of p then has
ρ(f, p̂) = ρ(f, p)·sqrt(var p / var p̂) ≤ sqrt(rel), with the *reliability*

    rel = var p / var p̂ = 1 − ⟨se²⟩ / var p̂                                    (analytic)

(Spearman's attenuation of a correlation by measurement error: C. Spearman, "The proof and
measurement of association between two things", Am. J. Psychol. 15, 72 (1904); the same
mean-squared-standard-error form is the "separation reliability" of measurement theory).
The **ceiling** is sqrt(rel), per configuration, (timescale, species), then averaged over the
test configurations like ρ itself.

Check: two disjoint halves of the replicas (even and odd replica index, k₁ and k₂ replicas)
give two independent labels whose correlation r₁₂ over particles estimates the reliability of
a k-replica mean; stepped up to R = k₁ + k₂ replicas with the Spearman–Brown formula
rel_R = 2 r₁₂ / (1 + r₁₂) for k₁ = k₂ (C. Spearman; W. Brown; both Br. J. Psychol. 3 (1910)),
generalised here to k₁ ≠ k₂ (odd R). The split-half uses no variance formula, only the data.

Projection: from the single-replica reliability r₁ = rel_R / (R − (R − 1) rel_R), R' replicas
give rel(R') = R' r₁ / (1 + (R' − 1) r₁) (Spearman–Brown), and a ceiling c needs
R' = c²(1 − r₁) / (r₁(1 − c²)) replicas.

All arrays here are float64; propensities in σ_AA (or σ_AA²), reliabilities dimensionless.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .iso import IsoSums

SPECIES = "AB"
PROJECTED_REPLICAS = (16, 32)  # the replica counts summary.md and metrics.csv project the ceiling to
TARGET_CEILING = 0.9  # "how many replicas for a ceiling of 0.9"
METHOD = ("ceiling = sqrt(1 - <se^2>/var(p)) per configuration (Spearman 1904 attenuation), mean over test "
          "configurations; split-half: even vs odd replica index, Spearman-Brown corrected (Spearman 1910; "
          "Brown 1910); projection to R' replicas by Spearman-Brown from the single-replica reliability")


# ------------------------------------------------------------------------- reliability algebra
def ceiling_of(reliability: np.ndarray | float) -> np.ndarray:
    """The ceiling sqrt(rel), rel clipped to [0, 1] (NaN stays NaN)."""
    rel = np.asarray(reliability, dtype=np.float64)
    return np.sqrt(np.clip(rel, 0.0, 1.0))


def spearman_brown(r1: np.ndarray | float, n: float) -> np.ndarray:
    """Reliability of the mean of ``n`` replicas from the single-replica reliability ``r1``."""
    r1 = np.clip(np.asarray(r1, dtype=np.float64), 0.0, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return n * r1 / (1.0 + (n - 1.0) * r1)


def single_replica(reliability: np.ndarray | float, n: float) -> np.ndarray:
    """Single-replica reliability r₁ from the reliability of an ``n``-replica mean (inverse Spearman–Brown)."""
    rel = np.clip(np.asarray(reliability, dtype=np.float64), 0.0, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return rel / (n - (n - 1.0) * rel)


def replicas_for(ceiling: float, r1: np.ndarray | float) -> np.ndarray:
    """Replicas needed for a ceiling ``ceiling`` (reliability ceiling²) at single-replica reliability ``r1``."""
    target = ceiling * ceiling
    r1 = np.asarray(r1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.isnan(r1), np.nan, np.where(r1 > 0, target * (1.0 - r1) / (r1 * (1.0 - target)), np.inf))


def reliability_from_halves(r12: np.ndarray | float, k1: int, k2: int) -> np.ndarray:
    """Reliability of the mean of k₁ + k₂ replicas from the correlation ``r12`` of two disjoint
    half-means of k₁ and k₂ replicas (parallel replicas: equal signal, equal noise per replica).

    With x the single-replica noise-to-signal variance ratio, r₁₂ = 1/sqrt((1 + x/k₁)(1 + x/k₂));
    solved for x, rel = 1/(1 + x/(k₁ + k₂)). For k₁ = k₂ this is Spearman–Brown, 2 r₁₂/(1 + r₁₂).
    r₁₂ ≤ 0 gives 0.
    """
    r = np.asarray(r12, dtype=np.float64)
    a, b = 1.0 / (k1 * k2), 1.0 / k1 + 1.0 / k2
    with np.errstate(invalid="ignore", divide="ignore"):
        c = 1.0 - 1.0 / np.clip(r, 1e-300, 1.0) ** 2
        x = (-b + np.sqrt(b * b - 4.0 * a * c)) / (2.0 * a)
        rel = 1.0 / (1.0 + x / (k1 + k2))
    return np.where(np.isnan(r), np.nan, np.where(r <= 0, 0.0, rel))


# ------------------------------------------------------------------- one configuration's labels
def _rows_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson ρ of each row: (K, M), (K, M) → (K,); NaN for constant rows."""
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    den = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (x * y).sum(axis=1) / den, np.nan)


def analytic_reliability(values: np.ndarray, stderr: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """1 − ⟨se²⟩/var(p̂) over the particles in ``mask``: values, stderr (K, N) → (K,).

    NaN where fewer than 2 particles, the label is constant or a standard error is missing.
    """
    v, se = values[:, mask], stderr[:, mask]
    if v.shape[1] < 2:
        return np.full(len(values), np.nan)
    var = v.var(axis=1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(var > 0, 1.0 - np.mean(se * se, axis=1) / var, np.nan)


def split_half_reliability(halves: np.ndarray, counts: tuple[int, int], mask: np.ndarray) -> np.ndarray:
    """Reliability of the full label from its two half-labels: halves (2, K, N) with ``counts``
    replicas each → (K,) (:func:`reliability_from_halves` of their correlation over ``mask``)."""
    k1, k2 = int(counts[0]), int(counts[1])
    if k1 < 1 or k2 < 1 or int(mask.sum()) < 3:
        return np.full(halves.shape[1], np.nan)
    return reliability_from_halves(_rows_pearson(halves[0][:, mask], halves[1][:, mask]), k1, k2)


def iso_halves(sums: IsoSums, indices: np.ndarray, kind: str = "displacement") -> tuple[np.ndarray, np.ndarray] | None:
    """Half-labels of an ensemble at the time ``indices``: the mean over the replicas of even
    index and over those of odd index → ((2, K, N), replica counts (2,)); None if the files
    predate the even-replica sums or one half is empty."""
    if not sums.has_halves:
        return None
    n_even = int(np.sum(sums.replicas % 2 == 0))
    n_odd = sums.n_replicas - n_even
    if n_even < 1 or n_odd < 1:
        return None
    total, even = (sums.sum1, sums.even_sum1) if kind == "displacement" else (sums.sum2, sums.even_sum2)
    total, even = total[indices], even[indices]
    return np.stack([even / n_even, (total - even) / n_odd]), np.array([n_even, n_odd])


def replica_statistics(disp: np.ndarray) -> dict[str, np.ndarray]:
    """Label, standard error and half-labels from per-replica values ``disp`` (R, K, N).

    Returns propensity, stderr (K, N) [replica std (ddof 1)/√R], halves (2, K, N) (even/odd
    replica index) and half_replicas (2,). For published data that keep every trajectory.
    """
    r = disp.shape[0]
    mean = disp.mean(axis=0)
    se = disp.std(axis=0, ddof=1) / math.sqrt(r) if r > 1 else np.full_like(mean, np.nan)
    even, odd = disp[0::2], disp[1::2]
    halves = (np.stack([even.mean(axis=0), odd.mean(axis=0)]) if len(odd)
              else np.full((2, *mean.shape), np.nan))
    return {"propensity": mean, "stderr": se, "halves": halves, "half_replicas": np.array([len(even), len(odd)])}


# ------------------------------------------------------------------------------ a test set
def configuration_reliability(prop: dict[str, Any], columns: list[int] | None = None,
                              n_types: int = 2) -> dict[str, np.ndarray]:
    """Reliabilities of one propensity file (:func:`equiglass.dataset.load_propensity`):
    analytic and split_half, each (n_types, K) for the timescale ``columns`` (all if None)."""
    cols = slice(None) if columns is None else list(columns)
    values, stderr, types = prop["propensity"][cols], prop["stderr"][cols], prop["types"]
    halves = prop.get("halves")
    counts = prop.get("half_replicas")
    analytic = np.stack([analytic_reliability(values, stderr, types == a) for a in range(n_types)])
    if halves is not None and counts is not None:
        h = halves[:, cols]
        split = np.stack([split_half_reliability(h, tuple(counts), types == a) for a in range(n_types)])
    else:
        split = np.full_like(analytic, np.nan)
    return {"analytic": analytic, "split_half": split}


def _mean_sem(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over axis 0 ignoring NaN: (C, K) → (K,), (K,)."""
    n = np.sum(np.isfinite(x), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.nansum(np.where(np.isfinite(x), x, 0.0), axis=0) / np.maximum(n, 1), np.nan)
        dev = np.where(np.isfinite(x), x - mean, 0.0)
        sd = np.sqrt(np.sum(dev * dev, axis=0) / np.maximum(n - 1, 1))
    return mean, np.where(n > 1, sd / np.sqrt(np.maximum(n, 1)), np.nan)


def ceiling_over_configurations(propensity_files: list[str | Path], columns: list[int] | None = None,
                     n_types: int = 2) -> dict[str, Any]:
    """The ceiling of a set of test configurations, per species and timescale.

    Returns {species: {ceiling, ceiling_sem, ceiling_split_half, ceiling_split_half_sem,
    single_replica_reliability, projected: {R': ceiling}, replicas_for_target, n_replicas,
    ceiling_per_configuration (C × K)}, "note": why something is missing (or None), "method"}.
    Ceilings are means over configurations of the per-configuration ceiling (like ρ); sems are
    standard errors over configurations.
    """
    from .dataset import load_propensity

    per_conf, n_reps, split_missing = [], [], False
    for f in propensity_files:
        prop = load_propensity(f)
        per_conf.append(configuration_reliability(prop, columns, n_types))
        reps = prop["meta"].get("n_replicas")
        if reps is None and "half_replicas" in prop:
            reps = int(np.sum(prop["half_replicas"]))
        n_reps.append(np.nan if reps is None else float(reps))
        split_missing |= "halves" not in prop
    reps = np.array(n_reps)
    out: dict[str, Any] = {"method": METHOD, "target_ceiling": TARGET_CEILING, "note": None}
    notes = []
    for a in range(n_types):
        ana = np.stack([c["analytic"][a] for c in per_conf])  # (C, K)
        spl = np.stack([c["split_half"][a] for c in per_conf])
        if not np.any(np.isfinite(ana)) and not np.any(np.isfinite(spl)):
            continue
        ceil, ceil_sem = _mean_sem(ceiling_of(ana))
        split, split_sem = _mean_sem(ceiling_of(spl))
        r1 = single_replica(ana, reps[:, None])
        r1_mean, _ = _mean_sem(r1)
        out[SPECIES[a]] = {
            "ceiling": ceil, "ceiling_sem": ceil_sem,
            "ceiling_split_half": split, "ceiling_split_half_sem": split_sem,
            "ceiling_per_configuration": ceiling_of(ana),
            "single_replica_reliability": r1_mean,
            "projected": {str(n): _mean_sem(ceiling_of(spearman_brown(r1, n)))[0] for n in PROJECTED_REPLICAS},
            "replicas_for_target": replicas_for(TARGET_CEILING, r1_mean),
            "n_replicas": int(np.nanmin(reps)) if np.any(np.isfinite(reps)) else None,
        }
    if not any(s in out for s in SPECIES):
        notes.append("no replica-level data in these propensity files (published replica means only, e.g. "
                     "GlassBench): the ceiling cannot be computed")
    elif any(not np.all(np.isfinite(out[s]["ceiling"])) for s in SPECIES if s in out):
        notes.append("undefined at some timescales: no per-replica data there (published files may keep "
                     "per-trajectory positions for some times only)")
    if split_missing and any(s in out for s in SPECIES):
        notes.append("no split-half check: the propensity files predate the per-half replica sums (rerun the "
                     "isoconfigurational and propensity steps to get it); or the published data keep no "
                     "per-trajectory positions")
    out["note"] = "; ".join(notes) or None
    return out


__all__ = ["PROJECTED_REPLICAS", "TARGET_CEILING", "analytic_reliability", "ceiling_of", "ceiling_over_configurations",
           "configuration_reliability", "iso_halves", "reliability_from_halves", "replica_statistics", "replicas_for",
           "single_replica", "spearman_brown", "split_half_reliability"]
