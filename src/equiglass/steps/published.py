"""Published datasets (Bapst et al. 2020 pickles, GlassBench): convert them into the pipeline's files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..config import temperature_key
from ..files import InputError, write_json
from ..formats.gsd_files import write_gsd
from ..provenance import provenance


def step_import(settings: dict[str, Any], source_file: str | Path, config_gsd: str | Path,
                output: str | Path, inherent_gsd: str | Path | None = None,
                cage_gsd: str | Path | None = None) -> dict[str, Any]:
    """Convert one file of a published dataset (``settings['source']``: bapst | glassbench).

    GlassBench files also hold inherent and cage positions, written to ``inherent_gsd`` and
    ``cage_gsd`` when given.
    """
    from ..formats.published import read_bapst, read_glassbench, write_imported

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
    from ..state import State

    for name, path in (("inherent", inherent_gsd), ("cage", cage_gsd)):
        if path is None:
            continue
        if name not in sample.extra:
            hint = (" (GlassBench stores cage states for configurations 1-100 and 401-500 only: use "
                    "inputs.positions thermal or inherent, or at most 100 training configurations)"
                    if name == "cage" else "")
            raise InputError(f"{source_file}: has no {name} positions{hint}; use inputs.positions: thermal")
        st = sample.state
        other = State(sample.extra[name], st.types, st.box).wrapped()
        other.log = {"equiglass/temperature": np.array([sample.temperature])}
        write_gsd(path, other)
    return {"n": sample.state.n, "n_times": len(sample.times)}


PUBLISHED_SOURCE = ("GlassBench test files (Jung et al., Roadmap on machine learning glassy dynamics, "
                    "arXiv:2311.14752; Zenodo 10118191)")


def step_published_predictions(settings: dict[str, Any], test_files: dict[str, list[tuple[str, str]]],
                               outputs: dict[str, str]) -> dict[str, Any]:
    """Score the predictions deposited in GlassBench's test files as this pipeline scores its own.

    ``test_files``: temperature key → (configuration name, GlassBench test file) pairs, names as
    our evaluations give them (``T0.44/s<id>``, after the graph files), so comparisons pair the
    same configurations.
    ``outputs``: deposited key (e.g. ``SE3``) → evaluation JSON to write, in the format of
    ``results/eval/*.json`` (species A only: GlassBench scores type A). A key no file holds gets an
    evaluation without results (and a note), so the comparisons skip it.
    """
    from ..formats.published import GLASSBENCH_TIMES, glassbench_labels, read_glassbench_predictions
    from ..metrics import evaluate_predictions

    keys = list(outputs)
    per_key: dict[str, dict[str, Any]] = {k: {} for k in keys}
    times_cfg = settings.get("times") or {}
    for tkey, pairs in test_files.items():
        loaded = [(name, read_glassbench_predictions(f, keys)) for name, f in pairs]
        grid = times_cfg.get(tkey, GLASSBENCH_TIMES.get(tkey))
        n_t = loaded[0][1]["md_prop"].shape[0]
        times = np.asarray(grid if grid is not None and len(grid) == n_t else [np.nan] * n_t, dtype=float)
        labels, _ = glassbench_labels(times, tkey)
        for key in keys:
            have = [(name, d) for name, d in loaded if key in d]
            if not have:
                continue
            metrics = evaluate_predictions([d[key].T for _, d in have], [d["md_prop"].T for _, d in have],
                                           [d["types"] for _, d in have], seed=int(settings.get("seed", 0)))
            per_key[key][tkey] = {"metrics": {"A": metrics["A"]} if "A" in metrics else {},
                                  "times": times.tolist(), "timescale_labels": labels,
                                  "configurations": [name for name, _ in have]}
    for key, path in outputs.items():
        write_json(path, {
            "model": key, "train_set": "GlassBench", "source": PUBLISHED_SOURCE, "published": True,
            "train_temperatures": [float(t) for t in per_key[key]] or None, "n_parameters": None,
            "results": per_key[key],
            "note": None if per_key[key] else f"no test file holds '{key}'",
            "provenance": provenance("published_predictions", settings, key=key),
        })
    return {k: sorted(v) for k, v in per_key.items()}


def step_import_dynamics(settings: dict[str, Any], propensity_files: list[str], output: str | Path) -> dict[str, Any]:
    """Timescale record of a published dataset at one temperature (what ``dynamics`` gives for MD)."""
    from ..dataset import load_propensity

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
