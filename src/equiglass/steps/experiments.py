"""Pipeline steps of the experiments (rules ``generalization``, ``transfer``, ``interpret``,
``summary``): read the pipeline's files, run :mod:`equiglass.experiments`, write JSON and CSV,
then draw the figures (:mod:`equiglass.figures.experiments`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import experiments as ex
from ..artifact import load_artifact
from ..figures.experiments import fig_generalization, fig_interpretability, fig_transfer
from ..files import read_json, save_npz, write_csv, write_json
from ..metrics import tau_alpha_index
from ..provenance import provenance
from .directions import direction, direction_deltas


# --------------------------------------------------------------------- generalization
def step_generalization(evaluation_jsons: list[str], output_json: str | Path, fig_matrix: str | Path,
                        fig_curves: str | Path, caption: str = "", seed: int = 0,
                        replicate_jsons: list[str] = ()) -> dict[str, Any]:
    """ρ matrix (model/training set × test T) and ρ vs test T curves at ≈ τ_α, species A; each test
    T marked seen, colder or hotter than training; Δρ(SE(3) − family) paired over the test
    configurations (``deltas``: :func:`equiglass.steps.directions.direction_deltas`, bootstrap ``seed``;
    ``replicate_jsons``: the evaluations of the training seeds r ≥ 1, resampled with the configurations)."""
    evaluations = [read_json(f) for f in evaluation_jsons]
    replicates = [read_json(f) for f in replicate_jsons]
    res = ex.generalization(evaluations)
    for r in res["rows"]:
        r["direction"] = direction(r["test_T"], r["train_temperatures"])
    k = tau_alpha_index(res["labels"])
    flat = []
    for r in res["rows"]:
        for j, lab in enumerate(res["labels"]):
            flat.append({"model": r["model"], "train_set": r["train_set"], "test_T": r["test_T"],
                         "species": r["species"], "timescale": lab, "rho": r["rho"][j], "rho_sem": r["rho_sem"][j],
                         "unseen_temperature": r["unseen"], "direction": r["direction"]})
    write_csv(Path(output_json).with_suffix(".csv"), flat)
    write_json(output_json, {**res, "tau_alpha_index": k, "deltas": direction_deltas(evaluations, seed, replicates=replicates),
                             "provenance": provenance("generalization", {"seed": seed})})
    fig_generalization(output_json, fig_matrix, fig_curves, caption)
    return res


# ---------------------------------------------------------------------------- transfer
def step_transfer(settings: dict[str, Any], source_model: str | Path, pool_pairs: list[tuple[str, str]],
                  test_pairs: list[tuple[str, str]], output_json: str | Path, figure: str | Path,
                  caption: str = "", device: str = "cpu") -> dict[str, Any]:
    """Sample-efficiency curves of transfer learning (see :func:`equiglass.experiments.transfer`)."""
    import torch

    from .common import load_samples

    torch.set_num_threads(int(settings.get("threads", 2)))
    t0 = time.perf_counter()
    art = load_artifact(source_model)
    pool, test = load_samples(pool_pairs), load_samples(test_pairs)
    tr = settings["transfer"]
    res = ex.transfer(art, pool, test, list(tr["n_configs"]), epochs=tr["readout_epochs"],
                      fine_tune_epochs=tr["fine_tune_epochs"], scratch_epochs=tr["scratch_epochs"], lr=tr["lr"],
                      seed=int(settings["seed"]), fine_tune=tr["fine_tune"], scratch=tr["scratch"],
                      checkpoint=Path(output_json).with_suffix(".checkpoint.json"), device=_device(device))
    labels = test[0].timescale_labels
    k = tau_alpha_index(labels)
    res.update(source_temperatures=art["info"].get("temperatures"), target_temperature=settings["target"],
               labels=labels, tau_alpha_index=k,
               provenance=provenance("transfer", settings, time.perf_counter() - t0, model=str(source_model)))
    write_json(output_json, res)
    Path(output_json).with_suffix(".checkpoint.json").unlink(missing_ok=True)
    rows = []
    for method, by_n in res["methods"].items():
        for n, m in by_n.items():
            for species, mm in m.items():
                rows.append({"method": method, "n_configurations": n, "species": species,
                             **{f"rho_{lab}": mm["pearson"][j] for j, lab in enumerate(labels)}})
    write_csv(Path(output_json).with_suffix(".csv"), rows)
    fig_transfer(output_json, figure, caption)
    return res


# ------------------------------------------------------------------------ interpretability
def step_interpret(settings: dict[str, Any], model_path: str | Path, pairs: list[tuple[str, str]],
                   configurations: list[str], output_json: str | Path, fig_corr: str | Path,
                   fig_map: str | Path, caption: str = "", device: str = "cpu") -> dict[str, Any]:
    """Learned invariants vs Steinhardt q_l, q̄_l, local density and local energy; probes; a map."""
    import torch

    from ..formats.gsd_files import read_gsd
    from ..model_inputs import local_energies
    from .common import load_samples, md_settings

    torch.set_num_threads(int(settings.get("threads", 2)))
    t0 = time.perf_counter()
    art = load_artifact(model_path)
    samples = load_samples(pairs)
    names = samples[0].descriptor_names
    wanted = [f"q{l}" for l in (4, 6, 8)] + [f"qbar{l}" for l in (4, 6, 8)]
    targets: dict[str, list[np.ndarray]] = {}
    for w in wanted:
        if w in names:
            targets[w] = [s.descriptors[:, names.index(w)].astype(np.float64) for s in samples]
    targets["local density"] = [ex.local_density(s) for s in samples]
    md = md_settings(settings)
    targets["local energy"] = [local_energies(read_gsd(c), md) for c in configurations]
    res = ex.interpret(art, samples, targets, device=_device(device))
    res["provenance"] = provenance("interpret", settings, time.perf_counter() - t0, model=str(model_path))
    # the map: the layer-1 invariant that best matches the local density next to the propensity
    s0 = samples[0]
    feats = ex.layer_invariants(load_predictor_model(art), s0)
    desc = res["descriptors"]
    lay = res["layers"][1] if len(res["layers"]) > 1 else res["layers"][0]
    fname = lay["best_feature"][desc.index("local density")]
    x1, names1 = feats[lay["layer"]]
    k_tau = tau_alpha_index(s0.timescale_labels)
    titles = [f"learned invariant {fname}", "local density (first shell)",
              f"propensity {s0.timescale_labels[k_tau]}"]
    fields = np.stack([x1[:, names1.index(fname)], targets["local density"][0], s0.targets[:, k_tau]])
    res["map"] = {"configuration": s0.name, "titles": titles, "slab": float(settings.get("slab", 2.0))}
    save_npz(Path(output_json).with_suffix(".npz"), positions=s0.graph.positions, types=s0.graph.types,
             fields=fields)
    write_json(output_json, res)
    fig_interpretability(output_json, fig_corr, fig_map, caption)
    return res


def _device(device: str) -> str:
    """cpu, gpu or auto → ``cpu`` or this job's ``cuda:i``."""
    from ..training import pick_device

    return str(pick_device(device))


def load_predictor_model(artifact: dict[str, Any]):
    from ..artifact import Predictor

    return Predictor(artifact).model
