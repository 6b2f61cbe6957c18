"""Use a trained model on your own configurations: read, check, predict, write.

- :func:`read_configurations` reads every frame (or a selection) of a GSD file, a LAMMPS text
  dump, an extended-XYZ file, a Bapst et al. pickle or a GlassBench ``.npz`` into
  :class:`~equiglass.state.State` objects (positions wrapped into [-L/2, L/2); species mapped to
  0 = A, 1 = B; what was read is recorded in ``state.log["equiglass/input"]``).
- :func:`check_compatible` refuses configurations the model was not trained for (species,
  box, density, box size, kind of positions) unless forced, in which case the differences are
  returned as warnings.
- :func:`predict_configurations` builds the model's inputs (graph with its cutoff, descriptors,
  local energies, inherent structures as at training) and predicts propensities.
- :func:`write_predictions` writes a GSD (per-particle fields ``log/particles/prediction_<k>``,
  viewable in OVITO), a CSV table and a JSON sidecar (model hash, timescales, warnings, timing).

Species: with two species, A is the more numerous one unless the names or type ids say
otherwise (names ``A``/``B``; LAMMPS types 1/2; the documented 0/1 of the Bapst and GlassBench
files). Lengths are in σ_AA, as in the training data.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .files import InputError, atomic_path, write_json
from .formats.configurations import INFO_KEY, read_configurations
from .formats.gsd_files import write_gsd
from .ka import TYPE_NAMES
from .models import registry
from .state import State, wrap_positions

DENSITY_TOLERANCE = 0.05


# ---------------------------------------------------------------------------- checking
def _inputs(info: dict[str, Any], source: str = "model") -> dict[str, Any]:
    inputs = info.get("inputs")
    if not isinstance(inputs, dict) or "graph_cutoff" not in inputs:
        raise InputError(f"{source}: the model file does not record its input settings (info['inputs'] with "
                         "graph_cutoff); it was not written by `equiglass train`: retrain it with the pipeline")
    return inputs


def neighbour_radius(info: dict[str, Any], family: str | None = None) -> float:
    """Largest neighbour radius the model's inputs need [σ_AA] (graph cutoff; descriptor shells)."""
    inputs = _inputs(info)
    r = float(inputs["graph_cutoff"])
    d = inputs.get("descriptors") or {}
    if family is not None and registry.family(family).inputs == "descriptors" and d:
        r = max(r, float(d.get("shell_cutoff", 0.0)),
                float(d.get("radial_max", 0.0)) + 3 * float(d.get("radial_width", 0.0)),
                float(d.get("coarse_grain_cutoff", 0.0)) if d.get("coarse_grain") else 0.0)
    return r


def _species_text(state: State) -> str:
    mapping = state.log.get(INFO_KEY, {}).get("species")
    if mapping:
        return ", ".join(f"{k} ({v['count']})" for k, v in mapping.items())
    return ", ".join(f"type {t} ({c})" for t, c in zip(*np.unique(state.types, return_counts=True)))


def check_compatible(state: State, artifact_info: dict[str, Any], source: str, force: bool = False,
                     family: str | None = None) -> list[str]:
    """Problems that make ``state`` unfit for the model; InputError unless ``force`` (then warnings).

    Checks: at most 2 species; a periodic orthorhombic box with positive edges; density within
    the training range ``info["inputs"]["density_range"]`` ± 5 %; box edges larger than twice the
    neighbour radius (graph cutoff, descriptor shells for descriptor models); thermal or inherent
    positions expected (cage-state models need cage-state inputs, which cannot be made here).
    """
    inputs = _inputs(artifact_info, source)
    problems: list[str] = []
    n_species = len(np.unique(state.types))
    if n_species > 2 or state.types.max(initial=0) > 1:
        problems.append(f"{n_species} species [{_species_text(state)}] but the model knows 2 (A, B); "
                        "with --force every species after the two most numerous is treated as B")
    box = state.box
    box_ok = bool(np.all(np.isfinite(box)) and np.all(box > 0))
    if not box_ok:
        problems.append(f"no periodic box (edges {box.tolist()}); with --force the box is guessed from the "
                        "extent of the positions")
    tilt = np.asarray(state.log.get(INFO_KEY, {}).get("tilt", []), dtype=float)
    if tilt.size and np.any(np.abs(tilt) > 1e-9 * max(float(np.max(np.abs(box))), 1.0)):
        problems.append(f"non-orthorhombic box (tilts {np.round(tilt, 6).tolist()}); the model was trained in "
                        "orthorhombic boxes; with --force the tilts are ignored")
    if box_ok:
        rho = state.density
        dr = inputs.get("density_range")
        if dr:
            lo, hi = float(dr[0]) * (1 - DENSITY_TOLERANCE), float(dr[1]) * (1 + DENSITY_TOLERANCE)
            if not lo <= rho <= hi:
                problems.append(f"density {rho:.4g} is outside the training range [{dr[0]:.4g}, {dr[1]:.4g}] by "
                                f"more than 5 % (accepted {lo:.4g} to {hi:.4g})")
        r = neighbour_radius(artifact_info, family)
        if float(np.min(box)) <= 2 * r:
            problems.append(f"box edge {float(np.min(box)):.4g} is not larger than twice the model's neighbour "
                            f"cutoff {r:g} (needs > {2 * r:g}); with --force the box is replicated periodically")
    if inputs.get("positions") == "cage":
        problems.append("the model was trained on cage states (positions averaged over short NVE runs), which "
                        "cannot be computed here; with --force the given positions are used as cage states")
    if problems and not force:
        raise InputError(f"{source}: does not fit the model: " + "; ".join(problems)
                         + ". Pass --force (force=True) to predict anyway; the differences are then recorded "
                         "as warnings.")
    return [f"{source}: {p}" for p in problems]


