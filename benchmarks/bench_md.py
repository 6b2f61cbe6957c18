"""MD throughput per engine (N = 1000, 4096; NVE, NVT), neighbour-skin scan, pipeline overhead."""

from __future__ import annotations

import time

import numpy as np
from common import liquid, median_time


def steps_per_second(engine: str, state, kind: str, steps: int, skin: float = 0.3, repeats: int = 3) -> float:
    from equiglass.engines import make_engine

    with make_engine(engine, state, skin=skin, threads=1) as eng:
        eng.set_integrator(kind, 0.8 if kind == "nvt" else None)
        eng.run(50)  # setup, neighbour list
        t = median_time(lambda: eng.run(steps), repeats)
    return steps / t


def run(quick: bool = False) -> dict:
    from equiglass.engines import available_engines
    from equiglass.md import MDSettings, iso_replica, log_time_steps

    sizes = [1000] if quick else [1000, 4096]
    steps = {1000: 300 if quick else 2000, 4096: 500}
    engines = available_engines()
    out: dict = {"engines": engines, "throughput": [], "skin_scan": [], "overhead": {}}
    for n in sizes:
        st = liquid(n)
        for eng in engines:
            for kind in ("nve", "nvt"):
                sps = steps_per_second(eng, st, kind, steps[n])
                out["throughput"].append({"engine": eng, "N": n, "integrator": kind, "steps_per_s": sps,
                                          "particle_steps_per_s": sps * n})
    st = liquid(1000)
    skins = [0.3, 0.4] if quick else [0.2, 0.3, 0.4, 0.5]
    for eng in engines:
        rows = [{"engine": eng, "skin": s, "steps_per_s": steps_per_second(eng, st, "nve", steps[1000], s)}
                for s in skins]
        best = max(rows, key=lambda r: r["steps_per_s"])
        default = next(r for r in rows if r["skin"] == 0.3)
        out["skin_scan"] += rows
        out.setdefault("best_skin", {})[eng] = {"skin": best["skin"],
                                                "speedup_vs_default": best["steps_per_s"] / default["steps_per_s"]}
    # pipeline overhead: one iso-configurational replica (snapshots on the log grid) vs the bare engine
    md = MDSettings()
    t_max = 2.0 if quick else 20.0
    grid = log_time_steps(t_max, md.dt, 10)
    n_steps = int(grid[-1])
    from equiglass.engines import make_engine
    from equiglass.state import maxwell_boltzmann

    def bare():
        s0 = type(st)(st.positions, st.types, st.box, maxwell_boltzmann(st.n, 0.8, np.random.default_rng(1)))
        with make_engine("lammps", s0) as eng:
            eng.set_integrator("nve")
            eng.get_state()
            eng.run(n_steps)

    def pipeline():
        iso_replica(st, 0.8, grid, md, seed=1)

    t_bare, t_pipe = [], []
    for _ in range(3 if quick else 5):  # interleaved
        t0 = time.perf_counter()
        bare()
        t_bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        pipeline()
        t_pipe.append(time.perf_counter() - t0)
    tb, tp = float(np.median(t_bare)), float(np.median(t_pipe))
    with make_engine("lammps", st) as eng:
        eng.set_integrator("nve")
        eng.run(10)
        snap = median_time(lambda: eng.get_state(), 20)
    out["overhead"] = {"N": 1000, "steps": n_steps, "snapshots": len(grid), "bare_s": tb, "pipeline_s": tp,
                       "overhead_percent": 100 * (tp - tb) / tb, "snapshot_ms": 1000 * snap}
    return out


def markdown(res: dict) -> str:
    lines = ["### MD throughput (steps/s; one core per job)", "", "| engine | N | NVE | NVT | NVE particle-steps/s |",
             "|---|---|---|---|---|"]
    rows = {}
    for r in res["throughput"]:
        rows.setdefault((r["engine"], r["N"]), {})[r["integrator"]] = r
    for (eng, n), d in rows.items():
        lines.append(f"| {eng} | {n} | {d['nve']['steps_per_s']:.0f} | {d['nvt']['steps_per_s']:.0f} | "
                     f"{d['nve']['particle_steps_per_s']:.3g} |")
    lines += ["", "Skin scan (N = 1000, NVE): " + "; ".join(
        f"{eng}: best skin {v['skin']} ({v['speedup_vs_default']:.2f}x the default 0.3)" for eng, v in
        res["best_skin"].items())]
    o = res["overhead"]
    lines += ["", f"Pipeline overhead of an iso-configurational replica (N = {o['N']}, {o['steps']} steps, "
              f"{o['snapshots']} snapshots) over the bare engine: {o['overhead_percent']:.1f} % "
              f"(target < 5 %); one snapshot costs {o['snapshot_ms']:.2f} ms."]
    return "\n".join(lines)
