"""Ablation and learning-curve summaries (rule ``ablation_study``): per variant, the mean
per-configuration ρ of A particles with its bootstrap interval at τ_α and at the shortest time,
paired differences to the reference, and, for learning curves, power-law fits and where two
families' curves cross (with the uncertainty of that extrapolation). Reads evaluation JSON files
only (no torch)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..figures.ablations import fig_ablation, fig_learning_curves
from ..files import read_json, write_csv, write_json
from ..metrics import tau_alpha_index
from ..provenance import provenance
from ..stats import interval, paired_difference


def _per_configuration(ev: dict[str, Any]) -> tuple[list[str], np.ndarray, list[str]]:
    """(configuration names, ρ_A per configuration and timescale (C, n_t), timescale labels)."""
    (res,) = ev["results"].values()  # ablations are tested at their one training temperature
    rho = np.array(res["metrics"]["A"]["pearson_per_configuration"], dtype=float)
    return res["configurations"], rho, res["timescale_labels"]


def step_ablation(study: str, evaluation_jsons: list[str], labels: list[str], output_json: str | Path,
                  figure: str | Path, caption: str = "") -> dict[str, Any]:
    """Summary of one study (``lmax``, ``depth``, ``inputs``, ``curve``, ``levers``)."""
    evs = [read_json(f) for f in evaluation_jsons]
    rows = []
    for label, ev, path in zip(labels, evs, evaluation_jsons):
        names, rho, tlabels = _per_configuration(ev)
        k_tau = tau_alpha_index(tlabels)
        row = {"setting": label, "model": ev["model"], "key": Path(path).stem, "n_parameters": ev["n_parameters"],
               "n_train": len(ev.get("train_configurations") or []), "timescales": tlabels,
               "configurations": names, "rho_per_configuration": rho.tolist(), "tau_alpha_index": k_tau}
        for tag, k in (("tau_alpha", k_tau), ("shortest", 0)):
            ci = interval(rho[:, k])
            row[f"rho_{tag}"], row[f"ci_{tag}"] = ci.mean, [ci.low, ci.high]
        rows.append(row)
    ref = next((r for r in rows if r["key"].endswith("reference")), rows[0] if rows else None)
    if study in ("lmax", "depth", "inputs", "levers") and ref is not None:
        ref_rho = np.array(ref["rho_per_configuration"])
        for row in rows:  # paired differences to the reference model, same test configurations
            rho = np.array(row["rho_per_configuration"])
            if row["configurations"] != ref["configurations"]:
                continue
            for tag in ("tau_alpha", "shortest"):
                k = row["tau_alpha_index"] if tag == "tau_alpha" else 0
                d = paired_difference(rho[:, k], ref_rho[:, k])
                row[f"delta_vs_reference_{tag}"] = [d.mean, d.low, d.high]
    result: dict[str, Any] = {"study": study, "rows": rows,
                              "reference": ref["setting"] if ref is not None and study != "curve" else None}
    if study == "lmax":
        result["lmax0_vs_best"] = _lmax_control(rows)
    if study == "curve":
        result["fits"] = learning_curve_fits(rows)
    result["provenance"] = provenance("ablation", {"study": study, "labels": labels})
    write_json(output_json, result)
    write_csv(Path(output_json).with_suffix(".csv"), [
        {"setting": r["setting"], "model": r["model"], "n_parameters": r["n_parameters"], "n_train": r["n_train"],
         "rho_A_tau_alpha": r["rho_tau_alpha"], "ci_low": r["ci_tau_alpha"][0], "ci_high": r["ci_tau_alpha"][1],
         "rho_A_shortest": r["rho_shortest"], "ci_low_shortest": r["ci_shortest"][0],
         "ci_high_shortest": r["ci_shortest"][1]} for r in rows])
    if study == "curve":
        fig_learning_curves(output_json, figure, caption)
    else:
        fig_ablation(output_json, figure, caption)
    return result


def _lmax_control(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Δρ(l_max = 0 − the best other l_max) at τ_α and at the shortest time, paired."""
    zero = next((r for r in rows if r["setting"].endswith("= 0")), None)
    others = [r for r in rows if r is not zero]
    if zero is None or not others:
        return {}
    out = {}
    for tag in ("tau_alpha", "shortest"):
        best = max(others, key=lambda r: r[f"rho_{tag}"])
        k = zero["tau_alpha_index"] if tag == "tau_alpha" else 0
        d = paired_difference(np.array(zero["rho_per_configuration"])[:, k],
                              np.array(best["rho_per_configuration"])[:, k])
        out[tag] = {"best": best["setting"], "delta": d.mean, "ci": [d.low, d.high], "verdict": d.verdict()}
    return out


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
