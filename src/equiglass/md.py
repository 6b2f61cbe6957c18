"""Engine-independent MD protocols: preparation, equilibration and iso-configurational runs.

All times are in τ (reduced LJ units) and converted to steps with the time step ``dt``.
Long runs proceed in *segments*: at each segment boundary the state (float64 positions,
images, velocities) is checkpointed and the engine is rebuilt from it, so a run resumed from a
checkpoint is bit-for-bit the run that was never interrupted (Nosé–Hoover chain variables
restart at each boundary in both cases; Bussi's thermostat is reseeded per segment).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoints import accept, discard, fingerprint
from .engines import make_engine, resolve_engine
from .engines.base import Engine, MDBlowUp, Thermo
from .files import InputError, load_npz, metadata_from_npz, save_npz
from .ka import KA, box_length, lattice_positions, random_types
from .progress import Reporter
from .provenance import derive_seed
from .state import State, maxwell_boltzmann

Q_FS = 7.25  # wave number of the self-intermediate scattering function [1/σ_AA]


@dataclass(frozen=True)
class MDSettings:
    """How the engine integrates.

    engine : ``lammps``, ``hoomd`` or ``auto``; dt : time step [τ]; thermostat :
    ``nose-hoover`` or ``bussi``; tau_thermostat : thermostat time constant [τ]; threads : CPU
    threads per job; skin : neighbour-list skin [σ_AA]; device : ``cpu``, ``gpu`` or ``auto``;
    segment_time : checkpoint/restart interval of long runs [τ]; retry_smaller_dt : rerun an
    equilibration that blew up once with dt/2 (recorded in the provenance).
    """

    engine: str = "lammps"
    dt: float = 0.005
    thermostat: str = "nose-hoover"
    tau_thermostat: float = 0.5
    threads: int = 1
    skin: float = 0.3
    device: str = "cpu"
    segment_time: float = 100.0
    retry_smaller_dt: bool = True

    def steps(self, duration: float) -> int:
        """Number of steps covering ``duration`` [τ] (at least 1 when duration > 0)."""
        return max(int(round(duration / self.dt)), 1 if duration > 0 else 0)

    def engine_for(self, state: State, seed: int) -> Engine:
        return make_engine(
            self.engine, state, dt=self.dt, seed=seed, threads=self.threads,
            skin=self.skin, device=self.device,
        )


@dataclass(frozen=True)
class Phase:
    """One NVT stage of a preparation: ``duration`` [τ] at ``temperature``; log every ``log_every`` [τ]."""

    name: str
    temperature: float
    duration: float
    log_every: float = 1.0


@dataclass
class ThermoLog:
    """Rows of (phase, step, time [τ], U/N, K/N, T, P)."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, phase: str, th: Thermo, dt: float) -> None:
        self.rows.append(
            {
                "phase": phase,
                "step": th.step,
                "time": th.step * dt,
                "potential_energy": th.potential_energy,
                "kinetic_energy": th.kinetic_energy,
                "temperature": th.temperature,
                "pressure": th.pressure,
            }
        )

    def to_csv(self) -> str:
        cols = ["phase", "step", "time", "potential_energy", "kinetic_energy", "temperature", "pressure"]
        lines = [",".join(cols)]
        for r in self.rows:
            lines.append(",".join(str(r[c]) if isinstance(r[c], str | int) else f"{r[c]:.10g}" for c in cols))
        return "\n".join(lines) + "\n"

    def phase_array(self, phase: str, key: str) -> np.ndarray:
        return np.array([r[key] for r in self.rows if r["phase"] == phase])


