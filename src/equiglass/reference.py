"""Reference values of the 3D Kob–Andersen mixture (ρ = 1.2, shifted LJ, N = 1000) and tolerances.

From ``SPEC.md`` §1: LAMMPS, Nosé–Hoover NVT, two independent samples per temperature, τ_α
from F_s(q = 7.25, t) = 1/e of A particles in NVE; errors are the spread between samples.
Published numbers of the seed paper (GlassBench, §6b) are in :data:`PUBLISHED_RHO`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# T: (U/N, err, P, err, tau_alpha, err); None where SPEC gives no value or no error
KA_REFERENCE: dict[float, tuple] = {
    1.0: (-6.01, None, 9.9, None, 1.5, None),
    0.9: (-6.177, 0.006, 8.76, 0.03, 1.65, 0.1),
    0.8: (-6.345, 0.004, 7.60, 0.02, 2.26, 0.06),
    0.7: (-6.515, 0.007, 6.44, 0.03, 4.0, 0.4),
    0.6: (-6.701, 0.003, 5.15, 0.02, 15.8, 1.0),
    0.5: (-6.90, 0.015, 3.82, 0.10, 85.0, 3.0),
}

# Tolerances: agreement when |ours − ref| ≤ n_sigma · √(σ_ours² + σ_ref²) + floor.
# The floors cover finite-size and thermostat differences and the two-sample reference errors;
# τ_α's floor is relative (10 %).
TOLERANCE = {
    "potential_energy": {"n_sigma": 3.0, "floor": 0.005},
    "pressure": {"n_sigma": 3.0, "floor": 0.05},
    "tau_alpha": {"n_sigma": 3.0, "floor_rel": 0.10},
}

# Pearson ρ of type A on GlassBench KA 3D (mean over test configurations), SPEC.md §6b.
PUBLISHED_RHO = {
    # (T, time): {model: rho}
    (0.44, 0.13): {"BOTAN": 0.95, "GlassMLP": 0.39, "cage": 0.68, "SE(3)-GNN": 0.90},
    (0.44, 13.0): {"BOTAN": 0.73, "GlassMLP": 0.77, "cage": 0.90, "SE(3)-GNN": 0.68},
    (0.44, 4120.0): {"BOTAN": 0.75, "GlassMLP": 0.76, "cage": 0.78, "SE(3)-GNN": 0.79},
    (0.44, 41200.0): {"BOTAN": 0.51, "GlassMLP": 0.47, "cage": 0.53, "SE(3)-GNN": 0.56},
    (0.50, 68.6): {"BOTAN": 0.73, "GlassMLP": 0.72, "cage": 0.80, "SE(3)-GNN": 0.75},
    (0.64, 5.2): {"BOTAN": 0.72, "GlassMLP": 0.59, "cage": 0.65, "SE(3)-GNN": 0.70},
}
# SE(3)-GNN at τ_α per temperature (SPEC.md §6b)
PUBLISHED_SE3_AT_TAU_ALPHA = {0.44: 0.791, 0.50: 0.752, 0.56: 0.699, 0.64: 0.663}


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
