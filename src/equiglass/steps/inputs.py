"""Model-input steps: inherent structures, cage states, graphs and descriptors."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..files import write_json
from ..formats.gsd_files import read_gsd, write_gsd
from ..graphs import save_graph
from ..model_inputs import InputSettings, Minimizer, cage_state, minimize, model_inputs
from ..provenance import provenance
from .common import sidecar


def step_graph(settings: dict[str, Any], config_gsd: str | Path, output: str | Path) -> dict[str, Any]:
    """Neighbour graph and invariant descriptors of one configuration (.npz).

    With ``settings['inputs']['local_energy']`` the per-particle potential energy at these
    positions is stored as an extra node input and appended to the descriptors
    (:func:`equiglass.model_inputs.model_inputs`, the path prediction takes too).
    """
    t_start = time.perf_counter()
    state = read_gsd(config_gsd)
    inp = InputSettings.from_record(settings["inputs"])
    mi = model_inputs(state, inp)
    meta = {
        "temperature": float(settings["temperature"]), "source_configuration": str(config_gsd),
        "positions": inp.positions, "extra_inputs": ["local_energy"] if mi.extra is not None else [],
        "n_nodes": mi.graph.n_nodes, "n_edges": mi.graph.n_edges, "mean_degree": mi.graph.n_edges / mi.graph.n_nodes,
        "provenance": provenance("graphs", settings, time.perf_counter() - t_start),
    }
    save_graph(output, mi.graph, mi.descriptors, mi.names, meta, extra=mi.extra)
    return meta


def step_inherent(settings: dict[str, Any], config_gsd: str | Path, output: str | Path) -> dict[str, Any]:
    """Inherent structure: FIRE minimization of a configuration to its local energy minimum (GSD).

    Per-particle energies at the minimum go into the frame's log (``particles/potential_energy``).
    """
    t0 = time.perf_counter()
    state = read_gsd(config_gsd)
    inp = InputSettings.from_record(settings["inputs"])
    final, energy, u_is = minimize(state, inp.md_settings(), Minimizer(**inp.minimizer))
    final.log = {"particles/potential_energy": energy.astype(np.float32),
                 "equiglass/temperature": np.array([float(settings["temperature"])])}
    write_gsd(output, final)
    disp = np.linalg.norm(final.unwrapped() - state.unwrapped(), axis=1)
    summary = {"inherent_energy_per_particle": u_is, "mean_displacement_to_minimum": float(disp.mean()),
               "max_displacement_to_minimum": float(disp.max())}
    write_json(sidecar(output), {"summary": summary, "units": {"energy": "epsilon_AA", "length": "sigma_AA"},
                                 "provenance": provenance("inherent", settings, time.perf_counter() - t0)})
    return summary


def step_cage(settings: dict[str, Any], config_gsd: str | Path, output: str | Path) -> dict[str, Any]:
    """Cage state of a configuration (GSD): see :func:`equiglass.model_inputs.cage_state`."""
    t0 = time.perf_counter()
    state = read_gsd(config_gsd)
    inp = InputSettings.from_record(settings["inputs"])
    temp = float(settings["temperature"])
    cage, mean_disp = cage_state(state, inp.md_settings(), temp, int(settings["seed"]), **inp.cage)
    cage.log = {"equiglass/temperature": np.array([temp])}
    write_gsd(output, cage)
    summary = {"mean_shift": float(np.linalg.norm(mean_disp, axis=1).mean()), "runs": inp.cage["cage_replicas"],
               "cage_time": inp.cage["cage_time"], "frames": inp.cage["cage_frames"]}
    write_json(sidecar(output), {"summary": summary, "units": {"length": "sigma_AA", "time": "tau"},
                                 "provenance": provenance("cage", settings, time.perf_counter() - t0)})
    return summary
