"""Particle configurations, Maxwell–Boltzmann velocities and their GSD files.

Conventions (those of GSD/HOOMD): positions (N, 3) lie in [-L/2, L/2) of an orthorhombic box
``box`` (3,) [σ_AA]; ``image`` (N, 3) int32 counts box crossings, so the unwrapped position is
``position + image * box``; velocities (N, 3) [σ_AA/τ]; types (N,) int32 (0 = A, 1 = B).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import gsd.hoomd
import numpy as np

from .files import InputError, atomic_path
from .ka import TYPE_NAMES

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


def _to_frame(state: State, log: dict[str, Any] | None = None) -> gsd.hoomd.Frame:
    frame = gsd.hoomd.Frame()
    frame.configuration.step = int(state.step)
    frame.configuration.box = [*state.box.tolist(), 0.0, 0.0, 0.0]
    frame.particles.N = state.n
    frame.particles.types = list(TYPE_NAMES)
    frame.particles.typeid = state.types.astype(np.uint32)
    frame.particles.position = state.positions.astype(np.float32)
    frame.particles.image = state.image.astype(np.int32)
    frame.particles.mass = np.ones(state.n, dtype=np.float32)
    if state.velocities is not None:
        frame.particles.velocity = state.velocities.astype(np.float32)
    merged = {**state.log, **(log or {})}
    for key, value in merged.items():
        frame.log[key] = np.asarray(value)
    return frame


def write_gsd(
    path: str | os.PathLike[str],
    states: State | list[State],
    logs: list[dict[str, Any]] | None = None,
) -> None:
    """Write one or several frames to a new GSD file, atomically.

    ``logs`` holds per-frame extra log quantities (e.g. ``{"equiglass/time": 1.5}``).
    Positions and velocities are stored as float32 (the GSD format).
    """
    frames = [states] if isinstance(states, State) else list(states)
    logs = logs or [{}] * len(frames)
    with atomic_path(path) as tmp, gsd.hoomd.open(tmp, mode="w") as traj:
        for st, lg in zip(frames, logs, strict=True):
            traj.append(_to_frame(st, lg))


def _frame_to_state(frame: gsd.hoomd.Frame, source: str) -> State:
    box = np.asarray(frame.configuration.box, dtype=np.float64)
    if np.any(box[3:] != 0):
        raise InputError(f"{source}: triclinic boxes are not supported (tilts {box[3:]}); use an orthorhombic box")
    names = list(frame.particles.types)
    typeid = np.asarray(frame.particles.typeid, dtype=np.int32)
    if names[:2] != list(TYPE_NAMES)[: len(names[:2])] and len(names) > 0:
        # map by name when the file uses other type orders
        lookup = {name: i for i, name in enumerate(TYPE_NAMES)}
        try:
            remap = np.array([lookup[name] for name in names], dtype=np.int32)
        except KeyError as err:
            raise InputError(f"{source}: particle types {names} are not A/B; name the types A and B") from err
        typeid = remap[typeid]
    vel = frame.particles.velocity
    velocities = None if vel is None or not np.any(vel) else np.asarray(vel, dtype=np.float64)
    log = {k: np.asarray(v) for k, v in frame.log.items()}
    state = State(
        positions=np.asarray(frame.particles.position, dtype=np.float64),
        types=typeid,
        box=box[:3],
        velocities=velocities,
        image=np.asarray(frame.particles.image, dtype=np.int32),
        step=int(frame.configuration.step or 0),
        log=log,
    )
    state.check(source)
    return state


def read_gsd(path: str | os.PathLike[str], frame: int = -1) -> State:
    """Read one frame of a GSD file as a State (checked for NaN, box and types)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: file not found; check the path, or rerun the step that makes it")
    try:
        with gsd.hoomd.open(p, mode="r") as traj:
            if len(traj) == 0:
                raise InputError(f"{p}: GSD file has no frames (interrupted write?); rerun its step")
            return _frame_to_state(traj[frame], str(p))
    except InputError:
        raise
    except Exception as err:
        raise InputError(
            f"{p}: cannot read GSD file ({type(err).__name__}: {err}); it is truncated or "
            "corrupt: delete it and rebuild it (`snakemake <that file>`)"
        ) from err


def read_gsd_frames(path: str | os.PathLike[str]) -> list[State]:
    """Read every frame of a GSD file."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: file not found; check the path")
    try:
        with gsd.hoomd.open(p, mode="r") as traj:
            return [_frame_to_state(f, f"{p} frame {k}") for k, f in enumerate(traj)]
    except InputError:
        raise
    except Exception as err:
        raise InputError(f"{p}: cannot read GSD file ({type(err).__name__}: {err}); it is truncated or corrupt: "
                         "delete it and rebuild it (`snakemake <that file>`)") from err
