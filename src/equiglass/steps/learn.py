"""Learning steps: train, evaluate, table."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..config import temperature_key
from ..files import InputError, atomic_path, read_json, save_npz, write_csv, write_json
from ..provenance import provenance
from ..timescales import match_timescales
from .common import load_samples


def step_train(settings: dict[str, Any], train_pairs: list[tuple[str, str]], val_pairs: list[tuple[str, str]],
               dynamics_jsons: list[str], out_dir: str | Path) -> dict[str, Any]:
    """Train one model family on (graph, propensity) pairs; write ``out_dir/model.pt``.

    settings (:func:`equiglass.settings.train`): ``family``, ``hparams`` (constructor arguments),
    ``training`` (:class:`~equiglass.settings.TrainSettings` fields), ``seed``, ``temperatures``
    (the training set), ``inputs`` (model-input record), ``propensity``.
    """
    from ..settings import TrainSettings
    from ..training import read_train_time, train

    hparams = dict(settings["hparams"])
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
        # how configurations become inputs; prediction rebuilds them from this record
        "inputs": {**settings["inputs"], "n_types": 2},
        "target": {"kind": settings["propensity"]["kind"], "units": "sigma_AA"
                   if settings["propensity"]["kind"] == "displacement" else "sigma_AA^2"},
    }
    from ..dataset import apply_model_inputs

    train_s = [apply_model_inputs(s, info["inputs"]) for s in load_samples(train_pairs)]
    val_s = [apply_model_inputs(s, info["inputs"]) for s in load_samples(val_pairs)]
    match = settings.get("match_parameters")
    if match:  # ablations: the width that gives the reference model's parameter count
        from ..models import registry

        context = {"graph_cutoff": train_s[0].graph.cutoff, "avg_neighbors": 40.0,
                   "n_extra": 0 if train_s[0].extra is None else train_s[0].extra.shape[1]}
        hparams = registry.spec(settings["family"]).match_parameters(
            hparams, match["reference"], match["vary"], train_s[0].targets.shape[1], context)
    ts = TrainSettings(family=settings["family"], hparams=hparams, seed=int(settings["seed"]), **settings["training"])
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


def _model_columns(art: dict[str, Any], data_labels: list[str], data_times: Any, tkey: str,
                   model_path: str | Path) -> list[int] | None:
    """Columns of the test data that the model predicts; None: all of them, in order
    (:func:`equiglass.timescales.match_timescales`). A published model matches by time where the
    labels differ (:func:`equiglass.published_models.timescale_column`)."""
    model_labels = art["info"].get("timescales", {}).get("labels")
    if not model_labels:
        return None
    try:
        return match_timescales(model_labels, data_labels)
    except ValueError:
        if "published" in art["info"]:
            from ..published_models import timescale_column

            return timescale_column(art, data_labels, data_times, tkey)
        raise ValueError(f"{model_path} predicts timescales {model_labels}, but the test data at T = {tkey} has "
                         f"{data_labels}. Fix: evaluate it on propensities with the same timescales "
                         "(propensity.values)") from None


def configuration_samples(pairs: list[tuple[str, str]], art: dict[str, Any]) -> list:
    """Samples of (configuration file, propensity file) pairs with the model's own inputs built from
    each configuration as ``equiglass predict`` builds them (graph cutoff, positions, energies);
    named after the propensity file (``T0.44/s003``). Configurations that do not fit the model
    (species, density, box) are refused."""
    from ..dataset import load_propensity
    from ..formats.configurations import read_configurations
    from ..predict import check_compatible, model_sample
    from .common import sample_name

    out = []
    for conf, prop in pairs:
        state = read_configurations(conf, frames="-1")[0]
        check_compatible(state, art["info"], str(conf), family=art["family"])
        sample = model_sample(state.wrapped(), art, {})
        p = load_propensity(prop)
        if p["propensity"].shape[1] != sample.n or not np.array_equal(p["types"], sample.graph.types):
            raise ValueError(f"{prop}: propensities of {p['propensity'].shape[1]} particles (or their types) do not "
                             f"match the configuration {conf} ({sample.n}); rerun its import or propensity step")
        sample.name = sample_name(prop)
        sample.targets = p["propensity"].T.astype(np.float32)
        sample.times = p["times"]
        sample.temperature = float(p["temperature"])
        sample.timescale_labels = list(p["meta"].get("timescale_labels", [f"t{k}" for k in range(len(p["times"]))]))
        out.append(sample)
    return out


def step_evaluate(settings: dict[str, Any], model_path: str | Path, test_pairs: dict[str, list[tuple[str, str]]],
                  output: str | Path, device: str = "cpu", inputs: str = "graphs") -> dict[str, Any]:
    """Pearson ρ (mean over configurations and pooled), Spearman ρ and MSE per type and timescale,
    and the ceiling that the test labels' replica noise puts on ρ (:mod:`equiglass.ceiling`).

    ``model_path``: a model file or a published model's name (:mod:`equiglass.published_models`).
    ``test_pairs`` maps temperature key → (graph, propensity) pairs, or (configuration,
    propensity) pairs with ``inputs="configurations"`` (the model's inputs are then built from each
    configuration as at prediction, whatever the pipeline's graph settings). Writes ``output``
    (.json) and the predictions (same name, .npz: one array per test configuration).
    """
    from ..artifact import Predictor
    from ..ceiling import ceiling_over_configurations
    from ..metrics import evaluate_predictions
    from ..published_models import resolve_model
    from ..training import pick_device, timescale_columns

    if inputs not in ("graphs", "configurations"):
        raise ValueError(f"inputs must be graphs or configurations, got {inputs!r}")
    t0 = time.perf_counter()
    art = resolve_model(model_path)
    pred = Predictor(art, str(pick_device(device)))  # device: cpu, gpu or auto (this job's GPU)
    results: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    inference_s: dict[str, float] = {}
    for tkey, pairs in test_pairs.items():
        samples = load_samples(pairs) if inputs == "graphs" else configuration_samples(pairs, art)
        cutoff = art["info"].get("inputs", {}).get("graph_cutoff")
        if cutoff is not None and any(abs(s.graph.cutoff - float(cutoff)) > 1e-9 for s in samples):
            raise InputError(f"{model_path} reads graphs of cutoff {cutoff} but the test graphs at T = {tkey} have "
                             f"{samples[0].graph.cutoff}; pass the configuration files with --from-configurations, "
                             "which builds the model's own inputs")
        cols = _model_columns(art, samples[0].timescale_labels, samples[0].times, tkey, model_path)
        if cols is not None:  # trained on some timescales only
            samples = [timescale_columns(s, cols) for s in samples]
        t_inf = time.perf_counter()
        preds = [pred.predict(s) for s in samples]
        t_inf = (time.perf_counter() - t_inf) / max(len(samples), 1)
        metrics = evaluate_predictions(preds, [s.targets for s in samples], [s.graph.types for s in samples],
                                       seed=int(settings.get("seed", 0)))
        results[tkey] = {"metrics": metrics, "times": samples[0].times.tolist(),
                         "timescale_labels": samples[0].timescale_labels,
                         "configurations": [s.name for s in samples],
                         "ceiling": ceiling_over_configurations([p for _, p in pairs], cols)}
        inference_s[tkey] = t_inf
        for s, p in zip(samples, preds):
            arrays[f"T{tkey}/{s.name}/pred"] = p.astype(np.float32)
            arrays[f"T{tkey}/{s.name}/true"] = s.targets.astype(np.float32)
            arrays[f"T{tkey}/{s.name}/types"] = s.graph.types
    published = art["info"].get("published")
    out = {
        "model": art["family"], "train_set": settings.get("set_name"),
        "train_temperatures": art["info"].get("temperatures"),
        "n_parameters": art["info"]["training"]["n_parameters"],
        "train_configurations": art["info"]["training"].get("train_configurations", []),
        "train_time_s": None if published else _train_time(model_path),
        "training_seed": art["info"].get("training", {}).get("seed"),
        "content_hash": art["content_hash"],
        **({"published": published} if published else {}),
        "results": results,
        "provenance": provenance("evaluate", settings, time.perf_counter() - t0, model=str(model_path),
                                 inference_s_per_configuration=inference_s),
    }
    save_npz(Path(output).with_suffix(".npz"), **{k.replace("/", "|"): v for k, v in arrays.items()})
    write_json(output, out)
    return out


def _train_time(model_path: str | Path) -> float | None:
    """Training wall time [s] recorded beside a model file (provenance, not a result)."""
    from ..training import read_train_time

    return read_train_time(Path(model_path).parent)


def _finite_or_none(x: Any) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def ceiling_columns(ceiling: dict[str, Any] | None, species: str, k: int, pearson: Any) -> dict[str, Any]:
    """metrics.csv's ceiling columns of one (species, timescale k) from an evaluation's ``ceiling``
    record (:func:`equiglass.ceiling.ceiling_over_configurations`); None where it has none."""
    from ..ceiling import PROJECTED_REPLICAS, TARGET_CEILING

    c = (ceiling or {}).get(species) or {}

    def at(values: Any) -> float | None:
        return _finite_or_none(values[k]) if values is not None and k < len(values) else None

    ceil, rho = at(c.get("ceiling")), _finite_or_none(pearson)
    return {
        "ceiling": ceil, "ceiling_sem": at(c.get("ceiling_sem")), "ceiling_split_half": at(c.get("ceiling_split_half")),
        "rho_over_ceiling": rho / ceil if rho is not None and ceil else None, "n_replicas": c.get("n_replicas"),
        **{f"ceiling_{n}_replicas": at((c.get("projected") or {}).get(str(n))) for n in PROJECTED_REPLICAS},
        f"replicas_for_ceiling_{TARGET_CEILING:g}": at(c.get("replicas_for_target")),
    }


def _mean(values: list[Any]) -> float | None:
    """Mean of the finite values (None without any)."""
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    return sum(v) / len(v) if v else None


def _seed_columns(ms: list[dict[str, Any]], k: int, seed: int) -> dict[str, Any]:
    """metrics.csv's columns of timescale ``k`` of one model trained from several seeds (``ms``: each
    seed's metrics of one species): the mean over seeds of each metric (pearson: of the per-configuration
    mean ρ), the two-level bootstrap interval (configurations and seeds) and the spread over seeds."""
    from ..stats import seed_replicated_interval, seed_spread

    rho = np.array([np.asarray(m["pearson_per_configuration"], dtype=float)[:, k] for m in ms])
    ci = seed_replicated_interval(rho, seed=seed)
    per_seed = [m["pearson"][k] for m in ms]
    return {"pearson": _mean(per_seed), "pearson_sem": _mean([m["pearson_sem"][k] for m in ms]),
            "pearson_ci_low": ci.low, "pearson_ci_high": ci.high,
            **{key: _mean([m[key][k] for m in ms]) for key in ("pearson_pooled", "spearman", "mse")},
            "pearson_seed_std": seed_spread([np.nan if x is None else x for x in per_seed])}


def metrics_rows(evaluations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flatten evaluation files into rows (model, train set, T, type, timescale, metrics, ceiling).

    Evaluations of the same model and training set are its training seeds (``training.seeds``):
    its rows give the mean over seeds (pearson: of the per-configuration mean ρ; pearson_pooled,
    spearman, mse likewise), pearson_ci_low/high the two-level bootstrap interval over
    configurations and seeds (:func:`equiglass.stats.seed_replicated_interval`), pearson_sem the
    mean over seeds of the bootstrap error over configurations, pearson_seed_std the standard
    deviation over seeds and n_seeds their number. With one seed every column is the evaluation's
    own (n_seeds 1, no pearson_seed_std)."""
    from ..metrics import seed_groups

    rows = []
    for seeds in seed_groups(evaluations):
        ev = seeds[0]
        boot_seed = int(ev.get("provenance", {}).get("settings", {}).get("seed", 0))
        for tkey, res in ev["results"].items():
            for species, m in res["metrics"].items():
                ms = [e["results"][tkey]["metrics"][species] for e in seeds
                      if species in e["results"].get(tkey, {}).get("metrics", {})]
                for k, label in enumerate(res["timescale_labels"]):
                    row = {
                        "model": ev["model"], "train_set": ev["train_set"], "test_T": float(tkey),
                        "type": species, "timescale": label, "time": res["times"][k],
                        "pearson": m["pearson"][k], "pearson_sem": m["pearson_sem"][k],
                        "pearson_ci_low": m.get("pearson_ci_low", [None] * (k + 1))[k],
                        "pearson_ci_high": m.get("pearson_ci_high", [None] * (k + 1))[k],
                        "pearson_pooled": m["pearson_pooled"][k], "spearman": m["spearman"][k],
                        "mse": m["mse"][k], "n_test_configurations": m["n_configurations"],
                        "n_parameters": ev["n_parameters"],
                    }
                    spread = _seed_columns(ms, k, boot_seed) if len(ms) > 1 else {"pearson_seed_std": None}
                    row.update({key: v for key, v in spread.items() if key != "pearson_seed_std"})
                    rows.append({**row, **ceiling_columns(res.get("ceiling"), species, k, row["pearson"]),
                                 "n_seeds": len(ms), "pearson_seed_std": spread["pearson_seed_std"]})
    return rows


