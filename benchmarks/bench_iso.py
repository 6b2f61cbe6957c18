"""Iso-configurational throughput: replicas one after another in one process vs two processes side by side."""

from __future__ import annotations

import multiprocessing as mp
import os
import time

from common import liquid


def _replicas(args) -> int:
    state, replicas, steps = args
    os.environ["OMP_NUM_THREADS"] = "1"
    import numpy as np

    from equiglass.md import MDSettings, iso_replica

    md = MDSettings()
    grid = np.unique(np.round(np.logspace(0, np.log10(steps), 30)).astype(np.int64))
    for r in replicas:
        iso_replica(state, 0.8, grid, md, seed=100 + r)
    return len(replicas) * steps


def run(quick: bool = False) -> dict:
    n = 1000 if quick else 4096
    replicas = 2 if quick else 4
    steps = 200 if quick else 1000
    st = liquid(n)
    t0 = time.perf_counter()
    done = _replicas((st, list(range(replicas)), steps))
    t_one = time.perf_counter() - t0
    half = replicas // 2
    ctx = mp.get_context("fork")
    t0 = time.perf_counter()
    with ctx.Pool(2) as pool:
        done2 = sum(pool.map(_replicas, [(st, list(range(half)), steps), (st, list(range(half, replicas)), steps)]))
    t_two = time.perf_counter() - t0
    one, two = done / t_one, done2 / t_two
    return {"N": n, "replicas": replicas, "steps_per_replica": steps, "replica_steps_per_s_1proc": one,
            "replica_steps_per_s_2proc": two, "ratio": two / one}


def markdown(res: dict) -> str:
    return (f"### Iso-configurational throughput\n\n{res['replicas']} replicas of N = {res['N']}, "
            f"{res['steps_per_replica']} steps each: {res['replica_steps_per_s_1proc']:.0f} replica-steps/s in one "
            f"process, {res['replica_steps_per_s_2proc']:.0f} with two processes side by side: "
            f"**{res['ratio']:.2f}x** (target >= 1.8x on 2 cores).")
