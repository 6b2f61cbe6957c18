"""Ablation and learning-curve summaries (rule ``ablation_study``): per variant, the mean
per-configuration ρ of A particles with its bootstrap interval at τ_α and at the shortest time,
paired differences to the reference, and, for learning curves, power-law fits and where two
families' curves cross (with the uncertainty of that extrapolation). A variant trained from
several seeds (``ablations.seeds``) is the seed mean, with the two-level bootstrap over test
configurations and seeds (:func:`equiglass.stats.seed_replicated_interval`), and every paired
difference comes from :func:`equiglass.steps.compare.compare_pair` (the comparisons table's
implementation). Variants tested at several temperatures (``ablations.test_temperatures``) get
the same numbers at each (``by_temperature``). Reads evaluation JSON files only (no torch)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..figures.ablations import fig_ablation, fig_learning_curves
from ..files import read_json, write_csv, write_json
from ..metrics import tau_alpha_index
from ..provenance import provenance
from ..stats import seed_replicated_interval, seed_spread
from .compare import compare_pair

TAGS = ("tau_alpha", "shortest")


def _restricted(ev: dict[str, Any], temps: list[str] | None) -> dict[str, Any]:
    """The evaluation with its results at ``temps`` only (None: as it is)."""
    if temps is None:
        return ev
    return {**ev, "results": {t: ev["results"][t] for t in temps if t in ev["results"]}}


def _per_seed(evs: list[dict[str, Any]], tkey: str) -> tuple[list[str], np.ndarray, list[str]]:
    """(configuration names, ρ_A per seed, configuration and timescale (S, C, n_t), timescale labels)
    of one variant's seeds at test temperature ``tkey`` (the first seed's configurations)."""
    res0 = evs[0]["results"][tkey]
    names = res0["configurations"]
    rho = []
    for ev in evs:
        res = ev["results"][tkey]
        vals = np.array(res["metrics"]["A"]["pearson_per_configuration"], dtype=float)
        rho.append(vals[[res["configurations"].index(n) for n in names]])
    return names, np.stack(rho), res0["timescale_labels"]


def _at(evs: list[dict[str, Any]], tkey: str) -> dict[str, Any]:
    """ρ_A of one variant at one test temperature: seed mean per configuration, the interval over
    configurations (and seeds), and each seed's configuration mean."""
    names, rho, tlabels = _per_seed(evs, tkey)
    k_tau = tau_alpha_index(tlabels)
    out: dict[str, Any] = {"timescales": tlabels, "configurations": names, "tau_alpha_index": k_tau,
                           "rho_per_configuration": (rho[0] if len(rho) == 1 else np.nanmean(rho, axis=0)).tolist()}
    for tag, k in (("tau_alpha", k_tau), ("shortest", 0)):
        ci = seed_replicated_interval(rho[:, :, k])  # one seed: the bootstrap over configurations
        out[f"rho_{tag}"], out[f"ci_{tag}"] = ci.mean, [ci.low, ci.high]
        per_seed = [float(np.nanmean(r[:, k])) if np.isfinite(r[:, k]).any() else float("nan") for r in rho]
        out[f"seed_rho_{tag}"], out[f"seed_sd_{tag}"] = per_seed, seed_spread(np.array(per_seed))
    out["rho_per_seed"] = rho.tolist()
    return out


def _deltas(evs_a: list[dict[str, Any]], evs_b: list[dict[str, Any]], seed: int = 0) -> dict[str, dict[str, list]]:
    """Test T -> {tag: [Δρ_A(a − b), low, high]} at τ_α and at the shortest time (compare_pair)."""
    out: dict[str, dict[str, list]] = {}
    for r in compare_pair(evs_a, evs_b, "a", "b", species=("A",), seed=seed):
        tkey = f"{r['test_T']:.2f}"
        first = evs_a[0]["results"][tkey]["timescale_labels"][0]
        for tag, hit in (("tau_alpha", r["is_tau_alpha"]), ("shortest", r["timescale"] == first)):
            if hit:
                out.setdefault(tkey, {})[tag] = [r["delta_rho"], r["ci_low"], r["ci_high"]]
    return out


