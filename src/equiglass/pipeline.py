"""The pipeline steps: one function per Snakemake rule (and per ``equiglass`` subcommand).

Each step takes a ``settings`` dictionary (the slice of the configuration it depends on, plus
its wildcards such as temperature and sample), reads its inputs, and writes its outputs
atomically with a JSON sidecar holding the settings, the results summary and the provenance.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from . import dynamics as dyn
from .config import temperature_key
from .descriptors import DescriptorSettings, compute_descriptors
from .files import InputError, atomic_path, load_npz, read_json, save_npz, write_csv, write_json
from .graphs import build_graph, save_graph
from .md import (
    MDBlowUp,
    MDSettings,
    Phase,
    equilibration_phases,
    initial_state,
    isoconfigurational,
    load_iso,
    merge_iso,
    resolved_md,
    run_phases,
    save_iso,
)
from .provenance import derive_seed, provenance
from .state import read_gsd, write_gsd


def sidecar(path: str | Path) -> Path:
    """The JSON file next to an output: ``x.gsd`` → ``x.json``."""
    p = Path(path)
    return p.with_suffix(".json")


def md_settings(settings: dict[str, Any]) -> MDSettings:
    return MDSettings(**settings["md"])


# ------------------------------------------------------------------------------ equilibrate
def block_mean_error(x: np.ndarray, n_blocks: int = 5) -> tuple[float, float]:
    """Mean and standard error of a correlated series from ``n_blocks`` block averages."""
    x = np.asarray(x, dtype=float)
    if len(x) < n_blocks:
        return float(np.mean(x)), float("nan")
    blocks = np.array([b.mean() for b in np.array_split(x, n_blocks)])
    return float(blocks.mean()), float(blocks.std(ddof=1) / math.sqrt(n_blocks))


def ageing_check(u: np.ndarray, tolerance_sigma: float = 3.0, tolerance_abs: float = 0.003) -> dict[str, Any]:
    """Compare U/N of the two halves of a run (block errors).

    ``passed`` unless the halves differ by more than ``tolerance_sigma`` standard errors *and*
    more than ``tolerance_abs`` [ε_AA per particle]: a systematic drift (ageing), not noise.
    """
    half = len(u) // 2
    m1, e1 = block_mean_error(u[:half])
    m2, e2 = block_mean_error(u[half:])
    err = math.hypot(e1, e2) if math.isfinite(e1) and math.isfinite(e2) else float("nan")
    z = abs(m2 - m1) / err if err and math.isfinite(err) and err > 0 else float("nan")
    drifting = math.isfinite(z) and z > tolerance_sigma and abs(m2 - m1) > tolerance_abs
    return {"first_half_U": m1, "second_half_U": m2, "difference": m2 - m1, "sigma": err, "z": z,
            "passed": not drifting}


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
    retried = None
    try:
        final, log = run_phases(state, phases, md, seed, label, checkpoint=ckpt, minimize_first=minimize)
    except MDBlowUp as err:
        if not md.retry_smaller_dt:
            raise
        retried = {"error": str(err), "dt": md.dt, "new_dt": md.dt / 2}
        print(f"[{label}] {err}\n[{label}] retrying the run with dt = {md.dt / 2} (md.retry_smaller_dt)",
              file=sys.stderr, flush=True)
        md = replace(md, dt=md.dt / 2, retry_smaller_dt=False)
        final, log = run_phases(state, phases, md, seed, label, checkpoint=ckpt.with_name(ckpt.stem + ".retry.npz"),
                                minimize_first=minimize)
    phase = "equilibrate"
    u = log.phase_array(phase, "potential_energy")
    ageing = ageing_check(u)
    extensions = []
    # a drifting run is extended (never silently kept); it fails after max_extensions tries
    while not ageing["passed"]:
        if len(extensions) >= eq.get("max_extensions", 2):
            raise RuntimeError(
                f"{label}: U/N still drifts after {len(extensions)} extensions (halves "
                f"{ageing['first_half_U']:.4f} vs {ageing['second_half_U']:.4f}, z = {ageing['z']:.1f}): the "
                "configuration is not equilibrated; raise equilibration.duration_tau_alpha or set "
                "equilibration.tau_alpha for this temperature"
            )
        print(f"[{label}] U/N drifts (z = {ageing['z']:.1f}); extending by {duration:.4g} tau", file=sys.stderr,
              flush=True)
        phase = f"extension{len(extensions) + 1}"
        ext = [Phase(phase, temp, duration, eq["log_every"])]
        ext_ckpt = ckpt.with_name(ckpt.stem + f".{phase}.npz")
        final, ext_log = run_phases(final, ext, md, derive_seed(seed, phase), label, checkpoint=ext_ckpt)
        log.rows.extend(ext_log.rows)
        extensions.append({"phase": phase, "duration": duration, "ageing_before": ageing})
        if ext_ckpt.exists():
            ext_ckpt.unlink()
        u = log.phase_array(phase, "potential_energy")
        ageing = ageing_check(u)
    p = log.phase_array(phase, "pressure")
    tt = log.phase_array(phase, "temperature")
    before = 0.0
    if previous is not None and sidecar(previous).exists():
        before = float(read_json(sidecar(previous))["summary"].get("cumulative_duration", 0.0))
    second = slice(len(u) // 2, None)  # averages over the second half of the run
    total = duration * (1 + len(extensions))
    summary = {
        "temperature_target": temp,
        "duration": total,
        "tau_alpha_estimate": tau,
        "duration_tau_alpha": total / tau,
        "cumulative_duration": before + total,
        "extensions": extensions,
        "potential_energy_per_particle": block_mean_error(u[second]),
        "pressure": block_mean_error(p[second]),
        "temperature_measured": block_mean_error(tt[second]),
        "ageing": ageing,
        "energy_convention": "shifted LJ (V(r_c)=0), per particle",
        "retried_with_smaller_dt": retried,
        "density": final.density,
    }
    final.log = {"equiglass/temperature": np.array([temp], dtype=np.float64)}
    write_gsd(output, final)
    with atomic_path(thermo_csv) as tmp:
        tmp.write_text(log.to_csv())
    write_json(sidecar(output), {
        "summary": summary,
        "units": {"energy": "epsilon_AA", "pressure": "epsilon_AA/sigma_AA^3", "time": "tau", "length": "sigma_AA"},
        "provenance": provenance("equilibrate", {**settings, "md": vars(resolved_md(md))},
                                 time.perf_counter() - t_start, previous=str(previous) if previous else None),
    })
    for leftover in (ckpt, ckpt.with_name(ckpt.stem + ".retry.npz")):
        if leftover.exists():
            leftover.unlink()
    return summary


# ----------------------------------------------------------------------- isoconfigurational
def step_isoconfigurational(settings: dict[str, Any], config_gsd: str | Path, output: str | Path,
                            trajectory: str | Path | None = None) -> dict[str, Any]:
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
                              iso["points_per_decade"], label, checkpoint=ckpt, trajectory=traj)
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

    Writes ``output`` (.npz: propensity (n_t, N), stderr, times, types, temperature, metadata)
    and a GSD copy of the starting configuration with the propensities as per-particle log
    fields (``output`` with suffix .gsd), viewable in OVITO.
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
    save_npz(output, propensity=values, stderr=err, times=sums.times[idx], types=state.types,
             temperature=np.float64(dj["temperature"]), metadata=json.dumps(meta))
    state.log = {f"equiglass/propensity_{k}": values[k].astype(np.float32) for k in range(len(idx))}
    state.log["equiglass/times"] = sums.times[idx]
    write_gsd(Path(output).with_suffix(".gsd"), state)
    return meta


# ----------------------------------------------------------------------------------- graphs
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
    from .state import State, maxwell_boltzmann

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


# ------------------------------------------------------------------------------------ learn
def _samples(pairs: list[tuple[str, str]]) -> list:
    from .dataset import load_sample

    return [load_sample(g, p, name=_sample_name(g)) for g, p in pairs]


def _sample_name(graph_path: str | Path) -> str:
    p = Path(graph_path)
    return f"{p.parent.name}/{p.stem}"


def step_train(settings: dict[str, Any], train_pairs: list[tuple[str, str]], val_pairs: list[tuple[str, str]],
               dynamics_jsons: list[str], out_dir: str | Path) -> dict[str, Any]:
    """Train one model family on (graph, propensity) pairs; write ``out_dir/model.pt``.

    settings: ``family``, ``hparams``, ``training`` (see TrainSettings), ``seed``,
    ``temperatures`` (the training set), ``graphs``, ``descriptors``, ``propensity``.
    """
    from .training import TrainSettings, read_train_time, train

    tr = dict(settings["training"])
    hp = dict(settings.get("hparams", {}))
    augment = bool(hp.pop("augment_rotations", False))
    if settings["family"] == "ridge":
        tr["ridge_alphas"] = tuple(hp.pop("alphas", TrainSettings.ridge_alphas))
    inputs = settings.get("inputs", {"positions": "thermal", "local_energy": False})
    if settings["family"] == "se3gnn":
        hp.setdefault("cutoff", float(settings["graphs"]["cutoff"]))
    temperature_input = bool(tr.pop("temperature_input", False))
    n_extra = int(bool(inputs.get("local_energy"))) + int(temperature_input)
    if settings["family"] in ("se3gnn", "bapst") and n_extra:
        hp["n_extra"] = n_extra
    ts = TrainSettings(family=settings["family"], hparams=hp, seed=int(settings["seed"]),
                       augment_rotations=augment, **tr)
    dyns = [read_json(f) for f in dynamics_jsons]
    info = {
        "temperatures": settings["temperatures"],
        "timescales": {
            "labels": dyns[0]["timescale_labels"],
            "mode": dyns[0]["target_mode"],
            "values": dyns[0]["target_values"],
            "times_by_temperature": {temperature_key(d["temperature"]): d["target_times"] for d in dyns},
            "tau_alpha_by_temperature": {temperature_key(d["temperature"]): d["tau_alpha"] for d in dyns},
        },
        "inputs": {"positions": inputs.get("positions", "thermal"), "local_energy": bool(inputs.get("local_energy")),
                   "temperature_input": temperature_input,
                   "graph_cutoff": float(settings["graphs"]["cutoff"]), "descriptors": settings["descriptors"],
                   "n_types": 2},
        "target": {"kind": settings["propensity"]["kind"], "units": "sigma_AA"
                   if settings["propensity"]["kind"] == "displacement" else "sigma_AA^2"},
    }
    from .dataset import apply_model_inputs

    train_s = [apply_model_inputs(s, info["inputs"]) for s in _samples(train_pairs)]
    val_s = [apply_model_inputs(s, info["inputs"]) for s in _samples(val_pairs)]
    densities = [s.n / float(np.prod(s.graph.box)) for s in train_s]
    info["inputs"]["density_range"] = [min(densities), max(densities)]
    t0 = time.perf_counter()
    art = train(train_s, val_s, ts, out_dir, label=f"train {settings['family']} {settings.get('set_name', '')}",
                info=info)
    write_json(Path(out_dir) / "model.json", {
        "family": art["family"], "n_parameters": art["info"]["training"]["n_parameters"],
        "content_hash": art["content_hash"], "info": art["info"],
        "provenance": provenance("train", settings, time.perf_counter() - t0,
                                 train_time_s=read_train_time(out_dir)),
    })
    return art["info"]["training"]


def step_evaluate(settings: dict[str, Any], model_path: str | Path, test_pairs: dict[str, list[tuple[str, str]]],
                  output: str | Path) -> dict[str, Any]:
    """Pearson ρ (mean over configurations and pooled), Spearman ρ and MSE per type and timescale.

    ``test_pairs`` maps temperature key → (graph, propensity) pairs. Writes ``output`` (.json)
    and the predictions (same name, .npz: one array per test configuration).
    """
    from .artifact import Predictor
    from .metrics import evaluate_predictions

    t0 = time.perf_counter()
    pred = Predictor.load(model_path)
    art = pred.artifact
    results: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    inference_s: dict[str, float] = {}
    for tkey, pairs in test_pairs.items():
        samples = _samples(pairs)
        t_inf = time.perf_counter()
        preds = [pred.predict(s) for s in samples]
        t_inf = (time.perf_counter() - t_inf) / max(len(samples), 1)
        metrics = evaluate_predictions(preds, [s.targets for s in samples], [s.graph.types for s in samples],
                                       seed=int(settings.get("seed", 0)))
        results[tkey] = {"metrics": metrics, "times": samples[0].times.tolist(),
                         "timescale_labels": samples[0].timescale_labels,
                         "configurations": [s.name for s in samples]}
        inference_s[tkey] = t_inf
        for s, p in zip(samples, preds):
            arrays[f"T{tkey}/{s.name}/pred"] = p.astype(np.float32)
            arrays[f"T{tkey}/{s.name}/true"] = s.targets.astype(np.float32)
            arrays[f"T{tkey}/{s.name}/types"] = s.graph.types
    out = {
        "model": art["family"], "train_set": settings.get("set_name"),
        "train_temperatures": art["info"].get("temperatures"),
        "n_parameters": art["info"]["training"]["n_parameters"],
        "train_time_s": _train_time(model_path),
        "content_hash": art["content_hash"],
        "results": results,
        "provenance": provenance("evaluate", settings, time.perf_counter() - t0, model=str(model_path),
                                 inference_s_per_configuration=inference_s),
    }
    save_npz(Path(output).with_suffix(".npz"), **{k.replace("/", "|"): v for k, v in arrays.items()})
    write_json(output, out)
    return out


def _train_time(model_path: str | Path) -> float | None:
    """Training wall time [s] recorded beside a model file (provenance, not a result)."""
    from .training import read_train_time

    return read_train_time(Path(model_path).parent)


def metrics_rows(evaluations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flatten evaluation files into rows (model, train set, T, type, timescale, metrics)."""
    rows = []
    for ev in evaluations:
        for tkey, res in ev["results"].items():
            for species, m in res["metrics"].items():
                for k, label in enumerate(res["timescale_labels"]):
                    rows.append({
                        "model": ev["model"], "train_set": ev["train_set"], "test_T": float(tkey),
                        "type": species, "timescale": label, "time": res["times"][k],
                        "pearson": m["pearson"][k], "pearson_sem": m["pearson_sem"][k],
                        "pearson_pooled": m["pearson_pooled"][k], "spearman": m["spearman"][k],
                        "mse": m["mse"][k], "n_test_configurations": m["n_configurations"],
                        "n_parameters": ev["n_parameters"],
                    })
    return rows