def check_thermo(th: Thermo, target_t: float | None, where: str, previous: Thermo | None = None) -> None:
    """Raise MDBlowUp on non-finite or absurd thermodynamics, or an energy jump since ``previous``."""
    values = (th.potential_energy, th.kinetic_energy, th.pressure)
    if not all(math.isfinite(v) for v in values):
        raise MDBlowUp(f"{where}: non-finite energy/pressure at step {th.step}: {th}")
    if th.potential_energy > 50.0:
        raise MDBlowUp(f"{where}: potential energy per particle {th.potential_energy:.3g} > 50 at "
                       f"step {th.step} (overlapping particles); try a smaller md.dt")
    if target_t is not None and th.temperature > 5 * max(target_t, 0.2):
        raise MDBlowUp(f"{where}: temperature {th.temperature:.3g} far above target {target_t} at "
                       f"step {th.step}; try a smaller md.dt")
    if previous is not None and abs(th.total_energy - previous.total_energy) > 1.0:
        raise MDBlowUp(f"{where}: total energy per particle jumped from {previous.total_energy:.4g} to "
                       f"{th.total_energy:.4g} between steps {previous.step} and {th.step}; try a smaller md.dt")


def worst_particle(eng: Engine) -> str:
    """The particle with non-finite coordinates or the largest force, for blow-up messages."""
    try:
        st = eng.get_state()
        bad = np.flatnonzero(~np.isfinite(st.positions).all(axis=1))
        if len(bad):
            return f"particle {int(bad[0])} has non-finite position {st.positions[bad[0]].tolist()}"
        _, f = eng.energy_forces()
        norms = np.linalg.norm(f, axis=1)
        i = int(np.nanargmax(norms)) if np.isfinite(norms).any() else 0
        return f"largest force |F| = {norms[i]:.3g} on particle {i} (type {'AB'[int(st.types[i])]})"
    except Exception as err:  # the engine itself may be unusable after a blow-up
        return f"(no particle diagnostics: {type(err).__name__})"


# ---------------------------------------------------------------------------- preparation
def _state_arrays(state: State) -> list[np.ndarray]:
    """The arrays that define a starting configuration (for checkpoint fingerprints)."""
    arrays = [state.positions, state.types, state.box, state.image]
    return arrays if state.velocities is None else [*arrays, state.velocities]


def initial_state(n_particles: int, density: float, seed: int) -> State:
    """A simple-cubic lattice start with random A/B types (seeded), at density ρ [σ_AA⁻³]."""
    rng = np.random.default_rng(seed)
    box = box_length(n_particles, density)
    return State(lattice_positions(n_particles, box, rng), random_types(n_particles, rng), np.full(3, box))


def _save_checkpoint(path: Path, state: State, log: ThermoLog, progress: dict[str, Any]) -> None:
    import json

    save_npz(
        path,
        positions=state.positions,
        image=state.image,
        velocities=state.velocities,
        types=state.types,
        box=state.box,
        step=np.int64(state.step),
        metadata=json.dumps({"progress": progress, "thermo": log.rows}),
    )


def _load_checkpoint(path: Path, label: str) -> tuple[State, ThermoLog, dict[str, Any]] | None:
    if not path.exists():
        return None
    try:
        data = load_npz(path, required=("positions", "image", "velocities", "types", "box", "step"))
    except InputError as err:
        discard(path, f"unreadable ({err})", label)  # start over rather than trust it
        return None
    meta = metadata_from_npz(data)
    state = State(
        data["positions"], data["types"], data["box"], data["velocities"], data["image"], int(data["step"])
    )
    return state, ThermoLog(meta["thermo"]), meta["progress"]


