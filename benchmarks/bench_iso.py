"""Iso-configurational throughput: R replicas in one process vs two processes side by side.

Each replica is ``iso.iso_replica`` (fresh Maxwell–Boltzmann velocities, NVE, snapshots on the
log grid: what the pipeline runs). Variant "1 process": one worker runs all R replicas one
after another on one thread; variant "2 processes": two workers (one thread each, so no
oversubscription on 2 cores) run R/2 replicas each. Workers are started and import everything
before a barrier; the clock runs from the barrier to the last result, so process start-up is
excluded. Variants are interleaved and repeated; the ratio of medians is reported
(target >= 1.8 on 2 cores; other load on the machine lowers it).

    python benchmarks/bench_iso.py --replicas 32 --steps 2000 [--engine lammps]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
from typing import Any

import numpy as np
from common import CACHE, T_LIQUID, liquid, log, median, ratio, table


def _worker(state_path: str, replicas: list[int], steps: int, engine: str, barrier, results) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    from equiglass.iso import iso_replica, log_time_steps
    from equiglass.md import MDSettings
    from equiglass.provenance import derive_seed
    from equiglass.state import State

    d = np.load(state_path)
    state = State(d["positions"], d["types"], d["box"])
    md = MDSettings(engine=engine, threads=1)
    grid = log_time_steps(steps * md.dt, md.dt, 10)
    barrier.wait()
    t0 = time.perf_counter()
    drift = []
    for r in replicas:
        _, dr = iso_replica(state, T_LIQUID, grid, md, derive_seed(7, "replica", r))
        drift.append(dr)
    results.put({"replicas": len(replicas), "steps": int(grid[-1]), "elapsed": time.perf_counter() - t0,
                 "max_drift": max(drift) if drift else 0.0})


def _one_run(state_path: str, groups: list[list[int]], steps: int, engine: str) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(groups) + 1)
    results = ctx.Queue()
    old = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        procs = [ctx.Process(target=_worker, args=(state_path, g, steps, engine, barrier, results)) for g in groups]
        for p in procs:
            p.start()
    finally:
        if old is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = old
    barrier.wait(timeout=300)
    t0 = time.perf_counter()
    outs = [results.get(timeout=3600) for _ in groups]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    done = sum(o["replicas"] * o["steps"] for o in outs)
    return {"wall_s": wall, "replica_steps": done, "replica_steps_per_s": done / wall,
            "worker_s": [o["elapsed"] for o in outs], "max_drift": max(o["max_drift"] for o in outs)}


def run(quick: bool = False, replicas: int | None = None, steps: int | None = None, repeats: int | None = None,
        engine: str | None = None, n: int | None = None) -> dict[str, Any]:
    from equiglass.engines import resolve_engine

    n = n or (1000 if quick else 4096)
    replicas = replicas or (2 if quick else 4)
    steps = steps or (100 if quick else 1000)
    repeats = repeats or (1 if quick else 3)
    engine = resolve_engine(engine or "lammps")
    if replicas < 2 or replicas % 2:
        raise ValueError(f"replicas must be even and >= 2, got {replicas}")
    state = liquid(n, quick)
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"iso_config_n{n}.npz"
    np.savez(path, positions=state.positions, types=state.types, box=state.box)
    ids = list(range(replicas))
    one, two = [], []
    for k in range(repeats):  # interleaved variants
        one.append(_one_run(str(path), [ids], steps, engine))
        two.append(_one_run(str(path), [ids[0::2], ids[1::2]], steps, engine))
        log(f"iso repeat {k + 1}: 1 process {one[-1]['replica_steps_per_s']:.0f}, "
            f"2 processes {two[-1]['replica_steps_per_s']:.0f} replica-steps/s")
    r1 = median([o["replica_steps_per_s"] for o in one])
    r2 = median([o["replica_steps_per_s"] for o in two])
    load = [round(x, 2) for x in os.getloadavg()]
    res = {"engine": engine, "N": n, "replicas": replicas, "steps_per_replica": int(one[0]["replica_steps"] / replicas),
           "repeats": repeats, "one_process": one, "two_processes": two,
           "replica_steps_per_s_1proc": r1, "replica_steps_per_s_2proc": r2,
           "particle_steps_per_s_2proc": r2 * n, "ratio_2proc_1proc": ratio(r2, r1),
           "target_met": bool(ratio(r2, r1) >= 1.8), "load_average_after": load}
    res["tables"] = [table(
        f"Iso-configurational throughput ({engine}, N = {n}, R = {replicas} replicas × {res['steps_per_replica']} NVE steps)",
        ["variant", "replica-steps/s", "particle-steps/s", "wall [s] (median)", "ratio to 1 process"],
        [["1 process (all replicas, 1 thread)", r1, r1 * n, median([o["wall_s"] for o in one]), 1.0],
         ["2 processes side by side (1 thread each)", r2, r2 * n, median([o["wall_s"] for o in two]), ratio(r2, r1)]],
        f"Target 2-process/1-process >= 1.8: {'met' if res['target_met'] else 'missed'} "
        f"({ratio(r2, r1):.2f}); load average after the runs {load} on {os.cpu_count()} cores "
        "(other users' load lowers the ratio).")]
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--replicas", type=int)
    ap.add_argument("--steps", type=int, help="NVE steps per replica")
    ap.add_argument("--repeats", type=int)
    ap.add_argument("--engine", help="lammps (default), hoomd, openmm")
    ap.add_argument("--n", type=int, help="particles (default 4096)")
    a = ap.parse_args()
    from common import OUT, markdown_table, write_json

    res = run(a.quick, a.replicas, a.steps, a.repeats, a.engine, a.n)
    write_json(OUT / f"iso_R{res['replicas']}_N{res['N']}.json", res)
    for t in res["tables"]:
        print(markdown_table(t))


if __name__ == "__main__":
    main()
