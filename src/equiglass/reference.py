"""Reference values of the 3D Kob–Andersen mixture (ρ = 1.2, shifted LJ, N = 1000) and tolerances.

The model is Kob & Andersen's (Phys. Rev. E 51, 4626 (1995)). The values are independent
reference simulations of it made for this project (LAMMPS, N = 1000, Nosé–Hoover NVT, two
independent samples per temperature, τ_α from F_s(q = 7.25, t) = 1/e of A particles in NVE;
errors are the spread between samples); our pipeline must reproduce them. Published learning
results (GlassBench) are in :data:`PUBLISHED_RHO` and :data:`PUBLISHED_SE3_SERIES`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# T: (U/N, err, P, err, tau_alpha, err); None where the reference run gives no value or error
KA_REFERENCE: dict[float, tuple] = {
    1.0: (-6.01, None, 9.9, None, 1.5, None),
    0.9: (-6.177, 0.006, 8.76, 0.03, 1.65, 0.1),
    0.8: (-6.345, 0.004, 7.60, 0.02, 2.26, 0.06),
    0.7: (-6.515, 0.007, 6.44, 0.03, 4.0, 0.4),
    0.6: (-6.701, 0.003, 5.15, 0.02, 15.8, 1.0),
    0.5: (-6.90, 0.015, 3.82, 0.10, 85.0, 3.0),
}

# Measured with this pipeline (not an independent check, so not in KA_REFERENCE): T -> (U/N, err, P,
# err, tau_alpha, err) as KA_REFERENCE; N = 1000, LAMMPS, shifted potential, Nose-Hoover NVT, 2026-12-06,
# commit f1683c6. T = 0.56: 6 configurations (2 melt-quench chains, 57 tau_alpha of NVT after the quench,
# then samples 19 tau_alpha apart; every ageing check passed), U/N and P averaged over the second half of
# each run; tau_alpha where the mean F_s(q = 7.25, t) of A over the 6 configurations x 8 NVE replicas
# crosses 1/e. Errors: standard errors over the 6 configurations (per-configuration tau_alpha 20 to 45).
PIPELINE_MEASUREMENTS: dict[float, tuple] = {
    0.56: (-6.7828, 0.0013, 4.621, 0.006, 27.1, 3.8),
}

# Tolerances: agreement when |ours − ref| ≤ n_sigma · √(σ_ours² + σ_ref²) + floor.
# The floors cover finite-size and thermostat differences and the two-sample reference errors;
# τ_α's floor is relative (10 %).
TOLERANCE = {
    "potential_energy": {"n_sigma": 3.0, "floor": 0.005},
    "pressure": {"n_sigma": 3.0, "floor": 0.05},
    "tau_alpha": {"n_sigma": 3.0, "floor_rel": 0.10},
}

# Pearson ρ of type A on GlassBench KA 3D (mean over test configurations), as tabulated from the
# predictions deposited in GlassBench's test files (Jung et al., Roadmap on machine learning glassy
# dynamics, arXiv:2311.14752; data Zenodo 10118191) in the public EIGNN repository's results files
# (github.com/xjiang-hnu/EIGNN, results/pcc_mean_0XX.csv).
PUBLISHED_RHO = {
    # (T, time): {model: rho}
    (0.44, 0.13): {"BOTAN": 0.95, "GlassMLP": 0.39, "cage": 0.68, "SE(3)-GNN": 0.90},
    (0.44, 13.0): {"BOTAN": 0.73, "GlassMLP": 0.77, "cage": 0.90, "SE(3)-GNN": 0.68},
    (0.44, 4120.0): {"BOTAN": 0.75, "GlassMLP": 0.76, "cage": 0.78, "SE(3)-GNN": 0.79},
    (0.44, 41200.0): {"BOTAN": 0.51, "GlassMLP": 0.47, "cage": 0.53, "SE(3)-GNN": 0.56},
    (0.50, 68.6): {"BOTAN": 0.73, "GlassMLP": 0.72, "cage": 0.80, "SE(3)-GNN": 0.75},
    (0.64, 5.2): {"BOTAN": 0.72, "GlassMLP": 0.59, "cage": 0.65, "SE(3)-GNN": 0.70},
}
# SE(3)-GNN (Pezzicoli et al. 2024) at τ_α per temperature, same source
PUBLISHED_SE3_AT_TAU_ALPHA = {0.44: 0.791, 0.50: 0.752, 0.56: 0.699, 0.64: 0.663}
# The full time series of the SE(3)-GNN, same source: T -> [(t [τ], mean per-configuration ρ_A)]
PUBLISHED_SE3_SERIES: dict[float, list[tuple[float, float]]] = {
    0.44: [(0.13, 0.896), (1.3, 0.672), (13.0, 0.681), (130.0, 0.708), (412.0, 0.749), (1300.0, 0.785),
           (4120.0, 0.791), (13000.0, 0.731), (41200.0, 0.558), (130000.0, 0.260)],
    0.50: [(0.108, 0.915), (0.434, 0.733), (2.17, 0.697), (6.86, 0.706), (21.7, 0.724), (68.6, 0.754),
           (217.0, 0.752), (686.0, 0.665), (2170.0, 0.498), (6860.0, 0.288)],
    0.56: [(0.104, 0.914), (0.33, 0.774), (0.99, 0.710), (1.65, 0.699), (5.2, 0.711), (16.5, 0.724),
           (52.0, 0.699), (165.0, 0.563), (520.0, 0.374), (1650.0, 0.212)],
    0.64: [(0.032, 0.587), (0.1, 0.925), (0.165, 0.893), (0.52, 0.730), (1.65, 0.690), (5.2, 0.699),
           (16.5, 0.663), (52.0, 0.492), (165.0, 0.286), (520.0, 0.167)],
}
# ρ_A pooled over all test particles (one ρ, not a mean of per-configuration ρ) at T = 0.44, same times
PUBLISHED_SE3_POOLED_044 = [0.896, 0.672, 0.681, 0.713, 0.758, 0.798, 0.815, 0.789, 0.708, 0.626]
# τ_α of the GlassBench temperatures [τ] (F_s = 1/e, read off its time grids)
GLASSBENCH_TAU_ALPHA = {0.44: 4120.0, 0.50: 217.0, 0.56: 52.0, 0.64: 16.5}


@dataclass(frozen=True)
class Comparison:
    quantity: str
    temperature: float
    ours: float
    ours_err: float
    reference: float
    reference_err: float | None
    allowed: float
    agrees: bool

    @property
    def ratio(self) -> float:
        return self.ours / self.reference if self.reference else float("nan")


def reference_for(temperature: float) -> dict[str, tuple[float, float | None]] | None:
    for t, row in KA_REFERENCE.items():
        if abs(t - temperature) < 1e-6:
            return {"potential_energy": (row[0], row[1]), "pressure": (row[2], row[3]),
                    "tau_alpha": (row[4], row[5])}
    return None


def compare(quantity: str, temperature: float, ours: float, ours_err: float) -> Comparison | None:
    """Our value (± standard error) against the reference at T, with the tolerance above."""
    ref = reference_for(temperature)
    if ref is None:
        return None
    value, err = ref[quantity]
    tol = TOLERANCE[quantity]
    sig = math.hypot(ours_err if math.isfinite(ours_err) else 0.0, err or 0.0)
    allowed = tol["n_sigma"] * sig + tol.get("floor", 0.0) + tol.get("floor_rel", 0.0) * abs(value)
    return Comparison(quantity, temperature, ours, ours_err, value, err, allowed, abs(ours - value) <= allowed)
