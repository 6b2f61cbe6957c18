"""Model-input steps: inherent structures, cage states, graphs and descriptors."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..descriptors import DescriptorSettings, compute_descriptors
from ..files import write_json
from ..formats.gsd_files import read_gsd, write_gsd
from ..graphs import build_graph, save_graph
from ..md import MDSettings
from ..provenance import derive_seed, provenance
from .common import md_settings, sidecar


def local_energies(state, md: MDSettings) -> np.ndarray:
    """Per-particle potential energy (N,) [ε_AA] of a configuration (shifted LJ, half per pair)."""
    with md.engine_for(state, seed=0) as eng:
        return eng.per_particle_energy()


def step_graph(settings: dict[str, Any], config_gsd: str | Path, output: str | Path) -> dict[str, Any]:
    """Neighbour graph and invariant descriptors of one configuration (.npz).

    With ``settings['inputs']['local_energy']`` the per-particle potential energy at these
    positions is stored as an extra node input and appended to the descriptors.
    """
    t_start = time.perf_counter()
    state = read_gsd(config_gsd)
    graph = build_graph(state, float(settings["graphs"]["cutoff"]))
    d = settings["descriptors"]
    ds = DescriptorSettings(**{**d, "l_values": tuple(d["l_values"])})
    desc, names = compute_descriptors(state, ds)
    inputs = settings.get("inputs", {})
    extra = None
    if inputs.get("local_energy"):
        energy = local_energies(state, md_settings(settings))
        extra = energy[:, None]
        desc = np.concatenate([desc, extra], axis=1)
        names = [*names, "local_energy"]
    meta = {
        "temperature": float(settings["temperature"]), "source_configuration": str(config_gsd),
        "positions": inputs.get("positions", "thermal"), "extra_inputs": ["local_energy"] if extra is not None else [],
        "n_nodes": graph.n_nodes, "n_edges": graph.n_edges, "mean_degree": graph.n_edges / graph.n_nodes,
        "provenance": provenance("graphs", settings, time.perf_counter() - t_start),
    }
    save_graph(output, graph, desc, names, meta, extra=extra)
    return meta


def step_inherent(settings: dict[str, Any], config_gsd: str | Path, output: str | Path) -> dict[str, Any]:
    """Inherent structure: FIRE minimization of a configuration to its local energy minimum (GSD).

    Per-particle energies at the minimum go into the frame's log (``equiglass/potential_energy``).
    """
    t0 = time.perf_counter()
    state = read_gsd(config_gsd)
    md = md_settings(settings)
    with md.engine_for(state, seed=0) as eng:
        u_is = eng.minimize(etol=0.0, ftol=1e-6, max_steps=200_000)
        final = eng.get_state()
        energy = eng.per_particle_energy()
    final.velocities = None
    final.log = {"equiglass/potential_energy": energy.astype(np.float32),
                 "equiglass/temperature": np.array([float(settings["temperature"])])}
    write_gsd(output, final)
    disp = np.linalg.norm(final.unwrapped() - state.unwrapped(), axis=1)
    summary = {"inherent_energy_per_particle": u_is, "mean_displacement_to_minimum": float(disp.mean()),
               "max_displacement_to_minimum": float(disp.max())}
    write_json(sidecar(output), {"summary": summary, "units": {"energy": "epsilon_AA", "length": "sigma_AA"},
                                 "provenance": provenance("inherent", settings, time.perf_counter() - t0)})
    return summary


def step_cage(settings: dict[str, Any], config_gsd: str | Path, output: str | Path) -> dict[str, Any]:
    """Cage state: positions averaged over short NVE runs from the configuration (GSD).

    ``inputs.cage_replicas`` runs of ``inputs.cage_time`` [τ] with fresh Maxwell–Boltzmann velocities
    at T (seeded), each sampled at ``inputs.cage_frames`` equally spaced times; unwrapped positions
    are averaged over frames and runs, then wrapped into the box. Should be shorter than the
    cage-escape time (the MSD plateau), as the cage states of GlassBench.
    """
    from ..state import State, maxwell_boltzmann

    t0 = time.perf_counter()
    state = read_gsd(config_gsd)
    md = md_settings(settings)
    inp = settings["inputs"]
    temp = float(settings["temperature"])
    total = np.zeros_like(state.positions)
    count = 0
    n_steps = md.steps(inp["cage_time"])
    frame_steps = np.linspace(0, n_steps, inp["cage_frames"] + 1)[1:].round().astype(int)
    for r in range(inp["cage_replicas"]):
        seed = derive_seed(int(settings["seed"]), "cage", r)
        start = State(state.positions, state.types, state.box,
                      maxwell_boltzmann(state.n, temp, np.random.default_rng(seed)))
        with md.engine_for(start, seed) as eng:
            eng.set_integrator("nve")
            r0 = eng.get_state().unwrapped()
            done = 0
            for s in frame_steps:
                eng.run(int(s - done))
                done = int(s)
                total += eng.get_state().unwrapped() - r0
                count += 1
    mean_disp = total / count
    cage = State(state.positions + mean_disp, state.types, state.box).wrapped()
    cage.log = {"equiglass/temperature": np.array([temp])}
    write_gsd(output, cage)
    summary = {"mean_shift": float(np.linalg.norm(mean_disp, axis=1).mean()), "runs": inp["cage_replicas"],
               "cage_time": inp["cage_time"], "frames": inp["cage_frames"]}
    write_json(sidecar(output), {"summary": summary, "units": {"length": "sigma_AA", "time": "tau"},
                                 "provenance": provenance("cage", settings, time.perf_counter() - t0)})
    return summary


