"""System size and run-length estimates of the KA liquid that need no numerical library.

The workflow plans (paths, run lengths, seeds, cluster requests) with these on a login node
that has only Snakemake, PyYAML and jsonschema; :mod:`equiglass.ka` re-exports them.
"""

from __future__ import annotations

import math


def box_length(n_particles: int, density: float) -> float:
    """Cubic box edge L = (N/ρ)^(1/3) [σ_AA]."""
    if n_particles <= 0 or density <= 0:
        raise ValueError(f"need N > 0 and density > 0, got N={n_particles}, density={density}")
    return float((n_particles / density) ** (1.0 / 3.0))


# τ_α(T) of KA at ρ = 1.2 [τ], used only to size run lengths (the measured τ_α drives the
# analysis): our LAMMPS reference runs (N = 1000, T ≥ 0.6; see equiglass.reference), T = 0.56
# measured with this pipeline (equiglass.reference.PIPELINE_MEASUREMENTS: N = 1000, LAMMPS,
# 2026-12-06, commit f1683c6; GlassBench's time grid suggests 52 at N = 4096), and, below, the
# τ_α read off the GlassBench time grids (Jung et al., Roadmap on machine learning glassy
# dynamics, 2025) and Bapst et al. (2020) at T = 0.44.
_TAU_ALPHA_TABLE: tuple[tuple[float, float], ...] = (
    (0.44, 4120.0),
    (0.47, 800.0),
    (0.50, 217.0),
    (0.56, 27.1),
    (0.60, 15.8),
    (0.70, 4.0),
    (0.80, 2.26),
    (0.90, 1.65),
    (1.00, 1.5),
    (2.00, 0.6),
)


def tau_alpha_estimate(temperature: float) -> float:
    """Rough τ_α(T) [τ] by linear interpolation of log τ_α in 1/T between the table's values.

    Outside the table the nearest end segment is extrapolated (in log τ vs 1/T). Same numbers
    as NumPy's ``interp`` on the same table (tested).
    """
    pts = sorted((1.0 / t, math.log(tau)) for t, tau in _TAU_ALPHA_TABLE)
    x = [p[0] for p in pts]
    y = [p[1] for p in pts]
    xi = 1.0 / float(temperature)
    if xi <= x[0] or xi >= x[-1]:
        a, b = (0, 1) if xi <= x[0] else (len(x) - 2, len(x) - 1)
        slope = (y[b] - y[a]) / (x[b] - x[a])
        return math.exp(y[a] + slope * (xi - x[a]))
    j = max(k for k in range(len(x) - 1) if x[k] <= xi)
    slope = (y[j + 1] - y[j]) / (x[j + 1] - x[j])
    return math.exp(slope * (xi - x[j]) + y[j])
