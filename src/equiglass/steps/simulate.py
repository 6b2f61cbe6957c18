"""Simulation steps: equilibrate, isoconfigurational, dynamics, propensity."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import dynamics as dyn
from ..ceiling import iso_halves
from ..config import temperature_key
from ..equilibration import equilibrate, phase_averages
from ..files import InputError, atomic_path, load_npz, read_json, save_npz, write_json
from ..formats.gsd_files import read_gsd, write_gsd
from ..iso import isoconfigurational, load_iso, merge_iso, save_iso
from ..md import equilibration_phases, initial_state, resolved_md
from ..provenance import derive_seed, provenance
from .common import md_settings, sidecar


def step_equilibrate(settings: dict[str, Any], output: str | Path, thermo_csv: str | Path,
                     previous: str | Path | None = None) -> dict[str, Any]:
    """Prepare one equilibrated configuration at ``settings['temperature']``.

    Without ``previous``: lattice → minimize → melt → quench → NVT for the equilibration time.
    With ``previous`` (an earlier sample of the same chain): continue NVT for the spacing time.
    Writes the final frame (with velocities) to ``output`` (GSD), the thermo log to
    ``thermo_csv`` and a JSON sidecar with U/N, P, T averages and the ageing check.
    """
    t_start = time.perf_counter()
    temp = float(settings["temperature"])
    eq = settings["equilibration"]
    md = md_settings(settings)
    tau = float(settings["tau_alpha_estimate"])
    seed = int(settings["seed"])
    label = f"equilibrate T={temperature_key(temp)} sample {settings['sample']}"
    if previous is None:
        duration = max(eq["min_duration"], eq["duration_tau_alpha"] * tau)
        phases = equilibration_phases(temp, duration, eq["melt_temperature"], eq["melt_time"], eq["log_every"])
        state = initial_state(settings["n_particles"], settings["density"], derive_seed(seed, "lattice"))
        minimize = True
    else:
        duration = eq["spacing_tau_alpha"] * tau
        phases = equilibration_phases(temp, duration, melt_time=0.0, log_every=eq["log_every"])
        state = read_gsd(previous)
        if state.velocities is None:
            raise InputError(f"{previous}: has no velocities to continue the chain from; rerun its step")
        minimize = False
    ckpt = Path(output).with_name(Path(output).stem + ".checkpoint.npz")
    res = equilibrate(state, phases, md, seed, label, ckpt, minimize_first=minimize,
                      max_extensions=eq.get("max_extensions", 2))
    final = res.state
    before = 0.0
    if previous is not None and sidecar(previous).exists():
        before = float(read_json(sidecar(previous))["summary"].get("cumulative_duration", 0.0))
    total = duration * (1 + len(res.extensions))
    summary = {
        "temperature_target": temp,
        "duration": total,
        "tau_alpha_estimate": tau,
        "duration_tau_alpha": total / tau,
        "cumulative_duration": before + total,
        "extensions": res.extensions,
        **phase_averages(res),  # over the second half of the last phase
        "ageing": res.ageing,
        "energy_convention": "shifted LJ (V(r_c)=0), per particle",
        "retried_with_smaller_dt": res.retried,
        "density": final.density,
    }
    final.log = {"equiglass/temperature": np.array([temp], dtype=np.float64)}
    write_gsd(output, final)
    with atomic_path(thermo_csv) as tmp:
        tmp.write_text(res.log.to_csv())
    write_json(sidecar(output), {
        "summary": summary,
        "units": {"energy": "epsilon_AA", "pressure": "epsilon_AA/sigma_AA^3", "time": "tau", "length": "sigma_AA"},
        "provenance": provenance("equilibrate", {**settings, "md": vars(resolved_md(res.md))},
                                 time.perf_counter() - t_start, previous=str(previous) if previous else None),
    })
    res.remove_checkpoints()
    return summary


# ----------------------------------------------------------------------- isoconfigurational
def step_isoconfigurational(settings: dict[str, Any], config_gsd: str | Path, output: str | Path,
                            trajectory: str | Path | None = None, workers: int = 1) -> dict[str, Any]:
    """Run a batch of iso-configurational replicas from an equilibrated configuration.

    ``settings['replicas']`` lists the replica indices of this batch. Writes replica sums of
    |Δr|, |Δr|², |Δr|⁴ on the log time grid plus per-replica F_s and MSD (``output``, .npz).
    """
    t_start = time.perf_counter()
    temp = float(settings["temperature"])
    md = md_settings(settings)
    state = read_gsd(config_gsd)
    iso = settings["isoconfigurational"]
    t_max = iso["duration_tau_alpha"] * float(settings["tau_alpha_estimate"])
    traj: list | None = [] if trajectory else None
    ckpt = Path(output).with_name(Path(output).stem + ".checkpoint.npz")
    label = f"iso T={temperature_key(temp)} sample {settings['sample']} batch {settings.get('batch', 0)}"
    sums = isoconfigurational(state, temp, t_max, list(settings["replicas"]), md, int(settings["seed"]),
                              iso["points_per_decade"], label, checkpoint=ckpt, trajectory=traj, workers=workers)
    meta = {
        "temperature": temp, "t_max": t_max, "n_replicas": sums.n_replicas, "q": 7.25,
        "units": {"time": "tau", "displacement": "sigma_AA"},
        "source_configuration": str(config_gsd),
        "velocities": "Maxwell-Boltzmann at T, centre of mass removed, rescaled to exactly T; seeds in 'seeds'",
        "max_energy_drift": float(sums.energy_drift.max()),
        "provenance": provenance("isoconfigurational", {**settings, "md": vars(resolved_md(md))},
                                 time.perf_counter() - t_start),
    }
    save_iso(output, sums, state.types, meta)
    if trajectory:
        write_gsd(trajectory, traj)
    if ckpt.exists():
        ckpt.unlink()
    return meta


# --------------------------------------------------------------------------------- dynamics
def step_dynamics(settings: dict[str, Any], iso_files: dict[str, list[str]], output: str | Path) -> dict[str, Any]:
    """Average dynamics at one temperature; choose the propensity target times.

    ``iso_files`` maps sample name → its batch files. Writes ``output`` (.json: τ_α, D, target
    times) and the curves next to it (.npz: times, F_s, MSD with errors).
    """
    t_start = time.perf_counter()
    temp = float(settings["temperature"])
    ensembles = [merge_iso([load_iso(f) for f in files]) for files in iso_files.values()]
    summ = dyn.summarize(temp, ensembles)
    pr = settings["propensity"]
    req, idx = dyn.target_times(summ, pr["mode"], pr["values"])
    labels = [f"Fs={v:.3g}" if pr["mode"] == "fs" else f"{v:g}tau_a" for v in pr["values"]]
    result = {
        "temperature": temp,
        "tau_alpha": summ.tau_alpha,
        "tau_alpha_err": summ.tau_alpha_err,
        "diffusion_A": float(summ.diffusion[0]),
        "diffusion_B": float(summ.diffusion[1]),
        "n_configurations": summ.n_configurations,
        "n_replicas": summ.n_replicas,
        "target_mode": pr["mode"],
        "target_values": pr["values"],
        "timescale_labels": labels,
        "target_times_requested": req.tolist(),
        "target_indices": idx.tolist(),
        "target_times": summ.times[idx].tolist(),
        "target_times_tau_alpha": (summ.times[idx] / summ.tau_alpha).tolist(),
        "q": 7.25,
        "units": {"time": "tau", "msd": "sigma_AA^2", "diffusion": "sigma_AA^2/tau"},
        "provenance": provenance("dynamics", settings, time.perf_counter() - t_start,
                                 inputs=sorted(f for fs in iso_files.values() for f in fs)),
    }
    out = Path(output)
    save_npz(out.with_suffix(".npz"), times=summ.times, fs=summ.fs, fs_err=summ.fs_err, msd=summ.msd,
             msd_err=summ.msd_err, metadata=json.dumps({k: v for k, v in result.items() if k != "provenance"}))
    write_json(out, result)
    print(f"[dynamics T={temperature_key(temp)}] tau_alpha = {summ.tau_alpha:.4g} +- {summ.tau_alpha_err:.2g}, "
          f"D_A = {summ.diffusion[0]:.3g}, targets {np.round(summ.times[idx], 4).tolist()}", file=sys.stderr, flush=True)
    return result


# ------------------------------------------------------------------------------- propensity
def step_propensity(settings: dict[str, Any], iso_files: list[str], dynamics_json: str | Path,
                    config_gsd: str | Path, output: str | Path) -> dict[str, Any]:
    """Per-particle propensities at the target times of ``dynamics_json``.

    Writes ``output`` (.npz: propensity (n_t, N), stderr, times, types, temperature, metadata;
    halves (2, n_t, N) and half_replicas (2,): the labels of the even- and odd-index replicas,
    for the split-half check of :mod:`equiglass.ceiling`, where the iso files keep them) and a
    GSD copy of the starting configuration with the propensities as per-particle log fields
    (``output`` with suffix .gsd), viewable in OVITO.
    """
    t_start = time.perf_counter()
    dj = read_json(dynamics_json)
    sums = merge_iso([load_iso(f) for f in iso_files])
    idx = np.asarray(dj["target_indices"], dtype=int)
    if not np.allclose(sums.times[idx], dj["target_times"]):
        raise InputError(f"{dynamics_json}: target times do not match the time grid of {iso_files[0]}; rerun dynamics")
    kind = settings["propensity"]["kind"]
    values, err = dyn.propensity(sums, idx, kind)
    state = read_gsd(config_gsd)
    types = load_npz(iso_files[0], required=("types",))["types"]
    if not np.array_equal(types, state.types):
        raise InputError(f"{iso_files[0]}: particle types differ from {config_gsd}; rerun its "
                         "isoconfigurational jobs")
    meta = {
        "temperature": dj["temperature"], "kind": kind, "n_replicas": sums.n_replicas,
        "timescale_labels": dj["timescale_labels"], "tau_alpha": dj["tau_alpha"],
        "times_tau_alpha": dj["target_times_tau_alpha"],
        "units": {"time": "tau", "propensity": "sigma_AA" if kind == "displacement" else "sigma_AA^2"},
        "source_configuration": str(config_gsd),
        "provenance": provenance("propensity", settings, time.perf_counter() - t_start),
    }
    halves = iso_halves(sums, idx, kind)
    split = {} if halves is None else {"halves": halves[0], "half_replicas": halves[1]}
    meta["split_half"] = ("halves: means over the replicas of even and of odd index" if halves is not None else
                          "none: the iso files predate the even-replica sums")
    save_npz(output, propensity=values, stderr=err, times=sums.times[idx], types=state.types,
             temperature=np.float64(dj["temperature"]), metadata=json.dumps(meta), **split)
    # per-particle fields where OVITO reads them: log/particles/<name>
    state.log = {f"particles/propensity_{k}": values[k].astype(np.float32) for k in range(len(idx))}
    state.log["equiglass/times"] = sums.times[idx]
    write_gsd(Path(output).with_suffix(".gsd"), state)
    return meta


