"""Paired comparisons (rule ``compare``): Δρ = ρ(a) − ρ(b) of two models over the same test
configurations, with 95 % bootstrap intervals, for every pair the summary discusses:
``results/tables/comparisons.csv`` (model_a, model_b, train_set, test_T, unseen, species, timescale,
time, delta_rho, ci_low, ci_high, n_configurations, resolved, verdict, source: where model_b's
predictions come from: this pipeline, or a published dataset's deposited predictions such as
GlassBench's test files; seeds_a, seeds_b: the training seeds of each side). A model trained from
several seeds (``training.seeds``) is compared by the two-level paired bootstrap
(:func:`equiglass.stats.seed_replicated_difference`: configurations jointly, each side's seeds
independently); with one seed each it is the paired bootstrap. Reads evaluation JSON files only (no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..files import read_json, write_csv, write_json
from ..metrics import tau_alpha_index
from ..provenance import provenance
from ..stats import seed_replicated_difference

Evaluations = dict[str, Any] | list[dict[str, Any]]


def _per_configuration(ev: dict[str, Any], tkey: str, species: str) -> tuple[list[str], np.ndarray, list[str], list]:
    res = ev["results"][tkey]
    m = res["metrics"].get(species)
    if m is None or "pearson_per_configuration" not in m:
        return [], np.zeros((0, 0)), res["timescale_labels"], res["times"]
    return res["configurations"], np.array(m["pearson_per_configuration"], dtype=float), res["timescale_labels"], \
        res["times"]


def per_seed_rho(evs: list[dict[str, Any]], tkey: str, species: str, names: list[str], label: str) -> np.ndarray | None:
    """Per-configuration ρ (S, C) of the seeds ``evs`` of one model at test temperature ``tkey``, on
    the configurations ``names`` at timescale ``label``; None when a seed lacks one of them."""
    out = []
    for ev in evs:
        confs, rho, labels, _ = _per_configuration(ev, tkey, species)
        if label not in labels or any(n not in confs for n in names):
            return None
        out.append(rho[[confs.index(n) for n in names], labels.index(label)])
    return np.stack(out)


def compare_pair(ev_a: Evaluations, ev_b: Evaluations, name_a: str, name_b: str,
                 species: tuple[str, ...] = ("A", "B"), seed: int = 0) -> list[dict[str, Any]]:
    """Rows of Δρ(a − b) for every test temperature and timescale the two evaluations share.
    ``ev_a``, ``ev_b``: a model's evaluation, or the evaluations of its training seeds (a list)."""
    evs_a = ev_a if isinstance(ev_a, list) else [ev_a]
    evs_b = ev_b if isinstance(ev_b, list) else [ev_b]
    rows = []
    train_t = {f"{float(t):.2f}" for t in (evs_a[0].get("train_temperatures") or [])}
    shared = set.intersection(*(set(ev["results"]) for ev in evs_a + evs_b))
    for tkey in sorted(shared):
        for sp in species:
            names_a, _, labels_a, times = _per_configuration(evs_a[0], tkey, sp)
            names_b = _per_configuration(evs_b[0], tkey, sp)[0]
            common = [n for n in names_a if n in names_b]
            if len(common) < 2:
                continue
            for j, label in enumerate(labels_a):
                rho_a = per_seed_rho(evs_a, tkey, sp, common, label)
                rho_b = per_seed_rho(evs_b, tkey, sp, common, label)
                if rho_a is None or rho_b is None:
                    continue
                d = seed_replicated_difference(rho_a, rho_b, seed=seed)
                rows.append({
                    "model_a": name_a, "model_b": name_b, "train_set": evs_a[0].get("train_set"),
                    "test_T": float(tkey), "unseen": tkey not in train_t, "species": sp, "timescale": label,
                    "time": times[j], "is_tau_alpha": j == tau_alpha_index(labels_a), "delta_rho": d.mean,
                    "ci_low": d.low, "ci_high": d.high, "n_configurations": d.n, "resolved": d.resolved,
                    "verdict": d.verdict(), "source": evs_b[0].get("source", "this pipeline"),
                    "seeds_a": len(rho_a), "seeds_b": len(rho_b),
                })
    return rows


def lmax_control_rows(study: dict[str, Any], train_set: str | None) -> list[dict[str, Any]]:
    """The comparisons-table rows of the equivariance control: Δρ(best l_max ≥ 1 − l_max = 0) at
    every test temperature, species and timescale, as the l_max study computed them with
    :func:`compare_pair` (seed-aware; the best l_max chosen per timescale)."""
    return [{**r, "train_set": train_set} for r in study.get("control", [])]


def step_compare(plan: dict[str, Any], output_csv: str | Path, figure: str | Path | None = None,
                 caption: str = "") -> list[dict[str, Any]]:
    """``plan``: {"models": {name: evaluation JSON}, "pairs": [[a, b], ...], "ablations": {study: JSON},
    "replicates": {name: [evaluation JSON of each training seed after the first]} (optional),
    "ablation_set": the ablations' training set (the l_max control's rows)}."""
    evs = {name: [read_json(path), *(read_json(f) for f in plan.get("replicates", {}).get(name, []))]
           for name, path in plan["models"].items()}
    rows: list[dict[str, Any]] = []
    for a, b in plan["pairs"]:
        if a in evs and b in evs:
            rows += compare_pair(evs[a], evs[b], a, b, seed=int(plan.get("seed", 0)))
    lmax = plan.get("ablations", {}).get("lmax")
    if lmax and Path(lmax).exists():  # the equivariance control: the best l_max >= 1 against l_max = 0
        rows += lmax_control_rows(read_json(lmax), plan.get("ablation_set"))
    write_csv(output_csv, rows)
    write_json(Path(output_csv).with_suffix(".json"), {"rows": rows, "provenance": provenance("compare", plan)})
    if figure:
        from ..figures.comparisons import fig_comparisons

        fig_comparisons(Path(output_csv).with_suffix(".json"), figure, caption)
    return rows


__all__ = ["compare_pair", "lmax_control_rows", "per_seed_rho", "step_compare"]
