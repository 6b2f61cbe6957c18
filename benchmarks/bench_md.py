"""MD throughput of every engine present, neighbour-skin scan, pipeline overhead, snapshot cost.

- Throughput: timesteps/s and particle-steps/s of the KA mixture at N = 1000 and 4096, NVE
  and NVT (Nosé–Hoover, T = 0.8), one thread per engine, all engines started from the same
  liquid (one short melt per N) and timed round-robin (interleaved repeats, medians).
- Skin scan: NVE steps/s at N = 4096 for skins 0.2…0.5 σ per engine (OpenMM keeps its own
  neighbour list and ignores the skin, so it is not scanned); best vs the default 0.3.
- Pipeline overhead: wall time of ``iso.isoconfigurational`` (one replica, snapshots on the log
  grid) vs the bare engine built from the same state running the same NVE steps in one call.
  Both include building the engine; the cost of one snapshot (``get_state``) is given apart.

    python benchmarks/bench_md.py [--quick]
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np
from common import T_LIQUID, interleaved, liquid, log, median, ratio, table

DEFAULT_SKIN = 0.3


def _settings(quick: bool) -> dict[str, Any]:
    if quick:
        return {"sizes": [1000], "target_s": 0.25, "repeats": 1, "skins": [0.3, 0.5], "scan_n": 1000,
                "overhead_n": 1000, "overhead_tmax": 1.0, "overhead_repeats": 1}
    return {"sizes": [1000, 4096], "target_s": 1.0, "repeats": 3, "skins": [0.2, 0.3, 0.4, 0.5], "scan_n": 4096,
            "overhead_n": 4096, "overhead_tmax": 5.0, "overhead_repeats": 3}


def _start_engine(name: str, state, kind: str, skin: float = DEFAULT_SKIN, seed: int = 1):
    """Build an engine from ``state`` and take a few steps (setup and first neighbour list)."""
    from equiglass.engines import make_engine
    from equiglass.md import MDSettings

    md = MDSettings()
    t0 = time.perf_counter()
    eng = make_engine(name, state, dt=md.dt, seed=seed, threads=1, skin=skin)
    build_s = time.perf_counter() - t0
    if kind == "nvt":
        eng.set_integrator("nvt", T_LIQUID, md.tau_thermostat, "nose-hoover")
    else:
        eng.set_integrator("nve")
    eng.run(20)
    t0 = time.perf_counter()
    eng.run(30)
    rate = 30 / max(time.perf_counter() - t0, 1e-9)
    return eng, build_s, rate


def _round_robin(jobs: dict[Any, Any], steps: dict[Any, int], repeats: int) -> dict[Any, list[float]]:
    """Time ``eng.run(steps[k])`` for every engine, interleaved, ``repeats`` times: seconds per run."""
    times: dict[Any, list[float]] = {k: [] for k in jobs}
    for _ in range(repeats):
        for k, eng in jobs.items():
            t0 = time.perf_counter()
            eng.run(steps[k])
            times[k].append(time.perf_counter() - t0)
    return times


def throughput(engines: list[str], cfg: dict[str, Any], quick: bool) -> list[dict[str, Any]]:
    rows = []
    for n in cfg["sizes"]:
        state = liquid(n, quick)
        jobs, steps, build = {}, {}, {}
        for name in engines:
            for kind in ("nve", "nvt"):
                eng, build_s, rate = _start_engine(name, state, kind)
                jobs[(name, kind)] = eng
                steps[(name, kind)] = max(int(rate * cfg["target_s"]), 10)
                build[(name, kind)] = build_s
        log(f"md throughput N={n}: {', '.join(f'{k[0]}/{k[1]} {v} steps' for k, v in steps.items())}")
        times = _round_robin(jobs, steps, cfg["repeats"])
        for (name, kind), eng in jobs.items():
            t = times[(name, kind)]
            sps = steps[(name, kind)] / median(t)
            th = eng.thermo()
            rows.append({"engine": name, "N": n, "integrator": kind, "steps_timed": steps[(name, kind)],
                         "repeats": len(t), "seconds": t, "steps_per_s": sps, "particle_steps_per_s": sps * n,
                         "spread": (max(t) - min(t)) / median(t), "build_s": build[(name, kind)],
                         "final_temperature": th.temperature})
            eng.close()
    # ratios to LAMMPS (the default engine) at the same N and integrator
    for r in rows:
        ref = next((q for q in rows if q["engine"] == "lammps" and q["N"] == r["N"]
                    and q["integrator"] == r["integrator"]), None)
        r["vs_lammps"] = ratio(r["steps_per_s"], ref["steps_per_s"]) if ref else float("nan")
    return rows


def skin_scan(engines: list[str], cfg: dict[str, Any], quick: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    n = cfg["scan_n"]
    state = liquid(n, quick)
    jobs, steps = {}, {}
    notes = {}
    for name in engines:
        if name == "openmm":
            notes[name] = "not scanned: OpenMM manages its own neighbour list (skin unused)"
            continue
        rates = []
        for skin in cfg["skins"]:
            eng, _, rate = _start_engine(name, state, "nve", skin=skin)
            jobs[(name, skin)] = eng
            rates.append(rate)
        # the same number of steps for every skin of one engine (from the slowest first estimate)
        ref_rate = min(rates)
        for skin in cfg["skins"]:
            steps[(name, skin)] = max(int(ref_rate * cfg["target_s"]), 10)
    times = _round_robin(jobs, steps, cfg["repeats"])
    rows = []
    for (name, skin), eng in jobs.items():
        sps = steps[(name, skin)] / median(times[(name, skin)])
        rows.append({"engine": name, "N": n, "skin": skin, "steps_per_s": sps, "seconds": times[(name, skin)]})
        eng.close()
    best = {}
    for name in {r["engine"] for r in rows}:
        mine = [r for r in rows if r["engine"] == name]
        top = max(mine, key=lambda r: r["steps_per_s"])
        default = next((r for r in mine if r["skin"] == DEFAULT_SKIN), None)
        best[name] = {"best_skin": top["skin"], "best_steps_per_s": top["steps_per_s"],
                      "default_steps_per_s": default["steps_per_s"] if default else float("nan"),
                      "best_vs_default": ratio(top["steps_per_s"], default["steps_per_s"]) if default else float("nan")}
    best.update({k: {"note": v} for k, v in notes.items()})
    return rows, best


def overhead(engines: list[str], cfg: dict[str, Any], quick: bool) -> list[dict[str, Any]]:
    """isoconfigurational (1 replica, log-grid snapshots) vs the bare engine, same NVE steps."""
    from equiglass.engines import make_engine
    from equiglass.iso import isoconfigurational, log_time_steps
    from equiglass.md import MDSettings
    from equiglass.provenance import derive_seed
    from equiglass.state import State, maxwell_boltzmann

    n = cfg["overhead_n"]
    state = liquid(n, quick)
    config = State(state.positions, state.types, state.box)
    rows = []
    for name in engines:
        md = replace(MDSettings(), engine=name, threads=1)
        grid = log_time_steps(cfg["overhead_tmax"], md.dt, 10)
        total = int(grid[-1])
        rseed = derive_seed(5, "replica", 0)  # the velocities replica 0 of isoconfigurational draws

        def bare(md=md, total=total, rseed=rseed, name=name):
            v = maxwell_boltzmann(n, T_LIQUID, np.random.default_rng(rseed))
            start = State(config.positions, config.types, config.box, v)
            with make_engine(name, start, dt=md.dt, seed=rseed, threads=1, skin=md.skin) as eng:
                eng.set_integrator("nve")
                eng.run(total)

        def pipeline(md=md, name=name):
            isoconfigurational(config, T_LIQUID, cfg["overhead_tmax"], [0], md, seed=5, label=f"bench-iso-{name}")

        times = interleaved({"bare": bare, "pipeline": pipeline}, cfg["overhead_repeats"])
        t_bare, t_pipe = times["bare"], times["pipeline"]
        # snapshot cost and engine build time
        start = State(config.positions, config.types, config.box,
                      maxwell_boltzmann(n, T_LIQUID, np.random.default_rng(1)))
        t0 = time.perf_counter()
        eng = make_engine(name, start, dt=md.dt, seed=1, threads=1, skin=md.skin)
        build_s = time.perf_counter() - t0
        eng.set_integrator("nve")
        eng.run(10)
        snaps, thermos = [], []
        for _ in range(20):
            t0 = time.perf_counter()
            eng.get_state()
            snaps.append(time.perf_counter() - t0)
        for _ in range(5):
            t0 = time.perf_counter()
            eng.thermo()
            thermos.append(time.perf_counter() - t0)
        eng.close()
        tb, tp = median(t_bare), median(t_pipe)
        snap_ms = 1e3 * median(snaps)
        rows.append({"engine": name, "N": n, "t_max": cfg["overhead_tmax"], "steps": total, "snapshots": len(grid),
                     "bare_s": tb, "pipeline_s": tp, "bare_all_s": t_bare, "pipeline_all_s": t_pipe,
                     "overhead_percent": 100 * (tp - tb) / tb, "snapshot_ms": snap_ms,
                     "snapshots_percent_of_bare": 100 * len(grid) * snap_ms / 1e3 / tb,
                     "thermo_ms": 1e3 * median(thermos), "engine_build_s": build_s,
                     "target_met": bool(100 * (tp - tb) / tb < 5.0)})
        log(f"md overhead {name}: bare {tb:.2f} s, pipeline {tp:.2f} s, snapshot {snap_ms:.2f} ms")
    return rows


def run(quick: bool = False) -> dict[str, Any]:
    from equiglass.engines import available_engines

    cfg = _settings(quick)
    engines = available_engines()
    log(f"md: engines {engines}")
    rows = throughput(engines, cfg, quick)
    scan, best = skin_scan(engines, cfg, quick)
    over = overhead(engines, cfg, quick)
    tables = [
        table("MD throughput (one thread per engine, KA liquid at T = 0.8; NVT = Nosé–Hoover)",
              ["engine", "N", "integrator", "steps/s", "particle-steps/s", "vs LAMMPS", "spread", "repeats"],
              [[r["engine"], r["N"], r["integrator"], r["steps_per_s"], r["particle_steps_per_s"], r["vs_lammps"],
                f"{100 * r['spread']:.0f} %", r["repeats"]] for r in rows],
              "Medians of interleaved repeats; spread = (max − min)/median; 'vs LAMMPS' is the ratio of steps/s "
              "measured in the same run."),
        table(f"Neighbour-list skin scan (NVE, N = {cfg['scan_n']}; steps/s)",
              ["engine", *[f"skin {s}" for s in cfg["skins"]], "best skin", "best / default 0.3"],
              [[name, *[next((r["steps_per_s"] for r in scan if r["engine"] == name and r["skin"] == s), None)
                        for s in cfg["skins"]], b.get("best_skin", b.get("note")), b.get("best_vs_default")]
               for name, b in best.items()]),
        table("Pipeline overhead: isoconfigurational (1 replica, log-grid snapshots) vs bare engine, same NVE steps",
              ["engine", "N", "steps", "snapshots", "bare [s]", "pipeline [s]", "overhead", "target < 5 %",
               "snapshot [ms]", "snapshots / bare", "thermo [ms]", "engine build [s]"],
              [[r["engine"], r["N"], r["steps"], r["snapshots"], r["bare_s"], r["pipeline_s"],
                f"{r['overhead_percent']:.1f} %", r["target_met"], r["snapshot_ms"],
                f"{r['snapshots_percent_of_bare']:.2f} %", r["thermo_ms"], r["engine_build_s"]] for r in over],
              "Both variants build the engine from the same configuration and velocities; the pipeline also "
              "unwraps, computes displacements and energies at every snapshot."),
    ]
    return {"engines": engines, "settings": cfg, "throughput": rows, "skin_scan": scan, "best_skin": best,
            "overhead": over, "tables": tables}


if __name__ == "__main__":
    from common import print_tables_cli

    print_tables_cli(run, __doc__)
