"""Paired comparisons (rule ``compare``): Δρ = ρ(a) − ρ(b) of two models over the same test
configurations, with 95 % bootstrap intervals, for every pair the summary discusses:
``results/tables/comparisons.csv`` (model_a, model_b, train_set, test_T, unseen, species, timescale,
time, delta_rho, ci_low, ci_high, n_configurations, resolved, verdict, source: where model_b's
predictions come from: this pipeline, or a published dataset's deposited predictions such as
GlassBench's test files). Reads evaluation JSON files only (no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..files import read_json, write_csv, write_json
from ..metrics import tau_alpha_index
from ..provenance import provenance
from ..stats import paired_difference


def _per_configuration(ev: dict[str, Any], tkey: str, species: str) -> tuple[list[str], np.ndarray, list[str], list]:
    res = ev["results"][tkey]
    m = res["metrics"].get(species)
    if m is None or "pearson_per_configuration" not in m:
        return [], np.zeros((0, 0)), res["timescale_labels"], res["times"]
    return res["configurations"], np.array(m["pearson_per_configuration"], dtype=float), res["timescale_labels"], \
        res["times"]


def compare_pair(ev_a: dict[str, Any], ev_b: dict[str, Any], name_a: str, name_b: str,
                 species: tuple[str, ...] = ("A", "B"), seed: int = 0) -> list[dict[str, Any]]:
    """Rows of Δρ(a − b) for every test temperature and timescale the two evaluations share."""
    rows = []
    train_t = {f"{float(t):.2f}" for t in (ev_a.get("train_temperatures") or [])}
    for tkey in sorted(set(ev_a["results"]) & set(ev_b["results"])):
        for sp in species:
            names_a, rho_a, labels_a, times = _per_configuration(ev_a, tkey, sp)
            names_b, rho_b, labels_b, _ = _per_configuration(ev_b, tkey, sp)
            common = [n for n in names_a if n in names_b]
            if len(common) < 2:
                continue
            ia, ib = [names_a.index(n) for n in common], [names_b.index(n) for n in common]
            for j, label in enumerate(labels_a):
                if label not in labels_b:
                    continue
                d = paired_difference(rho_a[ia, j], rho_b[ib, labels_b.index(label)], seed=seed)
                rows.append({
                    "model_a": name_a, "model_b": name_b, "train_set": ev_a.get("train_set"),
                    "test_T": float(tkey), "unseen": tkey not in train_t, "species": sp, "timescale": label,
                    "time": times[j], "is_tau_alpha": j == tau_alpha_index(labels_a), "delta_rho": d.mean,
                    "ci_low": d.low, "ci_high": d.high, "n_configurations": d.n, "resolved": d.resolved,
                    "verdict": d.verdict(), "source": ev_b.get("source", "this pipeline"),
                })
    return rows


def step_compare(plan: dict[str, Any], output_csv: str | Path, figure: str | Path | None = None,
                 caption: str = "") -> list[dict[str, Any]]:
    """``plan``: {"models": {name: evaluation JSON}, "pairs": [[a, b], ...], "ablations": {study: JSON}}."""
    evs = {name: read_json(path) for name, path in plan["models"].items()}
    rows: list[dict[str, Any]] = []
    for a, b in plan["pairs"]:
        if a in evs and b in evs:
            rows += compare_pair(evs[a], evs[b], a, b, seed=int(plan.get("seed", 0)))
    lmax = plan.get("ablations", {}).get("lmax")
    if lmax and Path(lmax).exists():  # the equivariance control: l_max = 0 against the best l_max
        study = read_json(lmax)
        by_setting = {r["setting"]: r for r in study["rows"]}
        zero = next((r for s, r in by_setting.items() if s.endswith("= 0")), None)
        for tag in ("shortest", "tau_alpha"):  # the shortest time first, as in the pairs' rows
            best = study.get("lmax0_vs_best", {}).get(tag)
            if zero is None or not best:
                continue
            other = by_setting[best["best"]]
            k = zero["tau_alpha_index"] if tag == "tau_alpha" else 0
            d = paired_difference(np.array(other["rho_per_configuration"])[:, k],
                                  np.array(zero["rho_per_configuration"])[:, k], seed=int(plan.get("seed", 0)))
            rows.append({"model_a": f"se3gnn {best['best']}", "model_b": "se3gnn l_max = 0",
                         "train_set": plan.get("ablation_set"), "test_T": plan.get("ablation_T"), "unseen": False,
                         "species": "A", "timescale": zero["timescales"][k], "time": None,
                         "is_tau_alpha": tag == "tau_alpha", "delta_rho": d.mean, "ci_low": d.low, "ci_high": d.high,
                         "n_configurations": d.n, "resolved": d.resolved, "verdict": d.verdict(),
                         "source": "this pipeline"})
    write_csv(output_csv, rows)
    write_json(Path(output_csv).with_suffix(".json"), {"rows": rows, "provenance": provenance("compare", plan)})
    if figure:
        from ..figures.comparisons import fig_comparisons

        fig_comparisons(Path(output_csv).with_suffix(".json"), figure, caption)
    return rows


__all__ = ["compare_pair", "step_compare"]
