"""Dynamics from iso-configurational ensembles: F_s(q, t), MSD, τ_α, D and propensities.

Times in τ, lengths in σ_AA. F_s(q, t) = ⟨sin(q|Δr|)/(q|Δr|)⟩ (the isotropic average of
cos(q·Δr)) of A particles at q = 7.25; τ_α solves F_s(τ_α) = 1/e. As in Bapst et al. (2020),
the propensity target times are where the ensemble-averaged F_s crosses given values
(0.9 … 0.1, 1/e), snapped to the nearest saved time (in log t).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .files import InputError
from .iso import IsoSums

INV_E = 1.0 / math.e


def crossing_time(times: np.ndarray, curve: np.ndarray, value: float) -> float:
    """First time where a decreasing ``curve`` (n_t,) falls to ``value`` (log-linear interp.).

    Returns NaN if the curve never reaches ``value`` within ``times``.
    """
    below = np.flatnonzero(curve <= value)
    if len(below) == 0:
        return float("nan")
    k = int(below[0])
    if k == 0:
        return float(times[0])
    t0, t1 = math.log(times[k - 1]), math.log(times[k])
    c0, c1 = float(curve[k - 1]), float(curve[k])
    frac = 0.0 if c0 == c1 else (c0 - value) / (c0 - c1)
    return float(math.exp(t0 + frac * (t1 - t0)))


def nearest_log_index(times: np.ndarray, t: float) -> int:
    """Index of the saved time closest to ``t`` in log t."""
    return int(np.argmin(np.abs(np.log(times) - math.log(t))))


def diffusion_constant(times: np.ndarray, msd: np.ndarray, min_msd: float = 1.0) -> float:
    """D from MSD = 6 D t fitted where MSD ≥ ``min_msd`` [σ²] (diffusive regime); NaN if none."""
    mask = msd >= min_msd
    if mask.sum() < 2:
        return float("nan")
    t, m = times[mask], msd[mask]
    return float(np.sum(t * m) / np.sum(t * t) / 6.0)


@dataclass
class DynamicsSummary:
    """Ensemble dynamics at one temperature.

    times (n_t,) [τ]; fs, fs_err (n_t, 2) for A, B; msd, msd_err (n_t, 2) [σ²];
    tau_alpha [τ] (A particles); diffusion (2,) [σ²/τ]; n_configurations, n_replicas.
    """

    temperature: float
    times: np.ndarray
    fs: np.ndarray
    fs_err: np.ndarray
    msd: np.ndarray
    msd_err: np.ndarray
    tau_alpha: float
    tau_alpha_err: float
    diffusion: np.ndarray
    n_configurations: int
    n_replicas: int


def summarize(temperature: float, ensembles: list[IsoSums]) -> DynamicsSummary:
    """Average F_s and MSD over configurations (errors: standard error between configurations)."""
    if not ensembles:
        raise InputError(f"no iso-configurational data for T={temperature}")
    times = ensembles[0].times
    for e in ensembles:
        if not np.array_equal(e.times, times):
            raise InputError(f"T={temperature}: ensembles have different time grids; rerun them")
    fs_c = np.stack([e.fs.mean(axis=0) for e in ensembles])  # (C, n_t, 2)
    msd_c = np.stack([e.msd.mean(axis=0) for e in ensembles])
    n_c = len(ensembles)

    def sem(x: np.ndarray) -> np.ndarray:
        return x.std(axis=0, ddof=1) / math.sqrt(n_c) if n_c > 1 else np.full(x.shape[1:], np.nan)

    fs, msd = fs_c.mean(axis=0), msd_c.mean(axis=0)
    tau = crossing_time(times, fs[:, 0], INV_E)
    per_conf = np.array([crossing_time(times, f[:, 0], INV_E) for f in fs_c])
    tau_err = float(np.nanstd(per_conf, ddof=1) / math.sqrt(n_c)) if n_c > 1 else float("nan")
    return DynamicsSummary(
        temperature=temperature, times=times, fs=fs, fs_err=sem(fs_c), msd=msd, msd_err=sem(msd_c),
        tau_alpha=tau, tau_alpha_err=tau_err,
        diffusion=np.array([diffusion_constant(times, msd[:, a]) for a in (0, 1)]),
        n_configurations=n_c, n_replicas=int(sum(e.n_replicas for e in ensembles)),
    )


def target_times(
    summary: DynamicsSummary, mode: str, values: list[float], where: str = "propensity.times"
) -> tuple[np.ndarray, np.ndarray]:
    """Propensity times: (requested times [τ], indices into ``summary.times``).

    mode ``fs``: where F_s^A crosses each value; mode ``tau_alpha``: values × τ_α.
    Raises InputError if a time lies beyond the saved grid (run longer ensembles).
    """
    times = summary.times
    if mode == "fs":
        req = np.array([crossing_time(times, summary.fs[:, 0], v) for v in values])
    elif mode == "tau_alpha":
        if not math.isfinite(summary.tau_alpha):
            raise InputError(
                f"T={summary.temperature}: F_s never reached 1/e within t={times[-1]:.3g}; increase "
                "isoconfigurational.duration_tau_alpha or set equilibration.tau_alpha for this T"
            )
        req = np.array(values, dtype=float) * summary.tau_alpha
    else:
        raise InputError(f"{where}.mode must be 'fs' or 'tau_alpha', got {mode!r}")
    bad = [v for v, t in zip(values, req) if not math.isfinite(t) or t > times[-1] * 1.05]
    if bad:
        raise InputError(
            f"T={summary.temperature}: {where} values {bad} are not reached within the saved "
            f"time grid (t_max = {times[-1]:.4g} τ, τ_α = {summary.tau_alpha:.4g} τ): increase "
            "isoconfigurational.duration_tau_alpha or drop those values"
        )
    idx = np.array([nearest_log_index(times, t) for t in req])
    return req, idx


def propensity(sums: IsoSums, indices: np.ndarray, kind: str = "displacement") -> tuple[np.ndarray, np.ndarray]:
    """Per-particle propensity and its standard error at the time indices.

    kind ``displacement``: ⟨|Δr|⟩ over replicas (Bapst et al.); ``squared_displacement``:
    ⟨|Δr|²⟩. Returns (values, stderr), each (n_k, N) float64.
    """
    r = sums.n_replicas
    if r < 1:
        raise InputError("ensemble has no replicas")
    s1, s2, s4 = sums.sum1[indices], sums.sum2[indices], sums.sum4[indices]
    if kind == "displacement":
        mean, second = s1 / r, s2 / r
    elif kind == "squared_displacement":
        mean, second = s2 / r, s4 / r
    else:
        raise InputError(f"propensity.kind must be displacement or squared_displacement, got {kind!r}")
    var = np.clip(second - mean * mean, 0.0, None) * (r / max(r - 1, 1))
    return mean, np.sqrt(var / r)