def step_ablation(study: str, evaluation_jsons: list[str], labels: list[str], output_json: str | Path,
                  figure: str | Path, caption: str = "", plan: dict[str, Any] | None = None) -> dict[str, Any]:
    """Summary of one study (``lmax``, ``depth``, ``inputs``, ``curve``, ``levers``).

    ``evaluation_jsons``: the first seed's evaluation of each setting (in the order of ``labels``),
    then any others. ``plan`` (optional): ``replicates`` (setting index -> the evaluations of its
    seeds r >= 1), ``temperatures`` (test temperatures, the training one first; default: the
    evaluations' one temperature) and ``keys`` (each setting's variant key; default: the file names)."""
    plan = plan or {}
    temps = plan.get("temperatures")
    keys = plan.get("keys") or [Path(f).stem for f in evaluation_jsons[:len(labels)]]
    evs = [[_restricted(read_json(f), temps)] for f in evaluation_jsons[:len(labels)]]
    for i, files in plan.get("replicates", {}).items():
        evs[int(i)] += [_restricted(read_json(f), temps) for f in files]
    rows = []
    for label, ev, key in zip(labels, evs, keys):
        tkeys = temps or list(ev[0]["results"])  # one temperature unless the plan names them
        at = {t: _at(ev, t) for t in tkeys}
        train_t = {f"{float(t):.2f}" for t in ev[0].get("train_temperatures") or []}
        row = {"setting": label, "model": ev[0]["model"], "key": key, "n_parameters": ev[0]["n_parameters"],
               "n_train": len(ev[0].get("train_configurations") or []), "seeds": len(ev)}
        row.update({k: v for k, v in at[tkeys[0]].items() if k != "rho_per_seed"})
        if len(ev) > 1:
            row["rho_per_seed"] = at[tkeys[0]]["rho_per_seed"]
        row["by_temperature"] = {t: {**a, "unseen": t not in train_t} for t, a in at.items()}
        rows.append(row)
    ref = next((r for r in rows if r["key"].endswith("reference")), rows[0] if rows else None)
    zero = next((i for i, r in enumerate(rows) if r["setting"].endswith("= 0")), None) if study == "lmax" else None
    if study in ("lmax", "depth", "inputs", "levers") and ref is not None:
        i_ref = rows.index(ref)
        for i, row in enumerate(rows):  # paired differences to the reference model, same test configurations
            _put(row, _deltas(evs[i], evs[i_ref]), "reference")
            if zero is not None:  # and, for l_max, to the invariant model
                _put(row, _deltas(evs[i], evs[zero]), "lmax0")
    result: dict[str, Any] = {"study": study, "rows": rows,
                              "reference": ref["setting"] if ref is not None and study != "curve" else None,
                              "temperatures": temps or (list(rows[0]["by_temperature"]) if rows else [])}
    if study == "lmax":
        result["lmax0_vs_best"], result["control"] = _lmax_control(rows, evs)
    if study == "curve":
        result["fits"] = learning_curve_fits(rows)
    result["provenance"] = provenance("ablation", {"study": study, "labels": labels, **plan})
    write_json(output_json, result)
    write_csv(Path(output_json).with_suffix(".csv"), _csv_rows(rows, "lmax0" if zero is not None else "reference"))
    if study == "curve":
        fig_learning_curves(output_json, figure, caption)
    else:
        fig_ablation(output_json, figure, caption)
    return result


def _put(row: dict[str, Any], deltas: dict[str, dict[str, list]], name: str) -> None:
    """Store Δ to ``name`` at the row's first test temperature (top level) and at each temperature."""
    first = next(iter(row["by_temperature"]))
    for tkey, by_tag in deltas.items():
        for tag, d in by_tag.items():
            row["by_temperature"][tkey][f"delta_vs_{name}_{tag}"] = d
            if tkey == first:
                row[f"delta_vs_{name}_{tag}"] = d


def _csv_rows(rows: list[dict[str, Any]], baseline: str) -> list[dict[str, Any]]:
    """One row per setting and test temperature (the training temperature first)."""
    out = []
    for r in rows:
        for tkey, a in r["by_temperature"].items():
            d = a.get(f"delta_vs_{baseline}_tau_alpha") or [None] * 3
            out.append({"setting": r["setting"], "model": r["model"], "n_parameters": r["n_parameters"],
                        "n_train": r["n_train"], "rho_A_tau_alpha": a["rho_tau_alpha"], "ci_low": a["ci_tau_alpha"][0],
                        "ci_high": a["ci_tau_alpha"][1], "rho_A_shortest": a["rho_shortest"],
                        "ci_low_shortest": a["ci_shortest"][0], "ci_high_shortest": a["ci_shortest"][1],
                        "test_T": float(tkey), "unseen": a["unseen"], "seeds": r["seeds"],
                        "seed_sd_tau_alpha": a["seed_sd_tau_alpha"], f"delta_vs_{baseline}_tau_alpha": d[0],
                        "delta_ci_low": d[1], "delta_ci_high": d[2]})
    return out