def step_table(evaluation_jsons: list[str], output_csv: str | Path) -> list[dict[str, Any]]:
    """Comparison table of every model (its seeds together: :func:`metrics_rows`): CSV and a Markdown
    version (same name, .md)."""
    rows = metrics_rows([read_json(f) for f in evaluation_jsons])
    write_csv(output_csv, rows)
    md = ["| model | train set | test T | type | timescale | t [τ] | Pearson ρ (mean ± sem) | 95 % CI | pooled ρ | "
          "ceiling [split-half] | ρ/ceiling | params | seeds (± sd of ρ) |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    def f(x: Any, spec: str) -> str:
        return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)

    for r in rows:
        md.append(f"| {r['model']} | {r['train_set']} | {r['test_T']:.2f} | {r['type']} | {r['timescale']} | "
                  f"{f(r['time'], '.3g')} | {f(r['pearson'], '.3f')} ± {f(r['pearson_sem'], '.3f')} | "
                  f"[{f(r['pearson_ci_low'], '.3f')}, {f(r['pearson_ci_high'], '.3f')}] | "
                  f"{f(r['pearson_pooled'], '.3f')} | {f(r['ceiling'], '.3f')} [{f(r['ceiling_split_half'], '.3f')}] | "
                  f"{f(r['rho_over_ceiling'], '.2f')} | {r['n_parameters']} | {r['n_seeds']}"
                  + (f" (± {f(r['pearson_seed_std'], '.3f')})" if r["n_seeds"] > 1 else "") + " |")
    with atomic_path(Path(output_csv).with_suffix(".md")) as tmp:
        tmp.write_text("\n".join(md) + "\n")
    return rows