def run_phases(
    state: State,
    phases: list[Phase],
    md: MDSettings,
    seed: int,
    label: str,
    checkpoint: str | Path | None = None,
    minimize_first: bool = False,
) -> tuple[State, ThermoLog]:
    """Run NVT phases in checkpointed segments; resume from ``checkpoint`` if it exists.

    The checkpoint records the fingerprint of the seed, phases, MD settings and starting
    configuration (:mod:`equiglass.checkpoints`) and is only resumed when they all match.
    Returns the final state (with velocities) and the thermodynamic log of all phases.
    """
    ckpt = Path(checkpoint) if checkpoint else None
    signature = fingerprint(settings={"seed": seed, "phases": [asdict(p) for p in phases], "md": asdict(md),
                                      "minimize_first": minimize_first},
                            start_configuration=_state_arrays(state))
    log = ThermoLog()
    done = {"phase": 0, "steps": 0, "segment": 0}
    resumed = _load_checkpoint(ckpt, label) if ckpt else None
    if resumed is not None and accept(ckpt, resumed[2].get("signature"), signature, label):
        state, log, done = resumed[0], resumed[1], resumed[2]
        print(f"[{label}] resuming from {ckpt} at phase {done['phase']} step {done['steps']}", file=sys.stderr, flush=True)
    else:
        rng = np.random.default_rng(derive_seed(seed, "velocities"))
        if minimize_first:
            with md.engine_for(state, seed) as eng:
                eng.minimize()
                state = eng.get_state()
                state.velocities = None
        if state.velocities is None:
            state.velocities = maxwell_boltzmann(state.n, phases[0].temperature, rng)
    total = sum(md.steps(p.duration) for p in phases)
    before = sum(md.steps(p.duration) for p in phases[: done["phase"]]) + done["steps"]
    seg_steps = md.steps(md.segment_time)
    rep = Reporter(label, total, "steps")
    t0 = time.perf_counter()
    for k in range(done["phase"], len(phases)):
        ph = phases[k]
        n_steps = md.steps(ph.duration)
        log_steps = max(md.steps(ph.log_every), 1)
        start = done["steps"] if k == done["phase"] else 0
        while start < n_steps:
            n_seg = min(seg_steps, n_steps - start)
            segment = done["segment"]
            with md.engine_for(state, derive_seed(seed, "segment", segment)) as eng:
                eng.set_integrator("nvt", ph.temperature, md.tau_thermostat, md.thermostat)
                ran = 0
                while ran < n_seg:
                    chunk = min(log_steps, n_seg - ran)
                    try:
                        eng.run(chunk)
                        th = eng.thermo()
                        check_thermo(th, ph.temperature, f"{label} phase {ph.name}")
                    except MDBlowUp as err:
                        where = f"; last good checkpoint: {ckpt}" if ckpt is not None and ckpt.exists() else ""
                        raise MDBlowUp(f"{err}; {worst_particle(eng)}{where}") from None
                    ran += chunk
                    log.add(ph.name, th, md.dt)
                    before += chunk
                    rate = before / max(time.perf_counter() - t0, 1e-9)
                    rep.update(before, phase=ph.name, U=th.potential_energy, T=th.temperature,
                               steps_per_s=round(rate))
                state = eng.get_state()
            start += n_seg
            done = {"phase": k, "steps": start, "segment": segment + 1, "signature": signature}
            if ckpt is not None:
                _save_checkpoint(ckpt, state, log, done)
        done = {"phase": k + 1, "steps": 0, "segment": done["segment"], "signature": signature}
    rep.close(f"{total} steps")
    return state, log


def equilibration_phases(
    temperature: float,
    equilibration_time: float,
    melt_temperature: float = 2.0,
    melt_time: float = 20.0,
    log_every: float = 1.0,
) -> list[Phase]:
    """Melt at ``melt_temperature`` for ``melt_time`` [τ], then quench and equilibrate at T."""
    phases = []
    if melt_time > 0:
        phases.append(Phase("melt", melt_temperature, melt_time, log_every))
    phases.append(Phase("equilibrate", temperature, equilibration_time, log_every))
    return phases


# ----------------------------------------------------------------------- iso-configurational
def log_time_steps(t_max: float, dt: float, points_per_decade: int = 10) -> np.ndarray:
    """Log-spaced unique step counts from 1 to t_max/dt (int64, increasing, first = 1)."""
    n_max = max(int(round(t_max / dt)), 1)
    n_points = max(int(math.ceil(points_per_decade * math.log10(max(n_max, 10)))) + 1, 2)
    steps = np.unique(np.round(np.logspace(0, math.log10(n_max), n_points)).astype(np.int64))
    return steps


def self_intermediate_scattering(disp_norm: np.ndarray, q: float = Q_FS) -> np.ndarray:
    """Isotropic F_s = ⟨sin(q r)/(q r)⟩ per particle for displacement norms ``disp_norm``."""
    return np.sinc(q * disp_norm / np.pi)


