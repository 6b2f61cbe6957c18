"""GSD files of the pipeline (HOOMD-blue conventions; readable by OVITO and HOOMD).

One frame = one :class:`~equiglass.state.State`: positions [σ_AA] in [-L/2, L/2) stored as float32,
image flags, velocities (float32), type names A/B, an orthorhombic box, and extra quantities in
the frame's log: per-frame values under ``equiglass/<name>`` and per-particle arrays under
``particles/<name>`` (stored as ``log/particles/<name>``, which OVITO shows as particle
properties).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gsd.hoomd
import numpy as np

from ..files import InputError, atomic_path
from ..ka import TYPE_NAMES
from ..state import State


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
