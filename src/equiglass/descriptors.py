"""Rotation-invariant structural descriptors per particle (baselines and interpretability).

- Steinhardt bond-order parameters q_l (l = 2…12) over the first shell (r < ``shell_cutoff``)
  and their Lechner–Dellago averages q̄_l (freud ``Steinhardt``).
- Radial densities per species (Boattini et al. 2021): G_k^s(i) = Σ_{j∈s} exp(−(r_ij − r_k)²/(2δ²))
  on shells r_k = r_min … r_max spaced by δ.
- Coarse-grained versions (Boattini et al. PRL 2021): each descriptor averaged over the
  neighbours within ``coarse_grain_cutoff`` with weights e^{−r/r_cg} (the particle included).
"""

from __future__ import annotations

from dataclasses import dataclass

import freud
import numpy as np

from .graphs import freud_box, neighbor_list
from .state import State


@dataclass(frozen=True)
class DescriptorSettings:
    """Descriptor settings (lengths in σ_AA).

    l_values : Steinhardt orders; shell_cutoff : first-shell radius for q_l;
    radial_min, radial_max, radial_width : shells r_k and Gaussian width δ;
    coarse_grain : add coarse-grained copies; coarse_grain_cutoff : radius of that average.
    """

    l_values: tuple[int, ...] = tuple(range(2, 13))
    shell_cutoff: float = 1.45
    radial_min: float = 0.85
    radial_max: float = 2.5
    radial_width: float = 0.1
    coarse_grain: bool = True
    coarse_grain_cutoff: float = 2.0


def steinhardt(state: State, l_values: tuple[int, ...], r_max: float, average: bool) -> np.ndarray:
    """q_l (or q̄_l) for each l: (N, n_l) float64."""
    nl = neighbor_list(state.positions, state.box, r_max)
    op = freud.order.Steinhardt(list(l_values), average=average)
    op.compute((freud_box(state.box), state.positions.astype(np.float32)), neighbors=nl)
    out = np.asarray(op.particle_order, dtype=np.float64).reshape(state.n, len(l_values))
    return np.nan_to_num(out)


def radial_densities(state: State, r_min: float, r_max: float, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian shell densities per species: ((N, 2 K) array, shells (K,))."""
    shells = np.arange(r_min, r_max + 1e-9, width)
    nl = neighbor_list(state.positions, state.box, r_max + 3 * width)
    i = np.asarray(nl.query_point_indices)
    j = np.asarray(nl.point_indices)
    r = np.asarray(nl.distances, dtype=np.float64)
    w = np.exp(-((r[:, None] - shells[None, :]) ** 2) / (2 * width * width))
    out = np.zeros((state.n, 2, len(shells)))
    for s in (0, 1):
        m = state.types[j] == s
        np.add.at(out[:, s], i[m], w[m])
    return out.reshape(state.n, -1), shells


def coarse_grain(state: State, values: np.ndarray, r_cut: float) -> np.ndarray:
    """Average (N, D) descriptors over neighbours within r_cut, weights e^{−r/r_cut}, self weight 1."""
    nl = neighbor_list(state.positions, state.box, r_cut)
    i = np.asarray(nl.query_point_indices)
    j = np.asarray(nl.point_indices)
    w = np.exp(-np.asarray(nl.distances, dtype=np.float64) / r_cut)
    num = values.copy()
    den = np.ones(state.n)
    np.add.at(num, i, w[:, None] * values[j])
    np.add.at(den, i, w)
    return num / den[:, None]


def compute_descriptors(state: State, s: DescriptorSettings) -> tuple[np.ndarray, list[str]]:
    """All descriptors of a configuration: ((N, D) float64, D names)."""
    st = state.wrapped()
    ls = tuple(s.l_values)
    q = steinhardt(st, ls, s.shell_cutoff, average=False)
    qbar = steinhardt(st, ls, s.shell_cutoff, average=True)
    rad, shells = radial_densities(st, s.radial_min, s.radial_max, s.radial_width)
    names = [f"q{l}" for l in ls] + [f"qbar{l}" for l in ls]
    names += [f"rho_{sp}_{r:.2f}" for sp in "AB" for r in shells]
    values = np.concatenate([q, qbar, rad], axis=1)
    if s.coarse_grain:
        values = np.concatenate([values, coarse_grain(st, values, s.coarse_grain_cutoff)], axis=1)
        names = names + [f"cg_{n}" for n in names]
    return values, names
