"""Physics validation: equation of state, τ_α and D_A(T) next to the reference values.

Averages come from independent configurations (errors: standard error between them), U/N and P
from the second half of each equilibration run, τ_α from the iso-configurational F_s, D_A from
long single-trajectory NVE runs (MSD = 6 D t where MSD ≥ 1 σ²).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .dynamics import diffusion_constant
from .files import atomic_path, read_json, write_json
from .iso import load_iso
from .reference import compare


def _mean_sem(values: list[float]) -> tuple[float, float]:
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan")


def validate(
    equilibration_jsons: dict[str, list[str]],
    dynamics_jsons: dict[str, str],
    long_runs: dict[str, list[str]],
    output_json: str | Path,
) -> dict[str, Any]:
    """Aggregate per temperature and compare; writes JSON, a Markdown table (.md) and a CSV (.csv)."""
    rows, comparisons = [], []
    for tkey in sorted(equilibration_jsons, key=float):
        temp = float(tkey)
        summaries = [read_json(f)["summary"] for f in equilibration_jsons[tkey]]
        u = _mean_sem([s["potential_energy_per_particle"][0] for s in summaries])
        p = _mean_sem([s["pressure"][0] for s in summaries])
        dyn = read_json(dynamics_jsons[tkey])
        tau = (dyn["tau_alpha"] or float("nan"), dyn["tau_alpha_err"] or float("nan"))
        d_values = []
        for f in long_runs.get(tkey, []):
            iso = load_iso(f)
            d_values.append(diffusion_constant(iso.times, iso.msd.mean(axis=0)[:, 0]))
        d_a = _mean_sem(d_values)
        ageing = [s["ageing"]["passed"] for s in summaries]
        row = {"temperature": temp, "U": u[0], "U_err": u[1], "P": p[0], "P_err": p[1],
               "tau_alpha": tau[0], "tau_alpha_err": tau[1], "D_A": d_a[0], "D_A_err": d_a[1],
               "n_configurations": len(summaries), "n_long_runs": len(d_values),
               "ageing_passed": int(sum(ageing)), "equilibration_tau_alpha": float(np.min(
                   [s["duration"] for s in summaries])) / tau[0] if math.isfinite(tau[0]) else float("nan")}
        rows.append(row)
        for q, (val, err) in (("potential_energy", u), ("pressure", p), ("tau_alpha", tau)):
            c = compare(q, temp, val, err)
            if c is not None:
                comparisons.append(c.__dict__ | {"ratio": c.ratio})
    result = {"rows": rows, "comparisons": comparisons,
              "all_agree": all(c["agrees"] for c in comparisons),
              "units": {"U": "epsilon_AA per particle (shifted LJ)", "P": "epsilon_AA/sigma_AA^3", "tau_alpha": "tau",
                        "D_A": "sigma_AA^2/tau"}}
    write_json(output_json, result)
    lines = ["| T | U/N (ours) | U/N (ref) | P (ours) | P (ref) | τ_α (ours) | τ_α (ref) | D_A | agree |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cs = {c["quantity"]: c for c in comparisons if c["temperature"] == r["temperature"]}

        def ref(q: str, cs: dict = cs) -> str:
            c = cs.get(q)
            if c is None:
                return "–"
            e = c["reference_err"]
            return f"{c['reference']:.4g}" + (f" ± {e:.2g}" if e else "")

        ok = "yes" if all(c["agrees"] for c in cs.values()) else ("–" if not cs else "NO")
        lines.append(
            f"| {r['temperature']:.2f} | {r['U']:.4f} ± {r['U_err']:.4f} | {ref('potential_energy')} | "
            f"{r['P']:.3f} ± {r['P_err']:.3f} | {ref('pressure')} | {r['tau_alpha']:.3g} ± {r['tau_alpha_err']:.2g} | "
            f"{ref('tau_alpha')} | {r['D_A']:.3g} ± {r['D_A_err']:.2g} | {ok} |")
    with atomic_path(Path(output_json).with_suffix(".md")) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return result
