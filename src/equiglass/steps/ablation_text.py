"""``results/summary.md``'s text on the ablations beyond one seed at one temperature: the
equivariance control in the claims table (best l_max ≥ 1 − l_max = 0 at τ_α and at the shortest
time, seed-aware; l_max = 0 against the descriptor models at τ_α; where SE(3)'s gain over ridge
comes from), what a wider interval would cost, and the studies per test temperature and seed.
Reads the comparisons' rows and the studies' JSON (no torch)."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

from .report_text import ci as _ci
from .report_text import fmt as _f

TARGET_HALF_WIDTH = 0.03  # at τ_α: what the control's interval should resolve (issue 29)
TAGS = {"tau_alpha": "τ_α", "shortest": "the shortest time"}


def _label(study: dict[str, Any], tag: str) -> str | None:
    """The timescale label of ``tag`` in the l_max study (its l_max = 0 row)."""
    zero = next((r for r in study.get("rows", []) if r["setting"].endswith("= 0")), None)
    if zero is None:
        return None
    return zero["timescales"][zero["tau_alpha_index"] if tag == "tau_alpha" else 0]


def _where(row: dict[str, Any], train_t: float | None) -> str:
    t = row["test_T"]
    if not row["unseen"]:
        return f"T = {t:.2f}"
    side = "" if train_t is None else " colder" if t < train_t else " hotter"
    return f"T = {t:.2f} (unseen{side})"


def _train_t(study: dict[str, Any]) -> float | None:
    temps = study.get("temperatures") or []
    return float(temps[0]) if temps else None


def cost_to_resolve(rho_a: np.ndarray, rho_b: np.ndarray, target: float = TARGET_HALF_WIDTH,
                    level: float = 0.95) -> dict[str, float]:
    """Normal-approximation half-width of Δ = mean(a) − mean(b) from per-seed, per-configuration ρ
    (S_a, C) and (S_b, C): its variance split into a configuration part V_c/C (the spread of the
    paired seed-mean differences) and seed parts V_a/S_a + V_b/S_b (the spread of each seed's
    configuration mean), and what reaches ``target``: the test configurations at these seeds, or
    the seeds per side at these configurations (inf: that alone cannot; NaN: one seed on a side,
    no seed variance measured)."""
    a, b = np.atleast_2d(rho_a), np.atleast_2d(rho_b)
    z = NormalDist().inv_cdf((1 + level) / 2)
    c = a.shape[1]
    d = np.nanmean(a, axis=0) - np.nanmean(b, axis=0)
    v_c = float(np.nanvar(d, ddof=1)) if c > 1 else float("nan")
    v_s = [float(np.nanvar(np.nanmean(x, axis=1), ddof=1)) if len(x) > 1 else 0.0 for x in (a, b)]
    seeds = v_s[0] / len(a) + v_s[1] / len(b)
    out = {"half_width": z * math.sqrt(v_c / c + seeds), "configurations": math.inf, "seeds": math.inf}
    room = (target / z) ** 2
    if seeds < room:
        out["configurations"] = math.ceil(v_c / (room - seeds))
    if min(len(a), len(b)) < 2:
        out["seeds"] = float("nan")
    elif v_c / c < room:
        out["seeds"] = max(len(a), len(b), math.ceil(sum(v_s) / (room - v_c / c)))
    return out


def _per_seed(study: dict[str, Any], setting: str, tkey: str, label: str) -> np.ndarray | None:
    row = next((r for r in study.get("rows", []) if r["setting"] == setting), None)
    at = (row or {}).get("by_temperature", {}).get(tkey)
    if not at or "rho_per_seed" not in at or label not in at["timescales"]:
        return None
    return np.array(at["rho_per_seed"], dtype=float)[:, :, at["timescales"].index(label)]


def _cost_sentence(study: dict[str, Any], row: dict[str, Any]) -> str:
    """What an interval of half-width TARGET_HALF_WIDTH would take, for the control row ``row``."""
    tkey = f"{row['test_T']:.2f}"
    a = _per_seed(study, row["model_a"].removeprefix("se3gnn "), tkey, row["timescale"])
    b = _per_seed(study, "l_max = 0", tkey, row["timescale"])
    hw = (row["ci_high"] - row["ci_low"]) / 2
    if a is None or b is None or not math.isfinite(hw):
        return ""
    if hw <= TARGET_HALF_WIDTH:
        return f"; half-width {hw:.3f} ≤ {TARGET_HALF_WIDTH}"
    c = cost_to_resolve(a, b)
    ways = []
    if math.isfinite(c["configurations"]):
        ways.append(f"≈ {c['configurations']} test configurations at these seeds")
    if math.isfinite(c["seeds"]):
        ways.append(f"≈ {c['seeds']} seeds per l_max at these {a.shape[1]} configurations")
    how = " or ".join(ways) or "more seeds and test configurations together"
    if len(a) == 1 and len(b) == 1:
        how += " (one seed each: the seed-to-seed spread is not in this interval)"
    return (f"; half-width {hw:.3f} > {TARGET_HALF_WIDTH}: {TARGET_HALF_WIDTH} would take {how} "
            f"(normal approximation, seed and configuration variances from these runs)")


def equivariance_claims(study: dict[str, Any] | None, comparisons: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """Claims-table rows (claim, evidence, verdict) of the equivariance control: best l_max ≥ 1 −
    l_max = 0 at τ_α and at the shortest time (the verdict at the training temperature; unseen
    temperatures as evidence), l_max = 0 − ridge and − the descriptor MLP at τ_α, and which of the
    network or equivariance SE(3)'s gain over ridge at τ_α comes from."""
    if not study:
        return []
    out = []
    train_t = _train_t(study)
    verdicts = {}
    for tag, when in TAGS.items():
        label = _label(study, tag)
        rows = [r for r in comparisons if r["species"] == "A" and r["model_b"] == "se3gnn l_max = 0"
                and r["model_a"].startswith("se3gnn l_max") and r["timescale"] == label]
        seen = [r for r in rows if not r["unseen"]]
        if not seen:
            continue
        ev = "; ".join(f"{r['model_a'].removeprefix('se3gnn ')} − l_max = 0 at {_where(r, train_t)}: {_ci(r)}, "
                       f"n = {r['n_configurations']}" + (_cost_sentence(study, r) if not r["unseen"] else "")
                       for r in seen + [r for r in rows if r["unseen"]])
        verdicts[tag] = seen[0]["verdict"]
        out.append((f"Control: equivariant messages (the best l_max ≥ 1) beat invariant ones (l_max = 0) at {when}",
                    ev + " (the best l_max chosen on these test configurations, which favours it a little)",
                    seen[0]["verdict"]))
    tau = _label(study, "tau_alpha")
    zero_rows: dict[str, list[dict[str, Any]]] = {}
    for fam, name in (("ridge", "ridge on descriptors"), ("descriptor_mlp", "the descriptor MLP")):
        rs = sorted((r for r in comparisons if r["species"] == "A" and r["model_a"] == "se3gnn l_max = 0"
                     and r["model_b"].split("@")[0] == fam and r["timescale"] == tau),
                    key=lambda r: (r["unseen"], r["test_T"]))  # the training temperature first
        if not rs or rs[0]["unseen"]:
            continue
        zero_rows[fam] = rs
        out.append((f"Invariant messages (l_max = 0) already beat {name} at τ_α",
                    "; ".join(f"l_max = 0 − {r['model_b']} at {_where(r, train_t)}: {_ci(r)}, n = "
                              f"{r['n_configurations']}" for r in rs)
                    + " (the same training configurations and epochs)", rs[0]["verdict"]))
    if "ridge" in zero_rows and "tau_alpha" in verdicts:
        out.append(gain_attribution(zero_rows["ridge"], comparisons, tau, train_t))
    return out


