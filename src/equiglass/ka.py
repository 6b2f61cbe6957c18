"""The Kob–Andersen 80:20 binary Lennard-Jones mixture, defined once.

Reduced Lennard-Jones units throughout: lengths in σ_AA, energies in ε_AA, masses in m,
time in τ = σ_AA √(m/ε_AA). Type 0 is A (large, 80 %), type 1 is B (small, 20 %).

Reference: W. Kob and H. C. Andersen, Phys. Rev. E 51, 4626 (1995).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .system import box_length, tau_alpha_estimate  # noqa: F401  (defined without NumPy for planning)

TYPE_NAMES: tuple[str, str] = ("A", "B")


@dataclass(frozen=True)
class KobAndersen:
    """Pair parameters of the KA mixture.

    Attributes
    ----------
    epsilon, sigma : 2×2 arrays indexed by (type_i, type_j), in ε_AA and σ_AA.
    rcut_factor : cutoff r_c,αβ = rcut_factor × σ_αβ (2.5 in the original model).
    shift : whether V is shifted so V(r_c) = 0 (the convention of Bapst et al. 2020 and most KA studies).
    mass : particle mass (both species), in m.
    """

    epsilon: tuple[tuple[float, float], tuple[float, float]] = ((1.0, 1.5), (1.5, 0.5))
    sigma: tuple[tuple[float, float], tuple[float, float]] = ((1.0, 0.8), (0.8, 0.88))
    rcut_factor: float = 2.5
    shift: bool = True
    mass: float = 1.0
    fraction_a: float = field(default=0.8)

    @property
    def eps(self) -> np.ndarray:
        """ε_αβ as a (2, 2) float64 array [ε_AA]."""
        return np.asarray(self.epsilon, dtype=np.float64)

    @property
    def sig(self) -> np.ndarray:
        """σ_αβ as a (2, 2) float64 array [σ_AA]."""
        return np.asarray(self.sigma, dtype=np.float64)

    @property
    def rcut(self) -> np.ndarray:
        """Per-pair cutoffs r_c,αβ as a (2, 2) array [σ_AA]."""
        return self.rcut_factor * self.sig

    @property
    def max_rcut(self) -> float:
        return float(self.rcut.max())

    def pairs(self) -> list[tuple[int, int, float, float, float]]:
        """Unique pairs (i, j, ε, σ, r_c) with i ≤ j, zero-based types."""
        return [
            (i, j, float(self.eps[i, j]), float(self.sig[i, j]), float(self.rcut[i, j]))
            for i in range(2)
            for j in range(i, 2)
        ]

    def energy_shift(self) -> np.ndarray:
        """V_αβ(r_c) as a (2, 2) array, subtracted when ``shift`` is true [ε_AA]."""
        sr6 = (self.sig / self.rcut) ** 6
        v = 4.0 * self.eps * (sr6 * sr6 - sr6)
        return v if self.shift else np.zeros_like(v)

    def n_types(self, n_particles: int) -> tuple[int, int]:
        """Numbers (N_A, N_B) for N particles; N_A = round(0.8 N)."""
        n_a = int(round(self.fraction_a * n_particles))
        return n_a, n_particles - n_a


KA = KobAndersen()


def minimum_image(dr: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Map separation vectors (..., 3) into the primary cell of an orthorhombic box (3,)."""
    return dr - box * np.round(dr / box)


def pair_energy_forces(
    positions: np.ndarray,
    types: np.ndarray,
    box: np.ndarray,
    model: KobAndersen = KA,
) -> tuple[float, np.ndarray, float]:
    """Direct O(N²) evaluation of the KA energy, forces and virial (reference for tests).

    Parameters
    ----------
    positions : (N, 3) float64 [σ_AA]; types : (N,) int in {0, 1}; box : (3,) edge lengths.

    Returns
    -------
    energy : total potential energy [ε_AA]; forces : (N, 3) [ε_AA/σ_AA];
    virial : W = Σ_pairs r_ij·f_ij [ε_AA], so that P = (N k T + W / 3) / V.

    Uses the minimum-image convention, so the box edge must exceed 2 max r_c.
    """
    pos = np.asarray(positions, dtype=np.float64)
    typ = np.asarray(types, dtype=np.int64)
    box = np.asarray(box, dtype=np.float64)
    if np.any(box < 2 * model.max_rcut):
        raise ValueError(f"box {box} too small for minimum image with r_c={model.max_rcut}")
    n = len(pos)
    i, j = np.triu_indices(n, k=1)
    dr = minimum_image(pos[j] - pos[i], box)
    r2 = np.einsum("ij,ij->i", dr, dr)
    ti, tj = typ[i], typ[j]
    rc = model.rcut[ti, tj]
    inside = r2 < rc * rc
    i, j, dr, r2, ti, tj = i[inside], j[inside], dr[inside], r2[inside], ti[inside], tj[inside]
    eps = model.eps[ti, tj]
    sig = model.sig[ti, tj]
    sr6 = (sig * sig / r2) ** 3
    energy = float(np.sum(4.0 * eps * (sr6 * sr6 - sr6) - model.energy_shift()[ti, tj]))
    # f_j = -dV/dr * r_hat (force on j from i) ; fmag_over_r = 24 ε (2 sr12 - sr6) / r²
    f_over_r = 24.0 * eps * (2.0 * sr6 * sr6 - sr6) / r2
    fij = f_over_r[:, None] * dr  # force on j due to i
    forces = np.zeros((n, 3))
    np.add.at(forces, j, fij)
    np.add.at(forces, i, -fij)
    virial = float(np.sum(f_over_r * r2))
    return energy, forces, virial


def lattice_positions(
    n_particles: int, box: float, rng: np.random.Generator
) -> np.ndarray:
    """N distinct sites of a simple-cubic lattice filling a cubic box, in [-L/2, L/2).

    Returns (N, 3) float64. Sites are chosen at random (seeded) when the lattice has more
    sites than particles, so the start is overlap-free at any N.
    """
    m = int(np.ceil(n_particles ** (1.0 / 3.0)))
    grid = (np.arange(m) + 0.5) * (box / m) - box / 2
    sites = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), axis=-1).reshape(-1, 3)
    chosen = rng.choice(len(sites), size=n_particles, replace=False)
    return sites[np.sort(chosen)]


def random_types(n_particles: int, rng: np.random.Generator, model: KobAndersen = KA) -> np.ndarray:
    """(N,) int32 array with N_A zeros and N_B ones in random (seeded) order."""
    n_a, n_b = model.n_types(n_particles)
    types = np.array([0] * n_a + [1] * n_b, dtype=np.int32)
    rng.shuffle(types)
    return types
