"""Figures of the pipeline's results: dynamics, ρ vs time, predicted vs true, propensity
snapshots, training curves."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..files import float_array, load_npz, read_json
from ..metrics import tau_alpha_index
from .style import (
    MODEL_COLORS,
    MODEL_LABELS,
    TYPE_MARKERS,
    add_caption,
    num,
    plt,
    savefig,
    temperature_colors,
)


def fig_dynamics(dynamics_jsons: list[str], output: str | Path, caption: str = "") -> None:
    """MSD(t) per species and F_s(q = 7.25, t) of A with τ_α marked, one colour per T."""
    runs = []
    for f in dynamics_jsons:
        meta = read_json(f)
        arr = load_npz(Path(f).with_suffix(".npz"), required=("times", "fs", "msd"))
        runs.append((meta, arr))
    temps = [m["temperature"] for m, _ in runs]
    colors = temperature_colors(temps)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for meta, arr in sorted(runs, key=lambda r: r[0]["temperature"]):
        t, c = meta["temperature"], colors[meta["temperature"]]
        ax1.loglog(arr["times"], arr["msd"][:, 0], "-", color=c, label=f"T={t:.2f} A")
        ax1.loglog(arr["times"], arr["msd"][:, 1], "--", color=c, lw=1)
        tau = num(meta["tau_alpha"])
        ax2.semilogx(arr["times"], arr["fs"][:, 0], "-", color=c, label=f"T={t:.2f}, τ_α={tau:.3g}")
        if "fs_err" in arr and np.all(np.isfinite(arr["fs_err"][:, 0])):
            ax2.fill_between(arr["times"], arr["fs"][:, 0] - arr["fs_err"][:, 0],
                             arr["fs"][:, 0] + arr["fs_err"][:, 0], color=c, alpha=0.2)
        if math.isfinite(tau):
            ax2.axvline(tau, color=c, ls=":", lw=1)
        ax2.plot(meta["target_times"], np.interp(np.log(meta["target_times"]), np.log(arr["times"]),
                                                 arr["fs"][:, 0]), "x", color=c)
    ax1.set(xlabel="t [τ]", ylabel="MSD [σ²]", title="Mean squared displacement (solid A, dashed B)")
    ax2.axhline(1 / math.e, color="grey", lw=0.8)
    ax2.set(xlabel="t [τ]", ylabel="F_s(q=7.25, t) of A", ylim=(-0.05, 1.05),
            title="Self-intermediate scattering (× propensity times)")
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    if caption:
        add_caption(fig, caption)
    savefig(fig, output)


CEILING_STYLE = {"A": {"color": "0.55", "alpha": 0.25}, "B": {"color": "0.55", "alpha": 0.12, "hatch": "//"}}


def ceiling_band(evals: list[dict[str, Any]], tkey: str, species: str) -> tuple[np.ndarray, ...] | None:
    """The noise ceiling of test temperature ``tkey`` for ``species`` as a band: (times [τ], low,
    high, n_replicas), from every evaluation's ``ceiling`` record (the same test labels, so the
    same ceiling; models trained on some timescales only add their times). The band spans the
    analytic and the split-half estimate, each ± its standard error over test configurations.
    None where no evaluation has one."""
    points: dict[float, tuple[float, float]] = {}
    reps = None
    for e in evals:
        res = e["results"].get(tkey) or {}
        c = (res.get("ceiling") or {}).get(species)
        if not c:
            continue
        reps = c.get("n_replicas", reps)
        for k, t in enumerate(res["times"]):
            ests = [(num(c["ceiling"][k]), num((c.get("ceiling_sem") or [None] * (k + 1))[k]))]
            ests.append((num((c.get("ceiling_split_half") or [None] * (k + 1))[k]),
                         num((c.get("ceiling_split_half_sem") or [None] * (k + 1))[k])))
            lo = [m - (se if math.isfinite(se) else 0.0) for m, se in ests if math.isfinite(m)]
            hi = [m + (se if math.isfinite(se) else 0.0) for m, se in ests if math.isfinite(m)]
            if lo:
                points[float(t)] = (min(lo), min(max(hi), 1.0))
    if not points:
        return None
    times = np.array(sorted(points))
    return times, np.array([points[t][0] for t in times]), np.array([points[t][1] for t in times]), reps


def _seed_mean(seeds: list[dict[str, Any]], tkey: str, species: str) -> tuple[np.ndarray, np.ndarray, str]:
    """ρ per timescale of one model at test T ``tkey``: (mean, error bar, legend note). One seed: its
    mean over configurations ± bootstrap error; several (training.seeds): the mean over seeds ± their
    standard deviation."""
    rho = np.array([float_array(e["results"][tkey]["metrics"][species]["pearson"]) for e in seeds
                    if species in e["results"].get(tkey, {}).get("metrics", {})])
    if len(rho) == 1:
        m = seeds[0]["results"][tkey]["metrics"][species]
        return rho[0], float_array(m["pearson_sem"]), ""
    return np.nanmean(rho, axis=0), np.nanstd(rho, axis=0, ddof=1), f", mean ± sd of {len(rho)} seeds"


def fig_rho_vs_time(evaluation_jsons: list[str], output: str | Path, caption: str = "") -> None:
    """Pearson ρ (mean over test configurations ± bootstrap error) vs t/τ_α, per test T and type,
    under the noise ceiling of the test labels (a band per species, :mod:`equiglass.ceiling`).
    Evaluations of one model from several training seeds: the mean over seeds ± their spread."""
    from ..metrics import seed_groups

    evals = [read_json(f) for f in evaluation_jsons]
    groups = seed_groups(evals)
    temps = sorted({float(t) for e in evals for t in e["results"]})
    fig, axes = plt.subplots(1, len(temps), figsize=(4.2 * len(temps), 3.8), squeeze=False, sharey=True)
    # same colour per model family; the training set with most temperatures drawn solid, others faded
    widest = max((e["train_set"] for e in evals if not e.get("published")), key=lambda ts: ts.count("+"),
                 default=None)
    # predictions deposited with a published dataset (GlassBench's test files): grey shades, dotted
    deposited = [e["model"] for e in evals if e.get("published")]
    shades = {m: plt.cm.Greys(0.45 + 0.5 * k / max(len(deposited) - 1, 1)) for k, m in enumerate(deposited)}
    for ax, temp in zip(axes[0], temps):
        for species in ("A", "B"):
            band = ceiling_band(evals, f"{temp:.2f}", species)
            if band is not None:
                t, lo, hi, reps = band
                ax.fill_between(t, lo, hi, lw=0, **CEILING_STYLE[species],
                                label=f"noise ceiling {species} ({reps} replicas)")
        for seeds in groups:
            e = seeds[0]
            res = e["results"].get(f"{temp:.2f}")
            if res is None:
                continue
            if e.get("published"):
                for species, m in res["metrics"].items():
                    ax.errorbar(res["times"], float_array(m["pearson"]), yerr=float_array(m["pearson_sem"]),
                                marker="x", ls=":", color=shades[e["model"]], capsize=2, ms=4,
                                label=f"{e['model']} [{e['train_set']} test files, deposited] {species}")
                continue
            for species in res["metrics"]:
                rho, err, note = _seed_mean(seeds, f"{temp:.2f}", species)
                ax.errorbar(res["times"], rho, yerr=err, marker=TYPE_MARKERS[species],
                            ls="-" if species == "A" else "--", color=MODEL_COLORS.get(e["model"], "k"),
                            label=f"{MODEL_LABELS.get(e['model'], e['model'])} [{e['train_set']}] {species}{note}",
                            capsize=2, ms=4, alpha=1.0 if e["train_set"] == widest else 0.45)
        ax.set_xscale("log")
        ax.axhline(0, color="grey", lw=0.6)
        from ..reference import PUBLISHED_SE3_AT_TAU_ALPHA

        near = min(PUBLISHED_SE3_AT_TAU_ALPHA, key=lambda x: abs(x - temp))
        if abs(near - temp) <= 0.05:
            ax.axhline(PUBLISHED_SE3_AT_TAU_ALPHA[near], color=MODEL_COLORS["se3gnn"], ls=":", lw=1.2,
                       label=f"published SE(3)-GNN at τ_α (A, T={near:.2f}, N=4096)")
        ax.set(title=f"test T = {temp:.2f}", xlabel="t [τ]")
    axes[0][0].set_ylabel("Pearson ρ (per configuration, mean)")
    entries: dict[str, Any] = {}  # every panel's labels (the published line is drawn on one panel only)
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    axes[0][-1].legend(list(entries.values()), list(entries), fontsize=7, loc="center left",
                       bbox_to_anchor=(1.02, 0.5))  # beside, not over, the data
    if caption:
        add_caption(fig, caption)
    savefig(fig, output)


def _load_predictions(npz_path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    data = load_npz(npz_path)
    out: dict[str, dict[str, np.ndarray]] = {}
    for key, arr in data.items():
        *name, field = key.split("|")
        out.setdefault("|".join(name), {})[field] = arr
    return out


def fig_scatter(evaluation_json: str | Path, output: str | Path, timescale: int | None = None, caption: str = "") -> None:
    """Predicted vs true propensity of every test particle, per test T, A and B coloured."""
    ev = read_json(evaluation_json)
    preds = _load_predictions(Path(evaluation_json).with_suffix(".npz"))
    temps = sorted(ev["results"])
    fig, axes = plt.subplots(1, len(temps), figsize=(4 * len(temps), 4), squeeze=False)
    for ax, tkey in zip(axes[0], temps):
        res = ev["results"][tkey]
        labels = res["timescale_labels"]
        k = timescale if timescale is not None else tau_alpha_index(labels)
        items = [v for name, v in preds.items() if name.startswith(f"T{tkey}|")]
        for a, species, color in ((0, "A", "#444444"), (1, "B", "#ff7f0e")):
            p = np.concatenate([it["pred"][it["types"] == a, k] for it in items])
            t = np.concatenate([it["true"][it["types"] == a, k] for it in items])
            rho = num(res["metrics"].get(species, {}).get("pearson", [None] * len(labels))[k])
            ax.scatter(t, p, s=3, alpha=0.35, color=color, label=f"{species}: ρ = {rho:.2f}", rasterized=True)
        lims = [min(ax.get_xlim()[0], ax.get_ylim()[0]), max(ax.get_xlim()[1], ax.get_ylim()[1])]
        ax.plot(lims, lims, color="grey", lw=0.8)
        ax.set(xlabel="true propensity [σ]", ylabel="predicted propensity [σ]",
               title=f"{MODEL_LABELS.get(ev['model'], ev['model'])}, T={tkey}\n{labels[k]} (t={res['times'][k]:.3g} τ)")
        ax.legend(fontsize=8)
    if caption:
        add_caption(fig, caption)
    savefig(fig, output)


def fig_snapshot(propensity_npz: str | Path, graph_npz: str | Path, evaluation_json: str | Path | None,
                 output: str | Path, slab: float = 2.0, caption: str = "") -> None:
    """Slab |z| < slab/2 of one test configuration coloured by true (and predicted) propensity at ≈ τ_α."""
    prop = load_npz(propensity_npz, required=("propensity", "types"))
    graph = load_npz(graph_npz, required=("positions", "box"))
    import json

    meta = json.loads(str(prop["metadata"]))
    labels = meta["timescale_labels"]
    k = tau_alpha_index(labels)
    pos = graph["positions"]
    mask = np.abs(pos[:, 2]) < slab / 2
    panels = [("true propensity", prop["propensity"][k])]
    if evaluation_json is not None:
        preds = _load_predictions(Path(evaluation_json).with_suffix(".npz"))
        ev = read_json(evaluation_json)
        name = f"{Path(graph_npz).parent.name}|{Path(graph_npz).stem}"
        for key, item in preds.items():
            if key.endswith(name):
                panels.append((f"predicted ({MODEL_LABELS.get(ev['model'], ev['model'])})", item["pred"][:, k]))
                break
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.6), squeeze=False)
    for ax, (title, values) in zip(axes[0], panels):
        # each panel on its own 2-98 % range: predictions regress to the mean, the pattern is what matters
        vmin, vmax = (float(np.percentile(values, q)) for q in (2, 98))
        sizes = np.where(prop["types"][mask] == 0, 60, 35)
        sc = ax.scatter(pos[mask, 0], pos[mask, 1], c=values[mask], s=sizes, cmap="viridis", vmin=vmin,
                        vmax=vmax, edgecolors="k", linewidths=0.3)
        ax.set_aspect("equal", adjustable="datalim")  # fills its slot: colour bar as tall
        ax.set(xlabel="x [σ]", ylabel="y [σ]", title=f"{title}, {labels[k]}")
        fig.colorbar(sc, ax=ax, label="propensity [σ]" if meta.get("kind") == "displacement" else "propensity [σ²]")
    if caption:
        add_caption(fig, caption)
    savefig(fig, output)


def fig_training_curves(histories: dict[str, str], output: str | Path, caption: str = "") -> None:
    """Training and validation loss per epoch for each trained model (name → history.csv); a model
    trained per timescale draws one curve per timescale (faded but its τ_α one)."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for name, path in histories.items():
        with open(path) as fh:
            rows = list(csv.DictReader(fh))
        if not rows or "train_loss" not in rows[0] or not rows[0].get("epoch"):
            continue
        color = MODEL_COLORS.get(name.split("/")[0], "k")
        groups: dict[str, list[dict]] = {}
        for r in rows:
            groups.setdefault(r.get("timescale", ""), []).append(r)
        k_tau = tau_alpha_index(list(groups)) if len(groups) > 1 else 0
        for j, (ts, g) in enumerate(groups.items()):
            main = len(groups) == 1 or j == k_tau
            alpha, tag = (1.0, f"{name} {ts}".strip()) if main else (0.3, None)
            ep = [int(r["epoch"]) for r in g]
            ax1.plot(ep, [float(r["train_loss"]) for r in g], "-", color=color, alpha=alpha,
                     label=f"{tag} train" if tag else None)
            ax1.plot(ep, [float(r["val_loss"]) for r in g], "--", color=color, alpha=alpha,
                     label=f"{tag} validation" if tag else None)
            if "val_rho_A" in g[0]:
                ax2.plot(ep, [num(r["val_rho_A"]) for r in g], "-", color=color, alpha=alpha,
                         label=f"{tag} A" if tag else None)
                if len(groups) == 1:
                    ax2.plot(ep, [num(r["val_rho_B"]) for r in g], ":", color=color, label=f"{name} B")
    ax1.set(xlabel="epoch", ylabel="MSE (standardized targets)", yscale="log", title="Loss")
    ax2.set(xlabel="epoch", ylabel="validation Pearson ρ", title="Validation ρ (per-timescale models: their own time)")
    ax1.legend(fontsize=6)
    ax2.legend(fontsize=6)
    if caption:
        add_caption(fig, caption)
    savefig(fig, output)
