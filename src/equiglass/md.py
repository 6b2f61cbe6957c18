"""Engine-independent MD: settings, NVT phases in checkpointed segments, blow-up checks.

The protocols built on it live in :mod:`equiglass.equilibration` (melt, quench, equilibrate,
ageing check) and :mod:`equiglass.iso` (iso-configurational replicas).

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
from .devices import check_budget
from .engines import make_engine, resolve_engine
from .engines.base import Engine, MDBlowUp, Thermo
from .files import InputError, load_npz, metadata_from_npz, save_npz
from .ka import KA, box_length, lattice_positions, random_types
from .progress import Reporter
from .provenance import derive_seed
from .state import State, maxwell_boltzmann


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
    longest = 0.0  # wall time of the longest segment so far [s]
    for k in range(done["phase"], len(phases)):
        ph = phases[k]
        n_steps = md.steps(ph.duration)
        log_steps = max(md.steps(ph.log_every), 1)
        start = done["steps"] if k == done["phase"] else 0
        while start < n_steps:
            n_seg = min(seg_steps, n_steps - start)
            segment = done["segment"]
            seg_start = time.perf_counter()
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
                longest = max(longest, time.perf_counter() - seg_start)
                if before < total:  # SegmentDone: the job's resubmission resumes from ckpt
                    check_budget(longest, label, "MD segment")
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


def resolved_md(md: MDSettings) -> MDSettings:
    """Settings with ``engine='auto'`` replaced by the engine that will run (for provenance)."""
    from dataclasses import replace

    return replace(md, engine=resolve_engine(md.engine))


__all__ = [
    "KA", "MDBlowUp", "MDSettings", "Phase", "ThermoLog", "check_thermo", "equilibration_phases", "initial_state",
    "resolved_md", "run_phases", "worst_particle",
]
