"""Particle configurations, Maxwell–Boltzmann velocities and their GSD files.

Conventions (those of GSD/HOOMD): positions (N, 3) lie in [-L/2, L/2) of an orthorhombic box
``box`` (3,) [σ_AA]; ``image`` (N, 3) int32 counts box crossings, so the unwrapped position is
``position + image * box``; velocities (N, 3) [σ_AA/τ]; types (N,) int32 (0 = A, 1 = B).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .files import InputError

# the fix for a configuration that fails its checks
REWRITE = "; regenerate the file (files of the pipeline: delete it and rebuild it (`snakemake <that file>`))"


@dataclass
class State:
    """One configuration of the mixture (see module docstring for units and shapes)."""

    positions: np.ndarray
    types: np.ndarray
    box: np.ndarray
    velocities: np.ndarray | None = None
    image: np.ndarray | None = None
    step: int = 0
    log: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.positions = np.ascontiguousarray(self.positions, dtype=np.float64)
        self.types = np.ascontiguousarray(self.types, dtype=np.int32)
        self.box = np.asarray(self.box, dtype=np.float64).reshape(3)
        if self.image is None:
            self.image = np.zeros((self.n, 3), dtype=np.int32)
        self.image = np.ascontiguousarray(self.image, dtype=np.int32)
        if self.velocities is not None:
            self.velocities = np.ascontiguousarray(self.velocities, dtype=np.float64)

    @property
    def n(self) -> int:
        return len(self.positions)

    @property
    def density(self) -> float:
        return self.n / float(np.prod(self.box))

    def unwrapped(self) -> np.ndarray:
        """Unwrapped positions (N, 3) = positions + image × box."""
        return self.positions + self.image * self.box

    def wrapped(self) -> State:
        """A copy with positions folded into [-L/2, L/2) and images updated."""
        shift = np.floor((self.positions + self.box / 2) / self.box).astype(np.int32)
        return replace(
            self,
            positions=self.positions - shift * self.box,
            image=self.image + shift,
        )

    def check(self, source: str = "state") -> None:
        """Raise InputError if the configuration is not usable (names ``source``)."""
        if self.positions.ndim != 2 or self.positions.shape[1] != 3:
            raise InputError(f"{source}: positions must be (N, 3), got {self.positions.shape}{REWRITE}")
        if self.types.shape != (self.n,):
            raise InputError(f"{source}: types must be (N,)={self.n}, got {self.types.shape}{REWRITE}")
        if not np.all(np.isfinite(self.positions)):
            bad = np.flatnonzero(~np.isfinite(self.positions).all(axis=1))
            raise InputError(f"{source}: non-finite positions for particles {bad[:10].tolist()}{REWRITE}")
        if self.velocities is not None and not np.all(np.isfinite(self.velocities)):
            raise InputError(f"{source}: non-finite velocities{REWRITE}")
        if not np.all(np.isfinite(self.box)) or np.any(self.box <= 0):
            raise InputError(f"{source}: box must have positive finite edges, got {self.box}{REWRITE}")
        if self.types.min(initial=0) < 0 or self.types.max(initial=0) > 1:
            raise InputError(f"{source}: types must be 0 (A) or 1 (B), got {np.unique(self.types)}{REWRITE}")
        half = self.box / 2 + 1e-4
        if np.any(np.abs(self.positions) > half):
            raise InputError(f"{source}: positions lie outside the box [-L/2, L/2) of L={self.box}{REWRITE}")


def wrap_positions(positions: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Positions (N, 3) folded into [-L/2, L/2) of an orthorhombic box (inputs in [0, L) included)."""
    out = positions - box * np.floor(positions / box + 0.5)
    return np.where(out >= box / 2, out - box, out)


def maxwell_boltzmann(
    n: int, temperature: float, rng: np.random.Generator, mass: float = 1.0, exact: bool = True
) -> np.ndarray:
    """Velocities (n, 3) drawn from Maxwell–Boltzmann at ``temperature`` [ε_AA/k_B].

    The centre-of-mass velocity is removed; with ``exact`` the kinetic temperature
    (3n − 3 degrees of freedom) is rescaled to exactly ``temperature``, as is usual for
    iso-configurational ensembles.
    """
    v = rng.normal(0.0, np.sqrt(temperature / mass), size=(n, 3))
    v -= v.mean(axis=0)
    if exact and n > 1:
        t_kin = mass * np.sum(v * v) / (3 * n - 3)
        v *= np.sqrt(temperature / t_kin)
    return v


def kinetic_temperature(velocities: np.ndarray, mass: float = 1.0) -> float:
    """Instantaneous temperature with 3N − 3 degrees of freedom [ε_AA/k_B]."""
    n = len(velocities)
    return float(mass * np.sum(velocities * velocities) / (3 * n - 3))