def step_table(evaluation_jsons: list[str], output_csv: str | Path) -> list[dict[str, Any]]:
    """Comparison table of every model: CSV and a Markdown version (same name, .md)."""
    rows = metrics_rows([read_json(f) for f in evaluation_jsons])
    write_csv(output_csv, rows)
    md = ["| model | train set | test T | type | timescale | t [τ] | Pearson ρ (mean ± sem) | pooled ρ | params |",
          "|---|---|---|---|---|---|---|---|---|"]
    def f(x: Any, spec: str) -> str:
        return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)

    for r in rows:
        md.append(f"| {r['model']} | {r['train_set']} | {r['test_T']:.2f} | {r['type']} | {r['timescale']} | "
                  f"{f(r['time'], '.3g')} | {f(r['pearson'], '.3f')} ± {f(r['pearson_sem'], '.3f')} | "
                  f"{f(r['pearson_pooled'], '.3f')} | {r['n_parameters']} |")
    with atomic_path(Path(output_csv).with_suffix(".md")) as tmp:
        tmp.write_text("\n".join(md) + "\n")
    return rows


# ------------------------------------------------------------------------- published data
def step_import(settings: dict[str, Any], source_file: str | Path, config_gsd: str | Path,
                output: str | Path, inherent_gsd: str | Path | None = None,
                cage_gsd: str | Path | None = None) -> dict[str, Any]:
    """Convert one file of a published dataset (``settings['source']``: bapst | glassbench).

    GlassBench files also hold inherent and cage positions, written to ``inherent_gsd`` and
    ``cage_gsd`` when given.
    """
    from .readers import read_bapst, read_glassbench, write_imported

    t0 = time.perf_counter()
    if settings["source"] == "bapst":
        sample = read_bapst(source_file)
    elif settings["source"] == "glassbench":
        sample = read_glassbench(source_file, "thermal", settings.get("times"))
    else:
        raise InputError(f"unknown data source {settings['source']!r}")
    tkey = temperature_key(settings["temperature"])
    if temperature_key(sample.temperature) != tkey:
        raise InputError(f"{source_file}: temperature {sample.temperature} but expected T={tkey}; put the file "
                         "in the folder of its temperature")
    write_imported(sample, config_gsd, output, {
        "provenance": provenance("import", settings, time.perf_counter() - t0, source=str(source_file)),
    })
    from .state import State

    for name, path in (("inherent", inherent_gsd), ("cage", cage_gsd)):
        if path is None:
            continue
        if name not in sample.extra:
            raise InputError(f"{source_file}: has no {name} positions; use inputs.positions: thermal")
        st = sample.state
        other = State(sample.extra[name], st.types, st.box).wrapped()
        other.log = {"equiglass/temperature": np.array([sample.temperature])}
        write_gsd(path, other)
    return {"n": sample.state.n, "n_times": len(sample.times)}


def step_import_dynamics(settings: dict[str, Any], propensity_files: list[str], output: str | Path) -> dict[str, Any]:
    """Timescale record of a published dataset at one temperature (what ``dynamics`` gives for MD)."""
    from .dataset import load_propensity

    first = load_propensity(propensity_files[0])
    for f in propensity_files[1:]:
        other = load_propensity(f)
        if not np.array_equal(other["times"], first["times"], equal_nan=True):
            raise InputError(f"{f}: time grid differs from {propensity_files[0]}; set data.times "
                             "or use files of one dataset per temperature")
    meta = first["meta"]
    times = first["times"].tolist()
    tau = meta.get("tau_alpha", float("nan"))
    result = {
        "temperature": float(settings["temperature"]), "tau_alpha": tau, "tau_alpha_err": None,
        "target_mode": "dataset", "target_values": times, "timescale_labels": meta["timescale_labels"],
        "target_times": times, "target_times_tau_alpha": meta.get("times_tau_alpha"),
        "n_configurations": len(propensity_files), "source": settings["source"],
        "provenance": provenance("import_dynamics", settings),
    }
    write_json(output, result)
    return result
