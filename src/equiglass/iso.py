"""Iso-configurational ensembles (Widmer-Cooper & Harrowell 2004; Bapst et al. 2020).

From one equilibrated configuration, R replicas with fresh Maxwell–Boltzmann velocities at T run
in NVE; unwrapped displacements |r_i(t) − r_i(0)| are recorded on a log-spaced time grid and
summed over replicas (:class:`IsoSums`), so batches of replicas run anywhere combine into one
ensemble. The sums over the replicas of even index are kept too (``even_sum1``, ``even_sum2``):
with the totals they give two disjoint halves of the ensemble, for the split-half check of the
propensity's reliability (:mod:`equiglass.ceiling`). Times in τ, displacements in σ_AA.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoints import accept, discard, fingerprint
from .devices import SegmentDone, budget_allows, check_budget
from .files import InputError, load_npz, metadata_from_npz, save_npz
from .md import MDBlowUp, MDSettings, check_thermo, worst_particle
from .progress import Reporter
from .provenance import derive_seed
from .state import State, maxwell_boltzmann

Q_FS = 7.25  # wave number of the self-intermediate scattering function [1/σ_AA] (first peak of S_AA(q))


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
    relative total-energy drift of each NVE replica; replicas : (R,) replica indices;
    even_sum1/even_sum2 : (n_t, N) sums of |Δr|, |Δr|² over the replicas of even index only
    (None in files written before they were kept).
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
    even_sum1: np.ndarray | None = None
    even_sum2: np.ndarray | None = None

    @property
    def n_replicas(self) -> int:
        return len(self.seeds)

    @property
    def has_halves(self) -> bool:
        """Whether the even-index sums are there (files written before they were kept lack them)."""
        return self.even_sum1 is not None and self.even_sum2 is not None


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
    workers: int = 1,
) -> IsoSums:
    """Run the replicas ``replicas`` (indices) of an iso-configurational ensemble in NVE.

    Replica r uses velocity seed ``derive_seed(seed, "replica", r)`` so batches of replicas
    run anywhere combine into the same ensemble. Finished replicas are checkpointed. With
    ``workers`` > 1 replicas run in that many processes at once (sharing the job's GPUs, one
    slot each); results are added in replica order, so the sums are the same bit for bit.
    """
    steps = log_time_steps(t_max, md.dt, points_per_decade)
    n_t, n = len(steps), state.n
    types = state.types
    sums = IsoSums(
        times=steps * md.dt,
        sum1=np.zeros((n_t, n)), sum2=np.zeros((n_t, n)), sum4=np.zeros((n_t, n)),
        fs=np.zeros((0, n_t, 2)), msd=np.zeros((0, n_t, 2)),
        seeds=np.zeros(0, np.int64), energy_drift=np.zeros(0), replicas=np.zeros(0, np.int64),
        even_sum1=np.zeros((n_t, n)), even_sum2=np.zeros((n_t, n)),
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
                elif not old.has_halves:
                    discard(ckpt, "it predates the even-replica sums", label)
                else:
                    sums = old
                    print(f"[{label}] resuming: {old.n_replicas} replicas already done", file=sys.stderr, flush=True)
    todo = [r for r in replicas if r not in set(sums.replicas.tolist())]
    rep = Reporter(label, len(replicas), "replicas")
    rep.update(len(replicas) - len(todo))

    def add(r: int, disp: np.ndarray, drift: float) -> None:
        """Accumulate replica r (always in replica order, so the sums do not depend on workers)."""
        rseed = derive_seed(seed, "replica", r)
        sums.sum1 += disp
        sums.sum2 += disp**2
        sums.sum4 += disp**4
        if r % 2 == 0:  # the two halves of the ensemble: even and odd replica indices
            sums.even_sum1 += disp
            sums.even_sum2 += disp**2
        fs = np.stack([self_intermediate_scattering(disp[:, types == a]).mean(axis=1) for a in (0, 1)], -1)
        msd = np.stack([(disp[:, types == a] ** 2).mean(axis=1) for a in (0, 1)], -1)
        sums.fs = np.concatenate([sums.fs, fs[None]])
        sums.msd = np.concatenate([sums.msd, msd[None]])
        sums.seeds = np.append(sums.seeds, rseed)
        sums.energy_drift = np.append(sums.energy_drift, drift)
        sums.replicas = np.append(sums.replicas, r)
        if ckpt is not None:
            save_iso(ckpt, sums, types, {"checkpoint": True, "signature": signature}, exact_halves=True)
        rep.update(sums.n_replicas, fs_A_last=float(fs[-1, 0]), drift=drift)

    if workers > 1 and len(todo) > 1 and trajectory is None:
        _run_parallel(todo, add, (state, temperature, steps, md, seed), min(workers, len(todo)), label,
                      ckpt is not None)
    else:
        longest = 0.0
        for k, r in enumerate(todo):
            t0 = time.perf_counter()
            disp, drift = iso_replica(state, temperature, steps, md, derive_seed(seed, "replica", r), trajectory)
            add(r, disp, drift)
            longest = max(longest, time.perf_counter() - t0)
            if ckpt is not None and k + 1 < len(todo):
                check_budget(longest, label, "replica")  # SegmentDone: the resubmitted job resumes
    rep.close(f"{sums.n_replicas} replicas x {steps[-1]} steps")
    return sums


def _replica_task(state: State, temperature: float, steps: np.ndarray, md: MDSettings, seed: int,
                  r: int) -> tuple[int, np.ndarray, float, float]:
    """One replica in a worker process: (r, displacement norms, energy drift, wall time [s])."""
    t0 = time.perf_counter()
    disp, drift = iso_replica(state, temperature, steps, md, derive_seed(seed, "replica", r))
    return r, disp, drift, time.perf_counter() - t0


def _run_parallel(todo: list[int], add, args: tuple, workers: int, label: str, checkpointed: bool) -> None:
    """Run replicas ``todo`` in ``workers`` processes (each claims its GPU slot), adding results
    in replica order. Near the time budget no new replica starts; the running ones finish, the
    finished prefix is checkpointed and :class:`~equiglass.devices.SegmentDone` is raised."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    print(f"[{label}] {len(todo)} replicas on {workers} worker processes", file=sys.stderr, flush=True)
    order, pending = list(todo), list(todo)
    finished: dict[int, tuple[np.ndarray, float]] = {}
    longest, stopped = 0.0, False
    # spawn: fresh processes (no inherited CUDA context or GPU slot lock)
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        running: dict = {}

        def submit() -> None:
            nonlocal stopped
            while pending and len(running) < workers and not stopped:
                if checkpointed and longest > 0 and not budget_allows(longest):
                    stopped = True
                    break
                r = pending.pop(0)
                running[pool.submit(_replica_task, *args, r)] = r

        submit()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                running.pop(fut)
                r, disp, drift, secs = fut.result()
                finished[r] = (disp, drift)
                longest = max(longest, secs)
            while order and order[0] in finished:
                r = order.pop(0)
                add(r, *finished.pop(r))
            submit()
    if stopped and pending:
        raise SegmentDone(f"[{label}] time budget: {len(pending)} replicas left for the next segment; "
                          "checkpoint saved")


