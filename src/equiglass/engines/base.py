"""The small interface every MD engine implements (LAMMPS, HOOMD-blue, ...).

An engine holds one KA system in memory. Units are reduced LJ units (see ``equiglass.ka``);
arrays follow the conventions of ``equiglass.state`` (positions in [-L/2, L/2), images, ids
in input order). Integrators: ``nve`` (velocity Verlet) and ``nvt`` (Nosé–Hoover chain with
time constant ``tau`` [τ], or Bussi's stochastic velocity rescaling with ``thermostat="bussi"``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from ..ka import KA, KobAndersen
from ..state import State


class MDBlowUp(RuntimeError):
    """The integration became unstable; the message names step, quantity and particle."""


@dataclass(frozen=True)
class Thermo:
    """Instantaneous thermodynamics: energies per particle [ε_AA], T [ε_AA/k_B], P [ε_AA/σ³]."""

    step: int
    potential_energy: float
    kinetic_energy: float
    temperature: float
    pressure: float

    @property
    def total_energy(self) -> float:
        return self.potential_energy + self.kinetic_energy


class Engine(ABC):
    """Abstract MD engine for the KA mixture.

    Parameters
    ----------
    state : starting configuration (positions, types, box; velocities optional).
    model : pair parameters; dt : time step [τ]; seed : thermostat seed;
    threads : CPU threads (1 lets Snakemake run jobs side by side); skin : neighbour skin [σ_AA].
    """

    name: str = "abstract"

    def __init__(
        self,
        state: State,
        model: KobAndersen = KA,
        dt: float = 0.005,
        seed: int = 0,
        threads: int = 1,
        skin: float = 0.3,
        device: str = "cpu",
    ) -> None:
        state.check(f"{self.name} input")
        self.model = model
        self.dt = float(dt)
        self.seed = int(seed)
        self.threads = int(threads)
        self.skin = float(skin)
        self.device = device
        self.n = state.n
        self.types = state.types.copy()
        self.box = state.box.copy()
        if np.any(self.box < 2 * (model.max_rcut + self.skin)):
            raise ValueError(
                f"box {self.box} is smaller than 2 (r_c + skin) = {2 * (model.max_rcut + self.skin)}:"
                " use more particles"
            )

    # ----------------------------------------------------------------- state
    @abstractmethod
    def get_state(self) -> State:
        """Current positions (wrapped), images, velocities and step."""

    @abstractmethod
    def set_positions(self, positions: np.ndarray, image: np.ndarray | None = None) -> None:
        """Replace positions (N, 3) in [-L/2, L/2) and images (N, 3)."""

    @abstractmethod
    def set_velocities(self, velocities: np.ndarray) -> None:
        """Replace velocities (N, 3) [σ_AA/τ]."""

    # ----------------------------------------------------------- integration
    @abstractmethod
    def set_integrator(
        self, kind: str, temperature: float | None = None, tau: float = 0.5, thermostat: str = "nose-hoover"
    ) -> None:
        """Select ``nve`` or ``nvt`` (at ``temperature``, thermostat time ``tau`` [τ])."""

    @abstractmethod
    def run(self, steps: int) -> None:
        """Advance ``steps`` time steps with the current integrator."""

    @abstractmethod
    def minimize(self, etol: float = 1e-12, ftol: float = 1e-8, max_steps: int = 100_000) -> float:
        """Minimize the potential energy (FIRE or CG); return U/N at the minimum [ε_AA]."""

    @abstractmethod
    def thermo(self) -> Thermo:
        """Current thermodynamic state (energies per particle)."""

    @abstractmethod
    def energy_forces(self) -> tuple[float, np.ndarray]:
        """Total potential energy [ε_AA] and forces (N, 3) [ε_AA/σ_AA] in input order."""

    @abstractmethod
    def per_particle_energy(self) -> np.ndarray:
        """Potential energy of each particle (N,) [ε_AA]: half of each pair term, summing to U."""

    @property
    @abstractmethod
    def step(self) -> int:
        """Time steps taken since the engine was built (plus the input state's step)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release engine resources."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