def gain_attribution(zero_ridge: list[dict[str, Any]], comparisons: list[dict[str, Any]], tau: str,
                     train_t: float | None) -> tuple[str, str, str]:
    """The claims row "Where SE(3)'s gain over ridge at τ_α comes from", at every test temperature
    of ``zero_ridge`` (the rows l_max = 0 − ridge at τ_α, the training temperature first): SE(3) −
    ridge, l_max = 0 − ridge and the control (best l_max ≥ 1 − l_max = 0) there, and
    :func:`attribution`; the verdict is the training temperature's, the unseen ones after it."""
    evidence, verdicts = [], []
    for zero in zero_ridge:
        t = zero["test_T"]
        se3 = next((r for r in comparisons if r["species"] == "A" and r["model_b"] == zero["model_b"]
                    and r["model_a"] == "se3gnn@" + zero["model_b"].split("@")[-1] and r["timescale"] == tau
                    and r["test_T"] == t), None)
        ctrl = next((r for r in comparisons if r["species"] == "A" and r["model_b"] == "se3gnn l_max = 0"
                     and r["model_a"].startswith("se3gnn l_max") and r["timescale"] == tau and r["test_T"] == t), None)
        if ctrl is None:
            continue
        where = _where(zero, train_t)
        evidence.append(f"{where}: SE(3) − ridge {_ci(se3) if se3 else 'n/a'}; l_max = 0 − ridge {_ci(zero)}; "
                        f"{ctrl['model_a'].removeprefix('se3gnn ')} − l_max = 0 {_ci(ctrl)}")
        verdict = attribution(se3["verdict"] if se3 else "unresolved", zero["verdict"], ctrl["verdict"])
        verdicts.append(verdict if not zero["unseen"] else f"{where}: {verdict.split(' (')[0]}")
    return "Where SE(3)'s gain over ridge at τ_α comes from", "; ".join(evidence), "; ".join(verdicts) or "unresolved"