# ---------------------------------------------------------------------------- predicting
def _source(state: State, k: int) -> str:
    inf = state.log.get(INFO_KEY)
    return f"{inf['source']} frame {inf['frame']}" if inf else f"configuration {k}"


def _forced(state: State, radius: float) -> tuple[State, dict[str, Any]]:
    """Make a refused configuration usable: types 0/1, a box, tilts dropped, replicated if small."""
    done: dict[str, Any] = {}
    types = np.minimum(state.types, 1)
    box = state.box.copy()
    pos = state.positions
    if not (np.all(np.isfinite(box)) and np.all(box > 0)):
        span = np.ptp(pos, axis=0)
        if np.any(span <= 0):
            raise InputError(f"no box and the positions are flat (extent {span.tolist()}): cannot guess a box")
        box = span + (float(np.prod(span)) / len(pos)) ** (1 / 3)
        done["box_guessed"] = box.tolist()
    pos = wrap_positions(pos - (pos.min(axis=0) + box / 2 if "box_guessed" in done else 0.0), box)
    reps = [int(2 * radius // L) + 1 if L <= 2 * radius else 1 for L in box]
    if max(reps) > 1:
        shifts = np.array(list(itertools.product(*[range(k) for k in reps])), dtype=np.float64)
        pos = np.concatenate([pos + s * box for s in shifts])
        types = np.tile(types, len(shifts))
        box = box * np.array(reps)
        pos = wrap_positions(pos, box)
        done["replicated"] = reps
    return State(pos, types, box), done


def model_sample(state: State, art: dict[str, Any], timing: dict[str, Any]):
    """The model's input for ``state``, built as at training (:mod:`equiglass.model_inputs`)."""
    from .dataset import Sample
    from .model_inputs import InputSettings, model_configuration, model_inputs

    inp = InputSettings.from_record(_inputs(art["info"]))
    t0 = time.perf_counter()
    if inp.positions == "inherent":  # cage-state models take the given positions (checked, forced)
        state = model_configuration(state, inp)
    timing["minimize_s"] = timing.get("minimize_s", 0.0) + time.perf_counter() - t0
    t0 = time.perf_counter()
    mi = model_inputs(state, inp, descriptors=registry.family(art["family"]).inputs == "descriptors")
    timing["inputs_s"] = timing.get("inputs_s", 0.0) + time.perf_counter() - t0
    if mi.descriptors.shape[1] and mi.descriptors.shape[1] != int(art["n_descriptors"]):
        raise InputError(f"the model reads {art['n_descriptors']} descriptors but its recorded settings give "
                         f"{mi.descriptors.shape[1]}: the model file's info['inputs'] does not match its weights; "
                         "retrain it")
    temp = state.log.get("equiglass/temperature")
    return Sample("predict", mi.graph, mi.descriptors.astype(np.float32), mi.names,
                  float(temp[0]) if temp is not None else float("nan"),
                  extra=None if mi.extra is None else mi.extra.astype(np.float32))


def predict_configurations(model_path: str | Path | dict[str, Any], states: list[State], device: str = "cpu",
                           force: bool = False, timing: dict[str, Any] | None = None
                           ) -> tuple[list[np.ndarray], list[str]]:
    """Propensities (N, n_t) float32 per configuration, and the warnings of forced checks.

    ``model_path``: a model file, a published model's name (:mod:`equiglass.published_models`) or a
    loaded artifact. Inputs are built as at training: radius
    graph with ``info["inputs"]["graph_cutoff"]``; descriptors with ``info["inputs"]["descriptors"]``
    (descriptor models); inherent structures (FIRE, LAMMPS) and per-particle local energies
    (LAMMPS) when the model used them. ``device``: cpu, gpu or auto. ``timing`` (optional dict)
    receives seconds spent per stage. What a forced prediction changed (guessed box,
    replication) is added to ``state.log["equiglass/input"]``.
    """
    from .artifact import Predictor
    from .progress import Reporter
    from .published_models import resolve_model
    from .training import pick_device

    art = model_path if isinstance(model_path, dict) else resolve_model(model_path)
    info = art["info"]
    _inputs(info, str(model_path) if not isinstance(model_path, dict) else "model")
    radius = neighbour_radius(info, art["family"])
    try:
        dev = pick_device(device)
    except RuntimeError as err:
        raise InputError(str(err).replace("use device: auto", "use --device auto or cpu")) from err
    predictor = Predictor(art, str(dev))
    timing = timing if timing is not None else {}
    predictions: list[np.ndarray] = []
    warnings: list[str] = []
    rep = Reporter("predict", len(states), "configurations")
    for k, st in enumerate(states):
        source = _source(st, k)
        found = check_compatible(st, info, source, force=force, family=art["family"])
        warnings.extend(found)
        if found:
            try:
                work, done = _forced(st, radius)
            except InputError as err:
                raise InputError(f"{source}: {err}") from err
            st.log.setdefault(INFO_KEY, {}).update(done)
            if "box_guessed" in done:
                st.box = np.asarray(done["box_guessed"])
                st.positions = work.positions[: st.n]
        else:
            work = st.wrapped()
        work.log = {k2: v for k2, v in st.log.items() if k2 == "equiglass/temperature"}
        sample = model_sample(work, art, timing)
        t0 = time.perf_counter()
        pred = predictor.predict(sample)[: st.n]
        timing["model_s"] = timing.get("model_s", 0.0) + time.perf_counter() - t0
        predictions.append(np.asarray(pred, dtype=np.float32))
        rep.update(k + 1, N=st.n)
    rep.close(f"{len(states)} configurations on {dev}")
    timing["device"] = str(dev)
    return predictions, warnings


# ------------------------------------------------------------------------------ writing
def timescales_meta(info: dict[str, Any]) -> dict[str, Any]:
    """Timescale labels, absolute times per training temperature [τ] and the same in units of τ_α."""
    ts = info.get("timescales") or {}
    times = ts.get("times_by_temperature") or {}
    taus = ts.get("tau_alpha_by_temperature") or {}
    in_tau = {}
    for tkey, tt in times.items():
        tau = taus.get(tkey)
        ok = tau is not None and isinstance(tau, int | float) and math.isfinite(tau) and tau > 0
        in_tau[tkey] = [float(t) / tau if ok and t is not None else None for t in tt]
    return {"labels": list(ts.get("labels", [])), "mode": ts.get("mode"), "values": ts.get("values"),
            "times_by_temperature": times, "tau_alpha_by_temperature": taus,
            "times_tau_alpha_by_temperature": in_tau, "units": {"time": "tau"}}


def _frame_times(state: State, tsm: dict[str, Any], n_t: int) -> tuple[list, list]:
    from .config import temperature_key

    temp = state.log.get("equiglass/temperature")
    if temp is not None:
        key = temperature_key(float(temp[0]))
        if key in tsm["times_by_temperature"]:
            return list(tsm["times_by_temperature"][key]), list(tsm["times_tau_alpha_by_temperature"][key])
    return [None] * n_t, [None] * n_t


def write_predictions(out_prefix: str | Path, states: list[State], predictions: list[np.ndarray],
                      labels: list[str], meta: dict[str, Any]) -> dict[str, Path]:
    """Write ``<out>.gsd``, ``<out>.csv`` and ``<out>.json`` atomically; return their paths.

    GSD: one frame per configuration, per-particle fields ``log/particles/prediction_<k>`` (OVITO
    shows them as particle properties)
    (float32; k indexes ``labels``) and ``equiglass/prediction_times`` (absolute times [τ] when
    the configuration's temperature is a training temperature, else NaN). CSV: columns frame,
    particle, type, x, y, z and one per label. JSON: ``meta`` plus labels, columns, files and
    one record per frame (source file and frame, N, density, species mapping, times).
    """
    out = Path(out_prefix)
    if out.suffix in (".gsd", ".csv", ".json"):
        out = out.with_suffix("")
    paths = {"gsd": Path(f"{out}.gsd"), "csv": Path(f"{out}.csv"), "json": Path(f"{out}.json")}
    if len(states) != len(predictions):
        raise ValueError(f"{len(states)} configurations but {len(predictions)} predictions")
    n_t = len(labels)
    tsm = meta.get("timescales") or {"times_by_temperature": {}, "times_tau_alpha_by_temperature": {}}
    frames, logs, outs = [], [], []
    for f, (st, pred) in enumerate(zip(states, predictions)):
        if pred.shape != (st.n, n_t):
            raise ValueError(f"frame {f}: predictions {pred.shape} but N = {st.n} and {n_t} labels")
        box = st.box if np.all(np.isfinite(st.box)) and np.all(st.box > 0) else np.ptp(st.positions, axis=0)
        outs.append(State(wrap_positions(st.positions, box), np.minimum(st.types, 1), box))
        times, times_tau = _frame_times(st, tsm, n_t)
        lg: dict[str, Any] = {f"particles/prediction_{k}": pred[:, k].astype(np.float32) for k in range(n_t)}
        lg["equiglass/prediction_times"] = np.array([np.nan if t is None else t for t in times], dtype=np.float64)
        if "equiglass/temperature" in st.log:
            lg["equiglass/temperature"] = np.asarray(st.log["equiglass/temperature"], dtype=np.float64)
        logs.append(lg)
        inf = dict(st.log.get(INFO_KEY, {}))
        frames.append({"frame": f, "source_frame": inf.pop("frame", None), **inf, "n": st.n, "box": box.tolist(),
                       "density": float(st.n / np.prod(box)),
                       "temperature": float(st.log["equiglass/temperature"][0])
                       if "equiglass/temperature" in st.log else None,
                       "times": times, "times_tau_alpha": times_tau})
    write_gsd(paths["gsd"], outs, logs)
    columns = ["frame", "particle", "type", "x", "y", "z", *labels]
    with atomic_path(paths["csv"]) as tmp, open(tmp, "w", newline="") as fh:
        csv.writer(fh).writerow(columns)
        for f, (st, pred) in enumerate(zip(outs, predictions)):
            buf = io.StringIO()
            np.savetxt(buf, np.column_stack([st.positions, pred]), fmt="%.7g", delimiter=",")
            rows = buf.getvalue().splitlines()
            fh.write("".join(f"{f},{i},{TYPE_NAMES[t]},{r}\n" for i, (t, r) in enumerate(zip(st.types, rows))))
    write_json(paths["json"], {**meta, "labels": list(labels), "columns": columns,
                               "files": {k: str(v) for k, v in paths.items()}, "frames": frames,
                               "gsd_fields": {f"particles/prediction_{k}": lab for k, lab in enumerate(labels)}})
    return paths


def run_predict(model: str | Path, inputs: list[str | Path], out_prefix: str | Path, frames: str | None = None,
                fmt: str | None = None, device: str = "cpu", force: bool = False) -> dict[str, Any]:
    """``equiglass predict``: read every input, predict, write; returns a summary.

    ``model``: a model file or the name of a published model (e.g. ``deepmind-t044-s09``)."""
    from .provenance import provenance
    from .published_models import resolve_model

    t_start = time.perf_counter()
    art = resolve_model(model)
    info = art["info"]
    _inputs(info, str(model))
    states: list[State] = []
    for path in inputs:
        states.extend(read_configurations(path, frames, fmt))
    t_read = time.perf_counter() - t_start
    timing: dict[str, Any] = {}
    t0 = time.perf_counter()
    preds, warnings = predict_configurations(art, states, device=device, force=force, timing=timing)
    t_pred = time.perf_counter() - t0
    n_t = int(art["n_outputs"])
    tsm = timescales_meta(info)
    labels = tsm["labels"] if len(tsm["labels"]) == n_t else [f"t{k}" for k in range(n_t)]
    settings = {"model": str(model), "inputs": [str(p) for p in inputs], "frames": frames, "format": fmt,
                "device": device, "force": force}
    meta = {
        "model": {"path": str(model), "family": art["family"], "content_hash": art["content_hash"],
                  "n_outputs": n_t, "train_temperatures": info.get("temperatures"), "inputs": info.get("inputs"),
                  "target": info.get("target"), "versions": art.get("versions"),
                  **({"published": info["published"]} if "published" in info else {})},
        "timescales": tsm,
        "input_files": [str(p) for p in inputs],
        "warnings": warnings,
        "forced": bool(force and warnings),
        "units": {"length": "sigma_AA", "propensity": (info.get("target") or {}).get("units", "sigma_AA"),
                  "time": "tau"},
        "timing": {"read_s": round(t_read, 4), "predict_s": round(t_pred, 4),
                   "s_per_configuration": round(t_pred / max(len(states), 1), 4),
                   **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in timing.items()}},
    }
    meta["provenance"] = provenance("predict", settings, time.perf_counter() - t_start)
    paths = write_predictions(out_prefix, states, preds, labels, meta)
    for w in warnings:
        print(f"equiglass predict: warning: {w}", file=sys.stderr)
    return {"n_configurations": len(states), "n_particles": int(sum(s.n for s in states)),
            "s_per_configuration": t_pred / max(len(states), 1), "warnings": warnings,
            "paths": paths, "family": art["family"], "content_hash": art["content_hash"]}


# ------------------------------------------------------------------------------ figure
