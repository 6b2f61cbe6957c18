"""Figures of the paper's experiments, drawn from the experiments' JSON files:
generalization (matrix, curves), transfer learning, interpretability (correlations, map)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import float_array, load_npz, read_json
from .style import MODEL_COLORS, MODEL_LABELS, add_caption, plt, savefig


def _model_order(model: str) -> int:
    return list(MODEL_COLORS).index(model) if model in MODEL_COLORS else len(MODEL_COLORS)


# markers of a test temperature relative to the training temperatures (steps.directions.direction)
DIRECTION_MARKS = {"seen": ("o", "*"), "colder": ("v", "▼"), "hotter": ("^", "▲"), "between": ("D", "◆")}


def fig_generalization(generalization_json: str | Path, fig_matrix: str | Path, fig_curves: str | Path,
                       caption: str = "") -> None:
    """ρ at ≈ τ_α of every (model, training set) at every test T: a matrix (A) and curves (A, B),
    each test T marked colder or hotter than training, and Δρ(SE(3) − family) of A with its
    paired interval at every test T (both directions)."""
    res = read_json(generalization_json)
    k = res["tau_alpha_index"]
    temps = res["test_temperatures"]
    a_rows = [r for r in res["rows"] if r["species"] == "A"]
    keys = sorted({(r["model"], r["train_set"]) for r in a_rows}, key=lambda x: (_model_order(x[0]), x[1]))
    mat = np.full((len(keys), len(temps)), np.nan)
    mark = {}
    for r in a_rows:
        i, j = keys.index((r["model"], r["train_set"])), temps.index(r["test_T"])
        mat[i, j] = float_array(r["rho"])[k]
        mark[i, j] = DIRECTION_MARKS[r.get("direction", "seen" if not r["unseen"] else "between")][1]
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(temps), 0.9 + 0.45 * len(keys)))
    im = ax.imshow(mat, cmap="viridis", vmin=np.nanmin(mat) if np.isfinite(mat).any() else 0, aspect="auto")
    for i in range(len(keys)):
        for j in range(len(temps)):
            if np.isfinite(mat[i, j]):
                ax.text(j, i, f"{mat[i, j]:.2f}{mark[i, j]}", ha="center", va="center",
                        color="w" if mat[i, j] < np.nanmean(mat) else "k", fontsize=8)
    ax.set_xticks(range(len(temps)), [f"{t:.2f}" for t in temps])
    ax.set_yticks(range(len(keys)), [f"{MODEL_LABELS.get(m, m)} [{s}]" for m, s in keys])
    ax.set(xlabel="test temperature T",
           title=f"Pearson ρ (A, {res['labels'][k]}); * seen in training, ▼ colder / ▲ hotter than training")
    fig.colorbar(im, ax=ax, label="Pearson ρ")
    if caption:
        add_caption(fig, caption)
    savefig(fig, fig_matrix)

    deltas = [d for d in res.get("deltas", []) if d["species"] == "A" and d["is_tau_alpha"]]
    fig, axes = plt.subplots(1, 3 if deltas else 2, figsize=(16 if deltas else 11, 3.8))
    single = sorted({r["train_temperatures"][0] for r in a_rows if len(r["train_temperatures"]) == 1})
    for ax, species in zip(axes, "AB"):
        for m, s in keys:
            pts = sorted((r["test_T"], float_array(r["rho"])[k], float_array(r["rho_sem"])[k],
                          r.get("direction", "seen")) for r in res["rows"]
                         if r["species"] == species and (r["model"], r["train_set"]) == (m, s))
            if not pts:
                continue
            t, y, e, where = zip(*pts)
            color = MODEL_COLORS.get(m, "k")
            ax.errorbar(t, y, yerr=e, capsize=2, color=color, ls="-" if "+" not in s else "--",
                        label=f"{MODEL_LABELS.get(m, m)} [{s}]")
            for ti, yi, wi in zip(t, y, where):
                ax.plot(ti, yi, DIRECTION_MARKS.get(wi, ("o", ""))[0], color=color, ms=6)
        ax.set(xlabel="test temperature T", ylabel="Pearson ρ", title=f"species {species}, {res['labels'][k]}")
        _shade_directions(ax, single, temps)
    axes[1].legend(fontsize=7)
    if deltas:
        _delta_panel(axes[2], deltas, single, temps, res["labels"][k])
    if caption:
        add_caption(fig, caption)
    savefig(fig, fig_curves)


def _shade_directions(ax, train_temps: list[float], temps: list[float]) -> None:
    """Shade the test temperatures colder (blue) and hotter (red) than a single training T."""
    if len(train_temps) != 1 or not temps:
        for t in train_temps:
            ax.axvline(t, color="0.5", lw=0.8, ls=":")
        return
    t0, pad = train_temps[0], 0.02 + 0.05 * (max(temps) - min(temps))
    lo, hi = min(min(temps), t0) - pad, max(max(temps), t0) + pad
    if min(temps) < t0:
        ax.axvspan(lo, t0, color="#1f77b4", alpha=0.07, lw=0)
        ax.text(lo, 1.0, " colder than training", transform=ax.get_xaxis_transform(), va="top", fontsize=7,
                color="#1f77b4")
    if max(temps) > t0:
        ax.axvspan(t0, hi, color="#d62728", alpha=0.07, lw=0)
        ax.text(hi, 1.0, "hotter than training ", transform=ax.get_xaxis_transform(), va="top", ha="right",
                fontsize=7, color="#d62728")
    ax.axvline(t0, color="0.4", lw=0.8, ls=":")
    ax.set_xlim(lo, hi)


def _delta_panel(ax, deltas: list[dict], train_temps: list[float], temps: list[float], label: str) -> None:
    """Δρ(SE(3) − family) of A at τ_α with its paired 95 % interval, per family, against test T."""
    fams = sorted({d["family"] for d in deltas}, key=_model_order)
    width = 0.004 * max(1.0, (max(temps) - min(temps)) / 0.1)
    for n, fam in enumerate(fams):
        pts = sorted((d["test_T"], d["delta_rho"], d["ci_low"], d["ci_high"], d["direction"]) for d in deltas
                     if d["family"] == fam and "+" not in d["train_set"])
        if not pts:
            continue
        t, y, lo, hi, where = (np.array(v, dtype=object) for v in zip(*pts))
        x = t.astype(float) + (n - (len(fams) - 1) / 2) * width
        y, lo, hi = (np.array([np.nan if v is None else v for v in a], dtype=float) for a in (y, lo, hi))
        color = MODEL_COLORS.get(fam, "k")
        ax.errorbar(x, y, yerr=[y - lo, hi - y], capsize=2, color=color, ls="none",
                    label=f"SE(3) − {MODEL_LABELS.get(fam, fam)}")
        for xi, yi, wi in zip(x, y, where):
            ax.plot(xi, yi, DIRECTION_MARKS.get(wi, ("o", ""))[0], color=color, ms=6)
    ax.axhline(0, color="k", lw=0.8)
    ax.set(xlabel="test temperature T", ylabel="Δρ (paired, 95 % CI)",
           title=f"SE(3) GNN − family, A, {label} (single-T training sets)")
    _shade_directions(ax, train_temps, temps)
    ax.legend(fontsize=7)


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