def attribution(gain: str, network: str, equivariance: str) -> str:
    """Whose is SE(3)'s gain over ridge: ``gain`` is the verdict on SE(3) − ridge, ``network`` on
    l_max = 0 − ridge, ``equivariance`` on the control (best l_max ≥ 1 − l_max = 0)."""
    if gain != "supported":
        return f"no resolved gain to attribute (SE(3) − ridge: {gain})"
    if network == "supported" and equivariance != "supported":
        return "the network's, not equivariance's (l_max = 0 already beats ridge; equivariance adds nothing resolved)"
    if equivariance == "supported" and network != "supported":
        return "equivariance's (l_max = 0 does not beat ridge; l_max ≥ 1 beats l_max = 0)"
    if network == "supported" and equivariance == "supported":
        return "both (l_max = 0 beats ridge, and l_max ≥ 1 beats l_max = 0)"
    return "unresolved (neither l_max = 0 − ridge nor the control is supported)"


def ablation_details(ablations: dict[str, dict[str, Any]]) -> list[str]:
    """Per study trained from several seeds or tested at several temperatures: ρ_A (seed mean,
    interval over configurations and seeds, sd over seeds) and the paired Δ at every test
    temperature (l_max: to l_max = 0; otherwise to the reference)."""
    lines: list[str] = []
    for study in ("lmax", "depth", "inputs", "levers"):
        res = ablations.get(study)
        if not res or not res.get("rows") or "by_temperature" not in res["rows"][0]:
            continue
        rows = res["rows"]
        if max(r.get("seeds", 1) for r in rows) == 1 and len(res.get("temperatures") or []) < 2:
            continue
        base = "lmax0" if study == "lmax" else "reference"
        base_label = "l_max = 0" if study == "lmax" else res.get("reference")
        train_t = _train_t(res)
        lines += ["", f"## Ablation {study} at every test temperature (A; Δ = paired difference to {base_label}, "
                  "95 % CI over test configurations and seeds)", "",
                  "| setting | test T | seeds | ρ at τ_α [95 % CI] (sd over seeds) | Δ at τ_α | ρ at the shortest time "
                  "| Δ at the shortest time |", "|---|---|---|---|---|---|---|"]
        for tkey in res.get("temperatures") or []:
            t = float(tkey)
            side = "" if train_t is None or t == train_t else " (colder)" if t < train_t else " (hotter)"
            for r in rows:
                a = r["by_temperature"].get(tkey)
                if a is None:
                    continue
                cells = []
                for tag in ("tau_alpha", "shortest"):
                    d = a.get(f"delta_vs_{base}_{tag}")
                    sd = f" ({_f(a.get(f'seed_sd_{tag}'))})" if r.get("seeds", 1) > 1 else ""
                    cells += [f"{_f(a[f'rho_{tag}'])} [{_f(a[f'ci_{tag}'][0])}, {_f(a[f'ci_{tag}'][1])}]{sd}",
                              "–" if not d or r["setting"] == base_label else
                              f"{_f(d[0], '+.3f')} [{_f(d[1], '+.3f')}, {_f(d[2], '+.3f')}]"]
                lines.append(f"| {r['setting']} | {tkey}{side} | {r.get('seeds', 1)} | " + " | ".join(cells) + " |")
    return lines


__all__ = ["TARGET_HALF_WIDTH", "ablation_details", "attribution", "cost_to_resolve", "equivariance_claims"]
