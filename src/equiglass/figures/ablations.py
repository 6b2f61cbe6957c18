"""Figures of the ablations (ρ_A vs the ablated setting) and of the learning curves (ρ_A at τ_α vs
the number of training configurations), drawn from the studies' JSON files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..files import float_array, read_json
from .style import MODEL_COLORS, MODEL_LABELS, add_caption, plt, savefig

TITLES = {"lmax": "highest order l_max (near-equal parameters)", "depth": "interaction layers",
          "inputs": "model inputs", "levers": "SE(3) levers"}


def _panels(res: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(title, test T key) of each row of panels, the training temperature first; one untitled row
    (the rows' own numbers) when the study was tested at one temperature."""
    rows = res["rows"]
    temps = res.get("temperatures") or []
    if len(temps) < 2 or not rows or "by_temperature" not in rows[0]:
        return [("", None)]
    out = []
    for t in temps:
        side = "colder" if float(t) < float(temps[0]) else "hotter"
        out.append((f"T = {t} ({f'unseen, {side}' if rows[0]['by_temperature'][t].get('unseen') else 'trained'})", t))
    return out


def fig_ablation(study_json: str | Path, output: str | Path, caption: str = "") -> None:
    """ρ_A at τ_α and at the shortest time for each setting (the seed mean, its 95 % interval over
    test configurations and seeds, each seed a dot), with the paired Δ to the reference (l_max: to
    l_max = 0) and its interval; one row of panels per test temperature."""
    res = read_json(study_json)
    rows = res["rows"]
    base = "lmax0" if res["study"] == "lmax" and any("delta_vs_lmax0_tau_alpha" in r for r in rows) else "reference"
    base_label = "l_max = 0" if base == "lmax0" else res.get("reference")
    panels = _panels(res)
    x = np.arange(len(rows))
    fig, axes = plt.subplots(len(panels), 2, figsize=(max(10.0, 1.9 * len(rows) + 3), 4.4 * len(panels)),
                             squeeze=False)
    for p, (where, by_t) in enumerate(panels):
        cells = [r["by_temperature"][by_t] if by_t else r for r in rows]
        for ax, tag, title in ((axes[p, 0], "tau_alpha", "at τ_α"), (axes[p, 1], "shortest", "at the shortest time")):
            y = float_array([c[f"rho_{tag}"] for c in cells])
            lo = float_array([c[f"ci_{tag}"][0] for c in cells])
            hi = float_array([c[f"ci_{tag}"][1] for c in cells])
            ax.errorbar(x, y, yerr=[y - lo, hi - y], fmt="o", color=MODEL_COLORS["se3gnn"], capsize=4)
            for xi, c in zip(x, cells):
                seeds = float_array(c.get(f"seed_rho_{tag}") or [])
                if len(seeds) > 1:  # each training seed's mean over configurations
                    ax.plot(np.full(len(seeds), xi + 0.12), seeds, ".", color="#777777", ms=4)
            top = np.nanmax(np.where(np.isfinite(hi), hi, y))
            for xi, r, c in zip(x, rows, cells):
                d = c.get(f"delta_vs_{base}_{tag}")
                note = f"{r['n_parameters'] / 1000:.1f}k param."
                if r.get("seeds", 1) > 1:
                    note += f", sd {c.get(f'seed_sd_{tag}', float('nan')):.3f}"
                if d and r["setting"] != base_label and None not in d:
                    note += f"\nΔ {d[0]:+.3f}\n[{d[1]:+.3f}, {d[2]:+.3f}]"
                ax.annotate(note, (xi, hi[xi] if np.isfinite(hi[xi]) else y[xi]), textcoords="offset points",
                            xytext=(0, 6), ha="center", va="bottom", fontsize=6.5, color="#444444")
            ax.set_xticks(x, [r["setting"] for r in rows], rotation=15)
            ax.set_xlim(-0.6, len(rows) - 0.4)  # the notes of the first and last settings inside the panel
            ax.set_ylim(top=top + 0.35 * (top - np.nanmin(np.where(np.isfinite(lo), lo, y)) + 0.02))
            ax.set(title=f"{where}: {title}" if where else title)
        axes[p, 0].set_ylabel("Pearson ρ (A), mean over test configurations")
    seeds = max(r.get("seeds", 1) for r in rows)
    how = f"; {seeds} training seeds: seed mean, 95 % CI over configurations and seeds, dots: seeds" if seeds > 1 else ""
    fig.suptitle(f"Ablation: {TITLES.get(res['study'], res['study'])}"
                 + (f" (Δ: paired difference to {base_label}, 95 % CI{how})" if base_label else ""), fontsize=10)
    if caption:
        add_caption(fig, caption)
    savefig(fig, output)


def fig_learning_curves(study_json: str | Path, output: str | Path, caption: str = "") -> None:
    """ρ_A at τ_α vs training configurations for every family, with the power-law fits."""
    res = read_json(study_json)
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    by_family: dict[str, list[dict]] = {}
    for r in res["rows"]:
        by_family.setdefault(r["model"], []).append(r)
    n_max = 1
    for fam, rows in by_family.items():
        rows = sorted(rows, key=lambda r: r["n_train"])
        n = np.array([r["n_train"] for r in rows], dtype=float)
        y = float_array([r["rho_tau_alpha"] for r in rows])
        lo = float_array([r["ci_tau_alpha"][0] for r in rows])
        hi = float_array([r["ci_tau_alpha"][1] for r in rows])
        n_max = max(n_max, int(n.max()))
        color = MODEL_COLORS.get(fam, "k")
        ax.errorbar(n, y, yerr=[y - lo, hi - y], fmt="o", color=color, capsize=3,
                    label=MODEL_LABELS.get(fam, fam))
        fit = res.get("fits", {}).get(fam, {}).get("fit")
        if fit:
            nn = np.logspace(0, np.log10(max(n.max(), 1) * 8), 100)
            ax.plot(nn, fit["rho_inf"] - fit["a"] * nn ** (-fit["b"]), "-", color=color, lw=1, alpha=0.7)
        cross = res.get("fits", {}).get(fam, {}).get("se3_overtakes_at")
        if cross and cross.get("median") is not None:
            frac = cross.get("fraction_of_resamples_crossing")
            how = f" ({frac:.0%} of resamples cross)" if frac is not None and frac < 0.95 else ""
            ax.annotate(f"SE(3) overtakes at n ≈ {cross['median']:.3g}{how}", (n.max(), y[-1]), fontsize=7,
                        color=color, textcoords="offset points", xytext=(5, -12))
    ax.set_xscale("log")
    ticks = sorted({r["n_train"] for r in res["rows"]})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set(xlabel="training configurations", ylabel="Pearson ρ (A) at τ_α",
           title="Learning curves (lines: ρ∞ − a·n^(−b), extrapolated to 8× the data)")
    ax.legend(fontsize=8)
    if caption:
        add_caption(fig, caption)
    savefig(fig, output)


__all__ = ["fig_ablation", "fig_learning_curves"]