@dataclass
class IsoSums:
    """Replica sums over an iso-configurational batch (mergeable across batches).

    times : (n_t,) [τ]; sum1/sum2/sum4 : (n_t, N) sums over replicas of |Δr|, |Δr|², |Δr|⁴;
    fs, msd : (R, n_t, 2) per replica and species (A, B); seeds : (R,); energy_drift : (R,)
    relative total-energy drift of each NVE replica.
    """

    times: np.ndarray
    sum1: np.ndarray
    sum2: np.ndarray
    sum4: np.ndarray
    fs: np.ndarray
    msd: np.ndarray
    seeds: np.ndarray
    energy_drift: np.ndarray
    replicas: np.ndarray

    @property
    def n_replicas(self) -> int:
        return len(self.seeds)


def iso_replica(
    state: State,
    temperature: float,
    steps: np.ndarray,
    md: MDSettings,
    seed: int,
    trajectory: list[State] | None = None,
) -> tuple[np.ndarray, float]:
    """One NVE replica from ``state`` with fresh Maxwell–Boltzmann velocities (seeded).

    Returns displacement norms |r_i(t) − r_i(0)| (n_t, N) on unwrapped positions and the
    relative total-energy drift. Appends frames to ``trajectory`` when given.
    """
    rng = np.random.default_rng(seed)
    start = State(state.positions, state.types, state.box, maxwell_boltzmann(state.n, temperature, rng))
    disp = np.empty((len(steps), state.n), dtype=np.float64)
    with md.engine_for(start, seed) as eng:
        eng.set_integrator("nve")
        r0 = eng.get_state().unwrapped()
        th0 = eng.thermo()
        e0 = th0.total_energy
        current = 0
        for k, s in enumerate(steps):
            eng.run(int(s - current))
            current = int(s)
            if k % 8 == 7 or k == len(steps) - 1:  # NVE: the total energy must not jump
                try:
                    check_thermo(eng.thermo(), None, f"iso replica seed {seed}", th0)
                except MDBlowUp as err:
                    raise MDBlowUp(f"{err}; {worst_particle(eng)}") from None
            now = eng.get_state()
            d = now.unwrapped() - r0
            disp[k] = np.sqrt(np.einsum("ij,ij->i", d, d))
            if trajectory is not None:
                now.log = {"equiglass/time": np.array([s * md.dt], dtype=np.float64)}
                trajectory.append(now)
        th = eng.thermo()
    drift = abs(th.total_energy - e0) / max(abs(e0), 1e-12)
    return disp, drift


def isoconfigurational(
    state: State,
    temperature: float,
    t_max: float,
    replicas: list[int],
    md: MDSettings,
    seed: int,
    points_per_decade: int = 10,
    label: str = "iso",
    checkpoint: str | Path | None = None,
    trajectory: list[State] | None = None,
) -> IsoSums:
    """Run the replicas ``replicas`` (indices) of an iso-configurational ensemble in NVE.

    Replica r uses velocity seed ``derive_seed(seed, "replica", r)`` so batches of replicas
    run anywhere combine into the same ensemble. Finished replicas are checkpointed.
    """
    steps = log_time_steps(t_max, md.dt, points_per_decade)
    n_t, n = len(steps), state.n
    types = state.types
    sums = IsoSums(
        times=steps * md.dt,
        sum1=np.zeros((n_t, n)), sum2=np.zeros((n_t, n)), sum4=np.zeros((n_t, n)),
        fs=np.zeros((0, n_t, 2)), msd=np.zeros((0, n_t, 2)),
        seeds=np.zeros(0, np.int64), energy_drift=np.zeros(0), replicas=np.zeros(0, np.int64),
    )
    ckpt = Path(checkpoint) if checkpoint else None
    # a replica's result depends on these only (its velocity seed is derived from `seed` and its index)
    signature = fingerprint(settings={"temperature": temperature, "steps": steps, "md": asdict(md), "seed": seed},
                            start_configuration=[state.positions, state.types, state.box])
    if ckpt is not None and ckpt.exists():
        try:
            old, meta = load_iso(ckpt), metadata_from_npz(load_npz(ckpt, required=("metadata",)))
        except (InputError, ValueError) as err:
            discard(ckpt, f"unreadable ({err})", label)
        else:
            if trajectory is not None:
                discard(ckpt, "a trajectory is requested, so every replica must run again", label)
            elif accept(ckpt, meta.get("signature"), signature, label):
                if not set(old.replicas.tolist()) <= set(replicas):
                    discard(ckpt, f"it holds replicas {old.replicas.tolist()} outside this batch {replicas}", label)
                else:
                    sums = old
                    print(f"[{label}] resuming: {old.n_replicas} replicas already done", file=sys.stderr, flush=True)
    todo = [r for r in replicas if r not in set(sums.replicas.tolist())]
    rep = Reporter(label, len(replicas), "replicas")
    rep.update(len(replicas) - len(todo))
    for r in todo:
        rseed = derive_seed(seed, "replica", r)
        disp, drift = iso_replica(state, temperature, steps, md, rseed, trajectory)
        sums.sum1 += disp
        sums.sum2 += disp**2
        sums.sum4 += disp**4
        fs = np.stack([self_intermediate_scattering(disp[:, types == a]).mean(axis=1) for a in (0, 1)], -1)
        msd = np.stack([(disp[:, types == a] ** 2).mean(axis=1) for a in (0, 1)], -1)
        sums.fs = np.concatenate([sums.fs, fs[None]])
        sums.msd = np.concatenate([sums.msd, msd[None]])
        sums.seeds = np.append(sums.seeds, rseed)
        sums.energy_drift = np.append(sums.energy_drift, drift)
        sums.replicas = np.append(sums.replicas, r)
        if ckpt is not None:
            save_iso(ckpt, sums, types, {"checkpoint": True, "signature": signature})
        rep.update(sums.n_replicas, fs_A_last=float(fs[-1, 0]), drift=drift)
    rep.close(f"{sums.n_replicas} replicas x {steps[-1]} steps")
    return sums


