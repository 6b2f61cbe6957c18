"""Figures of the paper's experiments, drawn from the experiments' JSON files:
generalization (matrix, curves), transfer learning, interpretability (correlations, map)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import float_array, load_npz, read_json
from .style import MODEL_COLORS, MODEL_LABELS, add_caption, plt, savefig


def _model_order(model: str) -> int:
    return list(MODEL_COLORS).index(model) if model in MODEL_COLORS else len(MODEL_COLORS)


def fig_generalization(generalization_json: str | Path, fig_matrix: str | Path, fig_curves: str | Path,
                       caption: str = "") -> None:
    """ρ at ≈ τ_α of every (model, training set) at every test T: a matrix (A) and curves (A, B)."""
    res = read_json(generalization_json)
    k = res["tau_alpha_index"]
    temps = res["test_temperatures"]
    a_rows = [r for r in res["rows"] if r["species"] == "A"]
    keys = sorted({(r["model"], r["train_set"]) for r in a_rows}, key=lambda x: (_model_order(x[0]), x[1]))
    mat = np.full((len(keys), len(temps)), np.nan)
    for r in a_rows:
        mat[keys.index((r["model"], r["train_set"])), temps.index(r["test_T"])] = float_array(r["rho"])[k]
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(temps), 0.9 + 0.45 * len(keys)))
    im = ax.imshow(mat, cmap="viridis", vmin=np.nanmin(mat) if np.isfinite(mat).any() else 0, aspect="auto")
    for i in range(len(keys)):
        for j in range(len(temps)):
            if np.isfinite(mat[i, j]):
                seen = not any(r["unseen"] for r in a_rows if (r["model"], r["train_set"]) == keys[i]
                               and r["test_T"] == temps[j])
                ax.text(j, i, f"{mat[i, j]:.2f}" + ("*" if seen else ""), ha="center", va="center",
                        color="w" if mat[i, j] < np.nanmean(mat) else "k", fontsize=8)
    ax.set_xticks(range(len(temps)), [f"{t:.2f}" for t in temps])
    ax.set_yticks(range(len(keys)), [f"{MODEL_LABELS.get(m, m)} [{s}]" for m, s in keys])
    ax.set(xlabel="test temperature T", title=f"Pearson ρ (A, {res['labels'][k]}); * = T seen in training")
    fig.colorbar(im, ax=ax, label="Pearson ρ")
    if caption:
        add_caption(fig, caption)
    savefig(fig, fig_matrix)

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, species in zip(axes, "AB"):
        for m, s in keys:
            pts = sorted((r["test_T"], float_array(r["rho"])[k], float_array(r["rho_sem"])[k]) for r in res["rows"]
                         if r["species"] == species and (r["model"], r["train_set"]) == (m, s))
            if not pts:
                continue
            t, y, e = map(np.array, zip(*pts))
            single = "+" not in s
            ax.errorbar(t, y, yerr=e, marker="o", capsize=2, color=MODEL_COLORS.get(m, "k"),
                        ls="-" if single else "--", label=f"{MODEL_LABELS.get(m, m)} [{s}]")
        ax.set(xlabel="test temperature T", title=f"species {species}, {res['labels'][k]}")
    axes[0].set_ylabel("Pearson ρ")
    axes[1].legend(fontsize=7)
    if caption:
        add_caption(fig, caption)
    savefig(fig, fig_curves)


def fig_transfer(transfer_json: str | Path, figure: str | Path, caption: str = "") -> None:
    """ρ at ≈ τ_α vs the number of target-temperature configurations, per transfer method."""
    res = read_json(transfer_json)
    labels, k = res["labels"], res["tau_alpha_index"]
    target = res["target_temperature"]
    styles = {"frozen": ("#d62728", "-", "SE(3) frozen backbone + new readout"),
              "fine_tune": ("#ff7f0e", "-.", "SE(3) fine-tuned"),
              "scratch": ("#7f7f7f", "--", "SE(3) from scratch"),
              "ridge": (MODEL_COLORS["ridge"], ":", "ridge (descriptors)")}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, species in zip(axes, "AB"):
        for method, by_n in res["methods"].items():
            ns = sorted(by_n, key=int)
            y = [float_array(by_n[n][species]["pearson"])[k] if species in by_n[n] else np.nan for n in ns]
            e = [float_array(by_n[n][species]["pearson_sem"])[k] if species in by_n[n] else np.nan for n in ns]
            c, ls, lab = styles.get(method, ("k", "-", method))
            ax.errorbar([int(n) for n in ns], y, yerr=e, color=c, ls=ls, marker="o", capsize=2, label=lab)
        zs = res["zero_shot"].get(species)
        if zs:
            ax.axhline(float_array(zs["pearson"])[k], color="#d62728", lw=0.8, ls=(0, (1, 3)),
                       label="source model, no retraining")
        ax.set(xscale="log", xlabel=f"training configurations at T = {target}",
               title=f"species {species}, {labels[k]}")
        n_ticks = sorted({int(n) for method in res["methods"].values() for n in method})
        ax.set_xticks(n_ticks, [str(n) for n in n_ticks])  # the sizes trained on, not 3×10⁰
        ax.minorticks_off()
    axes[0].set_ylabel("Pearson ρ (test)")
    axes[1].legend(fontsize=7)
    if caption:
        add_caption(fig, caption)
    savefig(fig, figure)


def fig_interpretability(interpret_json: str | Path, fig_corr: str | Path, fig_map: str | Path,
                         caption: str = "") -> None:
    """Strongest |ρ| and probe R² per layer and descriptor; a map of one learned invariant."""
    res = read_json(interpret_json)
    # figure 1: strongest |ρ| per layer and descriptor, and probe R²
    desc = res["descriptors"]
    best = np.array([float_array(L["best_abs_correlation"]) for L in res["layers"]])
    r2 = np.array([float_array(L["probe_r2"]) for L in res["layers"]])
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.8 + 0.45 * len(desc)))
    for ax, mat, title in ((axes[0], best.T, "max |Pearson ρ| over the layer's invariants"),
                           (axes[1], r2.T, "linear probe R² (held-out configurations)")):
        im = ax.imshow(mat, cmap="magma", vmin=0, vmax=1, aspect="auto")
        for i in range(mat.shape[0]):
            for j in range(mat.shape[1]):
                if np.isfinite(mat[i, j]):
                    ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="w" if mat[i, j] < 0.6 else "k")
        ax.set_xticks(range(mat.shape[1]), ["emb"] + [f"L{k}" for k in range(1, mat.shape[1])])
        ax.set_yticks(range(len(desc)), desc)
        ax.set(xlabel="layer", title=title)
        fig.colorbar(im, ax=ax)
    if caption:
        add_caption(fig, caption)
    savefig(fig, fig_corr)
    m = load_npz(Path(interpret_json).with_suffix(".npz"), required=("positions", "types", "fields"))
    pos, types = m["positions"], m["types"]
    panels = list(zip(res["map"]["titles"], m["fields"]))
    slab = np.abs(pos[:, 2]) < float(res["map"]["slab"]) / 2
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    for ax, (title, v) in zip(axes, panels):
        lo, hi = np.percentile(v, [2, 98])
        sc = ax.scatter(pos[slab, 0], pos[slab, 1], c=v[slab], s=np.where(types[slab] == 0, 55, 30),
                        cmap="viridis", vmin=lo, vmax=hi, edgecolors="k", linewidths=0.3)
        ax.set_aspect("equal", adjustable="datalim")  # fills its slot: colour bar as tall
        ax.set(xlabel="x [σ]", ylabel="y [σ]", title=title)
        fig.colorbar(sc, ax=ax)
    if caption:
        add_caption(fig, caption)
    savefig(fig, fig_map)
