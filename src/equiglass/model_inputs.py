"""What a model sees of a configuration: one path, used by training and by prediction alike.

A configuration becomes a model input in two stages, each one function here:

1. :func:`model_configuration`: the positions the model reads (``inputs.positions``): thermal
   (as given), inherent (the FIRE energy minimum, :func:`minimize`) or cage (positions averaged
   over short NVE runs, :func:`cage_state`). The pipeline writes stage 1 to a GSD file
   (``inherent.gsd``, ``cage.gsd``); prediction keeps it in memory, rounded as a GSD file
   stores it (:func:`as_stored`), so both paths give the same numbers.
2. :func:`model_inputs`: the radius graph (``graph_cutoff`` [σ_AA]), the invariant descriptors
   and, with ``inputs.local_energy``, each particle's potential energy [ε_AA] at those
   positions (shifted LJ, half of each pair) as an extra node input and descriptor column.

The settings (:class:`InputSettings`) are recorded in every model file (``info["inputs"]``), so a
prediction rebuilds exactly what the model was trained on, with the same MD engine settings
and minimizer tolerances.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .descriptors import DescriptorSettings, compute_descriptors
from .files import InputError
from .graphs import Graph, build_graph
from .md import MDSettings
from .provenance import derive_seed
from .state import State, maxwell_boltzmann

POSITIONS = ("thermal", "inherent", "cage")


@dataclass(frozen=True)
class Minimizer:
    """FIRE energy minimization to an inherent structure: stop when the largest force is below
    ``ftol`` [ε_AA/σ_AA] (or the relative energy change below ``etol``), at most ``max_steps``."""

    etol: float = 0.0
    ftol: float = 1e-6
    max_steps: int = 200_000


@dataclass(frozen=True)
class InputSettings:
    """How a configuration becomes a model input (recorded in model files as ``info["inputs"]``).

    positions : ``thermal``, ``inherent`` or ``cage``; local_energy : add per-particle potential
    energies; graph_cutoff : radius graph cutoff [σ_AA]; descriptors : settings of the invariant
    descriptors (:class:`~equiglass.descriptors.DescriptorSettings` fields); md : MD engine
    settings for minimization and energies (:class:`~equiglass.md.MDSettings` fields);
    minimizer : :class:`Minimizer` fields; cage : ``cage_time`` [τ], ``cage_frames``,
    ``cage_replicas`` of cage states.
    """

    positions: str = "thermal"
    local_energy: bool = False
    graph_cutoff: float = 2.0
    descriptors: dict[str, Any] = field(default_factory=dict)
    md: dict[str, Any] = field(default_factory=dict)
    minimizer: dict[str, Any] = field(default_factory=dict)
    cage: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_record(cls, inputs: dict[str, Any]) -> InputSettings:
        """From the record of :meth:`record` (step settings ``inputs``, model files' ``info["inputs"]``;
        model files written before ``md``/``minimizer`` were recorded get the defaults they were
        trained with: LAMMPS, ``ftol`` 1e-6)."""
        if inputs.get("positions", "thermal") not in POSITIONS:
            raise InputError(f"unknown input positions {inputs.get('positions')!r}; retrain the model")
        return cls(positions=inputs.get("positions", "thermal"), local_energy=bool(inputs.get("local_energy")),
                   graph_cutoff=float(inputs["graph_cutoff"]), descriptors=dict(inputs.get("descriptors") or {}),
                   md=dict(inputs.get("md") or {}), minimizer=dict(inputs.get("minimizer") or {}),
                   cage=dict(inputs.get("cage") or {}))

    def md_settings(self) -> MDSettings:
        return MDSettings(**self.md)

    def descriptor_settings(self) -> DescriptorSettings:
        d = dict(self.descriptors)
        if "l_values" in d:
            d["l_values"] = tuple(d["l_values"])
        return DescriptorSettings(**d)

    def record(self) -> dict[str, Any]:
        """The JSON-able record stored in model files."""
        return asdict(self)


@dataclass
class ModelInputs:
    """graph; descriptors (N, D) float64 and their names; extra node inputs (N, k) or None."""

    graph: Graph
    descriptors: np.ndarray
    names: list[str]
    extra: np.ndarray | None


def as_stored(state: State) -> State:
    """The configuration as a GSD file stores and returns it (float32 positions, no velocities)."""
    return State(state.positions.astype(np.float32).astype(np.float64), state.types, state.box.copy(),
                 None, state.image.copy(), state.step, dict(state.log))


def minimize(state: State, md: MDSettings, minimizer: Minimizer | None = None) -> tuple[State, np.ndarray, float]:
    """Inherent structure of ``state``: (minimized state without velocities, per-particle
    energies (N,) [ε_AA] at the minimum, potential energy per particle U_IS/N [ε_AA])."""
    m = minimizer or Minimizer()
    with md.engine_for(state, seed=0) as eng:
        u_is = eng.minimize(etol=m.etol, ftol=m.ftol, max_steps=m.max_steps)
        final = eng.get_state()
        energy = eng.per_particle_energy()
    final.velocities = None
    return final, energy, u_is


def local_energies(state: State, md: MDSettings) -> np.ndarray:
    """Per-particle potential energy (N,) [ε_AA] of a configuration (shifted LJ, half per pair)."""
    with md.engine_for(state, seed=0) as eng:
        return eng.per_particle_energy()


def cage_state(state: State, md: MDSettings, temperature: float, seed: int, cage_time: float = 1.0,
               cage_frames: int = 20, cage_replicas: int = 4) -> tuple[State, np.ndarray]:
    """Cage state and the mean displacement (N, 3) [σ_AA] that made it from the configuration.

    ``cage_replicas`` runs of ``cage_time`` [τ] with fresh Maxwell–Boltzmann velocities at T
    (seeded), each sampled at ``cage_frames`` equally spaced times; unwrapped displacements are
    averaged over frames and runs and added to the positions, then wrapped into the box. Should
    be shorter than the cage-escape time (the MSD plateau), as the cage states of GlassBench.
    After R. M. Alkemade, F. Smallenburg, L. Filion, J. Chem. Phys. 158, 134512 (2023).
    """
    total = np.zeros_like(state.positions)
    count = 0
    n_steps = md.steps(cage_time)
    frame_steps = np.linspace(0, n_steps, cage_frames + 1)[1:].round().astype(int)
    for r in range(cage_replicas):
        rseed = derive_seed(int(seed), "cage", r)
        start = State(state.positions, state.types, state.box,
                      maxwell_boltzmann(state.n, temperature, np.random.default_rng(rseed)))
        with md.engine_for(start, rseed) as eng:
            eng.set_integrator("nve")
            r0 = eng.get_state().unwrapped()
            done = 0
            for s in frame_steps:
                eng.run(int(s - done))
                done = int(s)
                total += eng.get_state().unwrapped() - r0
                count += 1
    mean_disp = total / count
    return State(state.positions + mean_disp, state.types, state.box).wrapped(), mean_disp


def model_configuration(state: State, settings: InputSettings) -> State:
    """Stage 1 for a configuration held in memory (prediction): the positions the model reads,
    rounded as the pipeline's GSD file of that stage would store them."""
    if settings.positions == "thermal":
        return state
    if settings.positions == "inherent":
        return as_stored(minimize(state, settings.md_settings(), Minimizer(**settings.minimizer))[0])
    raise InputError("cage-state inputs need the configuration's dynamics at its temperature; compute them "
                     "with the pipeline (`inputs.positions: cage`) or predict from cage states you give")


def model_inputs(state: State, settings: InputSettings, descriptors: bool = True) -> ModelInputs:
    """Stage 2: graph, descriptors (if ``descriptors``) and local energies of ``state``."""
    graph = build_graph(state, settings.graph_cutoff)
    if descriptors:
        desc, names = compute_descriptors(state, settings.descriptor_settings())
    else:
        desc, names = np.zeros((state.n, 0)), []
    extra = None
    if settings.local_energy:
        extra = local_energies(state, settings.md_settings())[:, None]
        if descriptors:
            desc = np.concatenate([desc, extra], axis=1)
            names = [*names, "local_energy"]
    return ModelInputs(graph, desc, names, extra)


__all__ = ["POSITIONS", "InputSettings", "Minimizer", "ModelInputs", "as_stored", "cage_state", "local_energies",
           "minimize", "model_configuration", "model_inputs"]