def save_iso(path: str | Path, sums: IsoSums, types: np.ndarray, metadata: dict[str, Any]) -> None:
    import json

    save_npz(
        path,
        times=sums.times, sum1=sums.sum1, sum2=sums.sum2, sum4=sums.sum4, fs=sums.fs, msd=sums.msd,
        seeds=sums.seeds, energy_drift=sums.energy_drift, replicas=sums.replicas, types=types,
        metadata=json.dumps(metadata, default=str),
    )


ISO_KEYS = ("times", "sum1", "sum2", "sum4", "fs", "msd", "seeds", "energy_drift", "replicas", "types")


def load_iso(path: str | Path) -> IsoSums:
    data = load_npz(path, required=ISO_KEYS)
    return IsoSums(**{k: data[k] for k in ISO_KEYS if k != "types"})


def merge_iso(parts: list[IsoSums]) -> IsoSums:
    """Combine batches of replicas of the same configuration (same time grid)."""
    first = parts[0]
    for p in parts[1:]:
        if not np.array_equal(p.times, first.times):
            raise InputError("iso-configurational batches have different time grids; rerun them together")
    seen = np.concatenate([p.replicas for p in parts])
    if len(np.unique(seen)) != len(seen):
        raise InputError(f"replica indices repeat across batches: {sorted(seen.tolist())}")
    return IsoSums(
        times=first.times,
        sum1=sum(p.sum1 for p in parts), sum2=sum(p.sum2 for p in parts), sum4=sum(p.sum4 for p in parts),
        fs=np.concatenate([p.fs for p in parts]), msd=np.concatenate([p.msd for p in parts]),
        seeds=np.concatenate([p.seeds for p in parts]),
        energy_drift=np.concatenate([p.energy_drift for p in parts]), replicas=seen,
    )


def resolved_md(md: MDSettings) -> MDSettings:
    """Settings with ``engine='auto'`` replaced by the engine that will run (for provenance)."""
    from dataclasses import replace

    return replace(md, engine=resolve_engine(md.engine))


__all__ = [
    "KA", "Q_FS", "IsoSums", "MDBlowUp", "MDSettings", "Phase", "ThermoLog", "equilibration_phases",
    "initial_state", "isoconfigurational", "load_iso", "log_time_steps", "merge_iso", "run_phases",
    "save_iso", "self_intermediate_scattering",
]