def save_iso(path: str | Path, sums: IsoSums, types: np.ndarray, metadata: dict[str, Any],
             exact_halves: bool = False) -> None:
    """Write ``sums`` (.npz). The even-replica sums are stored as float32 (they only feed a
    correlation; this keeps the file 1/3 larger instead of 2/3), float64 with ``exact_halves``
    (checkpoints, so that a resumed batch ends bit for bit where an uninterrupted one does)."""
    import json

    halves = {}
    if sums.has_halves:
        dtype = np.float64 if exact_halves else np.float32
        halves = {"even_sum1": sums.even_sum1.astype(dtype), "even_sum2": sums.even_sum2.astype(dtype)}
    save_npz(
        path,
        times=sums.times, sum1=sums.sum1, sum2=sums.sum2, sum4=sums.sum4, fs=sums.fs, msd=sums.msd,
        seeds=sums.seeds, energy_drift=sums.energy_drift, replicas=sums.replicas, types=types,
        metadata=json.dumps(metadata, default=str), **halves,
    )


ISO_KEYS = ("times", "sum1", "sum2", "sum4", "fs", "msd", "seeds", "energy_drift", "replicas", "types")
HALF_KEYS = ("even_sum1", "even_sum2")


def load_iso(path: str | Path) -> IsoSums:
    """Read a batch file; the even-replica sums are None where the file predates them."""
    data = load_npz(path, required=ISO_KEYS)
    halves = {k: data[k].astype(np.float64) for k in HALF_KEYS if k in data}
    return IsoSums(**{k: data[k] for k in ISO_KEYS if k != "types"}, **halves)


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
        even_sum1=sum(p.even_sum1 for p in parts) if all(p.has_halves for p in parts) else None,
        even_sum2=sum(p.even_sum2 for p in parts) if all(p.has_halves for p in parts) else None,
    )




__all__ = ["Q_FS", "IsoSums", "isoconfigurational", "load_iso", "log_time_steps", "merge_iso", "save_iso",
           "self_intermediate_scattering"]