def _lmax_control(rows: list[dict[str, Any]], evs: list[list[dict[str, Any]]]) -> tuple[dict[str, Any], list]:
    """The equivariance control. (1) Δρ_A(l_max = 0 − the best other l_max) at τ_α and at the
    shortest time at the training temperature, paired (and seed-aware); (2) the rows
    Δρ(best l_max ≥ 1 − l_max = 0) of :func:`compare_pair` at every test temperature, species
    and timescale, the best chosen per timescale by its seed-mean ρ_A at the training
    temperature (on the test configurations: the choice favours the l_max ≥ 1 side a little)."""
    i0 = next((i for i, r in enumerate(rows) if r["setting"].endswith("= 0")), None)
    others = [i for i in range(len(rows)) if i != i0]
    if i0 is None or not others:
        return {}, []
    zero = rows[i0]
    summary = {}
    for tag in TAGS:
        best = max(others, key=lambda i: rows[i][f"rho_{tag}"])
        k = zero["tau_alpha_index"] if tag == "tau_alpha" else 0
        label = zero["timescales"][k]
        tkey = next(iter(zero["by_temperature"]))
        d = next(r for r in compare_pair(evs[i0], evs[best], "l_max = 0", rows[best]["setting"], species=("A",))
                 if r["timescale"] == label and f"{r['test_T']:.2f}" == tkey)
        summary[tag] = {"best": rows[best]["setting"], "delta": d["delta_rho"], "ci": [d["ci_low"], d["ci_high"]],
                        "verdict": d["verdict"]}
    control = []
    for j, label in enumerate(zero["timescales"]):
        best = max(others, key=lambda i: np.nanmean(np.array(rows[i]["rho_per_configuration"])[:, j]))
        control += [r for r in compare_pair(evs[best], evs[i0], f"se3gnn {rows[best]['setting']}", "se3gnn l_max = 0")
                    if r["timescale"] == label]
    return summary, control


def _power_law(n: np.ndarray, y: np.ndarray) -> tuple[float, float, float] | None:
    """Least-squares fit ρ(n) = ρ∞ − a·n^(−b) (b in [0.05, 3]); None when it cannot be fitted."""
    from scipy.optimize import curve_fit

    if len(n) < 3 or not np.all(np.isfinite(y)):
        return None
    try:
        p, _ = curve_fit(lambda x, r, a, b: r - a * x ** (-b), n, y, p0=(min(1.0, y.max() + 0.1), 0.3, 0.5),
                         bounds=([-1.0, -5.0, 0.05], [1.0, 5.0, 3.0]), maxfev=20000)
    except (RuntimeError, ValueError):
        return None
    return float(p[0]), float(p[1]), float(p[2])


def _crossing(fa: tuple, fb: tuple, n_max: float = 1e5) -> float:
    """Smallest n in [1, n_max] where curve a overtakes curve b (nan if it does not)."""
    n = np.logspace(0, math.log10(n_max), 400)
    da = (fa[0] - fa[1] * n ** (-fa[2])) - (fb[0] - fb[1] * n ** (-fb[2]))
    if np.all(da > 0):
        return 1.0
    idx = np.flatnonzero((da[:-1] <= 0) & (da[1:] > 0))
    return float(n[idx[0] + 1]) if len(idx) else float("nan")


def learning_curve_fits(rows: list[dict[str, Any]], n_boot: int = 400, seed: int = 0) -> dict[str, Any]:
    """Per family: ρ_A at τ_α vs training configurations, a power-law fit, and where SE(3) overtakes
    each other family (median and 68 % interval over bootstrap resamples of test configurations)."""
    by_family: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_family.setdefault(r["model"], []).append(r)
    fits: dict[str, Any] = {}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for fam, rs in by_family.items():
        rs = sorted(rs, key=lambda r: r["n_train"])
        n = np.array([r["n_train"] for r in rs], dtype=float)
        per_conf = np.stack([np.array(r["rho_per_configuration"])[:, r["tau_alpha_index"]] for r in rs], axis=1)
        curves[fam] = (n, per_conf)
        p = _power_law(n, per_conf.mean(axis=0))
        fits[fam] = {"n": n.tolist(), "rho": per_conf.mean(axis=0).tolist(),
                     "fit": None if p is None else {"rho_inf": p[0], "a": p[1], "b": p[2]}}
    if "se3gnn" in curves:
        rng = np.random.default_rng(seed)
        n_se3, r_se3 = curves["se3gnn"]
        for fam, (n_o, r_o) in curves.items():
            if fam == "se3gnn" or r_o.shape[0] != r_se3.shape[0]:
                continue
            cross = []
            for _ in range(n_boot):  # the same test configurations for both curves: paired resamples
                idx = rng.integers(0, r_se3.shape[0], r_se3.shape[0])
                fa, fb = _power_law(n_se3, r_se3[idx].mean(axis=0)), _power_law(n_o, r_o[idx].mean(axis=0))
                if fa and fb:
                    cross.append(_crossing(fa, fb))
            c = np.array(cross)
            finite = c[np.isfinite(c)]
            fits[fam]["se3_overtakes_at"] = {
                "median": float(np.median(finite)) if len(finite) else float("nan"),
                "p16_p84": [float(np.percentile(finite, 16)), float(np.percentile(finite, 84))] if len(finite) else None,
                "fraction_of_resamples_crossing": float(len(finite) / max(len(c), 1)),
                "n_resamples": len(c)}
    return fits


__all__ = ["learning_curve_fits", "step_ablation"]
