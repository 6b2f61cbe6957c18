"""Metrics of the paper: Pearson ρ between predicted and true propensity, per species and time.

Two conventions exist: the *mean over configurations* of the per-configuration ρ (the
GlassBench tables, e.g. the EIGNN repository's results/pcc_mean_0XX.csv) and a single *pooled* ρ over all test particles; both are reported.
A model trained from several seeds has one evaluation per seed (:func:`seed_groups`).
Pearson and Spearman ρ and the bootstrap intervals themselves are :mod:`equiglass.stats`'s.
"""

from __future__ import annotations

import numpy as np

from .stats import interval, pearson_columns, spearman_columns

TAU_ALPHA_LABELS = ("Fs=0.368", "1tau_a")  # F_s = 1/e (Bapst et al.'s time index 9), or t = 1 τ_α


def tau_alpha_index(labels: list[str]) -> int:
    """Index of the timescale closest to τ_α (label Fs=0.368 or 1tau_a), else the middle one."""
    for k, lab in enumerate(labels):
        if lab in TAU_ALPHA_LABELS:
            return k
    return len(labels) // 2


def bootstrap_sem(values: np.ndarray, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """Bootstrap standard error of the mean over axis 0 (configurations): (C, K) → (K,)."""
    values = np.asarray(values, dtype=np.float64)
    c = values.shape[0]
    if c < 2:
        return np.full(values.shape[1:], np.nan)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, c, size=(n_boot, c))
    return np.nanmean(values[idx], axis=1).std(axis=0, ddof=1)


def evaluate_predictions(
    preds: list[np.ndarray], trues: list[np.ndarray], types: list[np.ndarray], n_types: int = 2, seed: int = 0
) -> dict[str, dict[str, list[float]]]:
    """Metrics per species over test configurations.

    preds, trues : per configuration (N_c, n_t) in physical units; types : (N_c,).
    Returns {species: {metric: [value per timescale]}} with metrics pearson (mean over
    configurations), pearson_sem (bootstrap), pearson_ci_low/high (95 % bootstrap interval over
    configurations), pearson_per_configuration (C × n_t), pearson_pooled, spearman, mse.
    """
    names = "AB"
    out: dict[str, dict[str, list[float]]] = {}
    for a in range(n_types):
        rho, rs, p_all, t_all = [], [], [], []
        for p, t, ty in zip(preds, trues, types):
            m = ty == a
            if m.sum() < 2:
                continue
            rho.append(pearson_columns(p[m], t[m]))
            rs.append(spearman_columns(p[m], t[m]))
            p_all.append(p[m])
            t_all.append(t[m])
        if not rho:
            continue
        rho_a, rs_a = np.array(rho), np.array(rs)
        pa, ta = np.concatenate(p_all), np.concatenate(t_all)
        cis = [interval(rho_a[:, k], seed=seed) for k in range(rho_a.shape[1])]
        out[names[a]] = {
            "pearson": np.nanmean(rho_a, axis=0).tolist(),
            "pearson_sem": bootstrap_sem(rho_a, seed=seed).tolist(),
            "pearson_ci_low": [c.low for c in cis],
            "pearson_ci_high": [c.high for c in cis],
            "pearson_per_configuration": rho_a.tolist(),
            "pearson_pooled": pearson_columns(pa, ta).tolist(),
            "spearman": np.nanmean(rs_a, axis=0).tolist(),
            "mse": np.mean((pa - ta) ** 2, axis=0).tolist(),
            "n_configurations": len(rho),
            "n_particles": len(pa),
        }
    return out


def seed_groups(evaluations: list[dict]) -> list[list[dict]]:
    """Evaluations grouped by model (family and training set), in order of first appearance: the
    training seeds of one model (``training.seeds``; replicate 0 first, as the workflow lists them)."""
    groups: dict[tuple, list[dict]] = {}
    for ev in evaluations:
        groups.setdefault((ev["model"], ev["train_set"]), []).append(ev)
    return list(groups.values())
