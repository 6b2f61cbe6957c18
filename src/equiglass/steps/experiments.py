"""Pipeline steps of the experiments (rules ``generalization``, ``transfer``, ``interpret``,
``summary``): read the pipeline's files, run :mod:`equiglass.experiments`, write tables, JSON and
figures (PNG + PDF)."""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from .. import experiments as ex
from ..artifact import load_artifact
from ..figures import MODEL_COLORS, MODEL_LABELS, add_caption, savefig
from ..files import atomic_path, read_json, write_csv, write_json
from ..provenance import provenance


def _arr(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


# --------------------------------------------------------------------- generalization
def step_generalization(evaluation_jsons: list[str], output_json: str | Path, fig_matrix: str | Path,
                        fig_curves: str | Path, caption: str = "") -> dict[str, Any]:
    """ρ matrix (model/training set × test T) and ρ vs test T curves at ≈ τ_α, species A."""
    res = ex.generalization([read_json(f) for f in evaluation_jsons])
    k = ex.tau_alpha_index(res["labels"])
    flat = []
    for r in res["rows"]:
        for j, lab in enumerate(res["labels"]):
            flat.append({"model": r["model"], "train_set": r["train_set"], "test_T": r["test_T"],
                         "species": r["species"], "timescale": lab, "rho": r["rho"][j], "rho_sem": r["rho_sem"][j],
                         "unseen_temperature": r["unseen"]})
    write_csv(Path(output_json).with_suffix(".csv"), flat)
    write_json(output_json, {**res, "tau_alpha_index": k, "provenance": provenance("generalization", {})})
    temps = res["test_temperatures"]
    a_rows = [r for r in res["rows"] if r["species"] == "A"]
    keys = sorted({(r["model"], r["train_set"]) for r in a_rows}, key=lambda x: (list(MODEL_COLORS).index(x[0])
                                                                                   if x[0] in MODEL_COLORS else 9, x[1]))
    mat = np.full((len(keys), len(temps)), np.nan)
    for r in a_rows:
        mat[keys.index((r["model"], r["train_set"])), temps.index(r["test_T"])] = _arr(r["rho"])[k]
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
            pts = sorted((r["test_T"], _arr(r["rho"])[k], _arr(r["rho_sem"])[k]) for r in res["rows"]
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
    return res


# ---------------------------------------------------------------------------- transfer
def step_transfer(settings: dict[str, Any], source_model: str | Path, pool_pairs: list[tuple[str, str]],
                  test_pairs: list[tuple[str, str]], output_json: str | Path, figure: str | Path,
                  caption: str = "") -> dict[str, Any]:
    """Sample-efficiency curves of transfer learning (see :func:`equiglass.experiments.transfer`)."""
    import torch

    from .common import load_samples

    torch.set_num_threads(int(settings.get("threads", 2)))
    t0 = time.perf_counter()
    art = load_artifact(source_model)
    pool, test = load_samples(pool_pairs), load_samples(test_pairs)
    tr = settings["transfer"]
    res = ex.transfer(art, pool, test, list(tr["n_configs"]), epochs=tr["readout_epochs"],
                      fine_tune_epochs=tr["fine_tune_epochs"], scratch_epochs=tr["scratch_epochs"], lr=tr["lr"],
                      seed=int(settings["seed"]), fine_tune=tr["fine_tune"], scratch=tr["scratch"],
                      checkpoint=Path(output_json).with_suffix(".checkpoint.json"))
    labels = test[0].timescale_labels
    k = ex.tau_alpha_index(labels)
    res.update(source_temperatures=art["info"].get("temperatures"), target_temperature=settings["target"],
               labels=labels, tau_alpha_index=k,
               provenance=provenance("transfer", settings, time.perf_counter() - t0, model=str(source_model)))
    write_json(output_json, res)
    Path(output_json).with_suffix(".checkpoint.json").unlink(missing_ok=True)
    rows = []
    for method, by_n in res["methods"].items():
        for n, m in by_n.items():
            for species, mm in m.items():
                rows.append({"method": method, "n_configurations": n, "species": species,
                             **{f"rho_{lab}": mm["pearson"][j] for j, lab in enumerate(labels)}})
    write_csv(Path(output_json).with_suffix(".csv"), rows)
    styles = {"frozen": ("#d62728", "-", "SE(3) frozen backbone + new readout"),
              "fine_tune": ("#ff7f0e", "-.", "SE(3) fine-tuned"),
              "scratch": ("#7f7f7f", "--", "SE(3) from scratch"),
              "ridge": (MODEL_COLORS["ridge"], ":", "ridge (descriptors)")}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, species in zip(axes, "AB"):
        for method, by_n in res["methods"].items():
            ns = sorted(by_n, key=int)
            y = [_arr(by_n[n][species]["pearson"])[k] if species in by_n[n] else np.nan for n in ns]
            e = [_arr(by_n[n][species]["pearson_sem"])[k] if species in by_n[n] else np.nan for n in ns]
            c, ls, lab = styles.get(method, ("k", "-", method))
            ax.errorbar([int(n) for n in ns], y, yerr=e, color=c, ls=ls, marker="o", capsize=2, label=lab)
        zs = res["zero_shot"].get(species)
        if zs:
            ax.axhline(_arr(zs["pearson"])[k], color="#d62728", lw=0.8, ls=(0, (1, 3)),
                       label="source model, no retraining")
        ax.set(xscale="log", xlabel=f"training configurations at T = {settings['target']}",
               title=f"species {species}, {labels[k]}")
        n_ticks = sorted({int(n) for method in res["methods"].values() for n in method})
        ax.set_xticks(n_ticks, [str(n) for n in n_ticks])  # the sizes trained on, not 3×10⁰
        ax.minorticks_off()
    axes[0].set_ylabel("Pearson ρ (test)")
    axes[1].legend(fontsize=7)
    if caption:
        add_caption(fig, caption)
    savefig(fig, figure)
    return res


# ------------------------------------------------------------------------ interpretability
def step_interpret(settings: dict[str, Any], model_path: str | Path, pairs: list[tuple[str, str]],
                   configurations: list[str], output_json: str | Path, fig_corr: str | Path,
                   fig_map: str | Path, caption: str = "") -> dict[str, Any]:
    """Learned invariants vs Steinhardt q_l, q̄_l, local density and local energy; probes; a map."""
    import torch

    from ..formats.gsd_files import read_gsd
    from ..model_inputs import local_energies
    from .common import load_samples, md_settings

    torch.set_num_threads(int(settings.get("threads", 2)))
    t0 = time.perf_counter()
    art = load_artifact(model_path)
    samples = load_samples(pairs)
    names = samples[0].descriptor_names
    wanted = [f"q{l}" for l in (4, 6, 8)] + [f"qbar{l}" for l in (4, 6, 8)]
    targets: dict[str, list[np.ndarray]] = {}
    for w in wanted:
        if w in names:
            targets[w] = [s.descriptors[:, names.index(w)].astype(np.float64) for s in samples]
    targets["local density"] = [ex.local_density(s) for s in samples]
    md = md_settings(settings)
    targets["local energy"] = [local_energies(read_gsd(c), md) for c in configurations]
    res = ex.interpret(art, samples, targets)
    res["provenance"] = provenance("interpret", settings, time.perf_counter() - t0, model=str(model_path))
    write_json(output_json, res)
    # figure 1: strongest |ρ| per layer and descriptor, and probe R²
    desc = res["descriptors"]
    best = np.array([L["best_abs_correlation"] for L in res["layers"]])
    r2 = np.array([_arr(L["probe_r2"]) for L in res["layers"]])
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
    # figure 2: the layer-1 invariant that best matches the local density next to the propensity
    s0 = samples[0]
    feats = ex.layer_invariants(load_predictor_model(art), s0)
    j_den = desc.index("local density")
    lay = res["layers"][1] if len(res["layers"]) > 1 else res["layers"][0]
    fname = lay["best_feature"][j_den]
    x1, names1 = feats[lay["layer"]]
    values = x1[:, names1.index(fname)]
    k_tau = ex.tau_alpha_index(s0.timescale_labels)
    panels = [(f"learned invariant {fname}", values), ("local density (first shell)", targets["local density"][0]),
              (f"propensity {s0.timescale_labels[k_tau]}", s0.targets[:, k_tau])]
    pos = s0.graph.positions
    slab = np.abs(pos[:, 2]) < float(settings.get("slab", 2.0)) / 2
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    for ax, (title, v) in zip(axes, panels):
        lo, hi = np.percentile(v, [2, 98])
        sc = ax.scatter(pos[slab, 0], pos[slab, 1], c=v[slab], s=np.where(s0.graph.types[slab] == 0, 55, 30),
                        cmap="viridis", vmin=lo, vmax=hi, edgecolors="k", linewidths=0.3)
        ax.set_aspect("equal")
        ax.set(xlabel="x [σ]", ylabel="y [σ]", title=title)
        fig.colorbar(sc, ax=ax)
    if caption:
        add_caption(fig, caption)
    savefig(fig, fig_map)
    return res


def load_predictor_model(artifact: dict[str, Any]):
    from ..artifact import Predictor

    return Predictor(artifact).model


# ------------------------------------------------------------------------------ summary
def step_summary(metrics_csv: str | Path, generalization_json: str | Path | None, transfer_json: str | Path | None,
                 interpret_json: str | Path | None, validation_json: str | Path | None, context: dict[str, Any],
                 output_md: str | Path) -> str:
    """``results/summary.md``: our numbers beside the published ones (with the ratio) per experiment."""
    from ..reference import PUBLISHED_SE3_AT_TAU_ALPHA

    lines = [f"# equiglass summary — preset {context.get('preset')}", "",
             f"Data: {context.get('what')}. Published values: Pezzicoli et al. 2024 on GlassBench (N = 4096, "
             "T = 0.44–0.64, 32 replicas; SPEC.md §6b). Our temperatures and sizes differ, so ratios compare "
             "orders of magnitude and trends, not like for like.", ""]
    rows = list(csv.DictReader(open(metrics_csv)))
    ta = {}
    for r in rows:
        if r["type"] == "A" and r["timescale"] in ("Fs=0.368", "1tau_a"):
            ta[(r["model"], r["train_set"], float(r["test_T"]))] = float(r["pearson"]) if r["pearson"] else math.nan
    pub_t = sorted(PUBLISHED_SE3_AT_TAU_ALPHA)
    lines += ["## Prediction at τ_α (species A, mean per-configuration Pearson ρ)", "",
              "| model | train set | test T | ρ (ours) | published SE(3)-GNN ρ (nearest T) | ratio |", "|---|---|---|---|---|---|"]
    for (m, s, t), v in sorted(ta.items()):
        near = min(pub_t, key=lambda x: abs(x - t))
        pub = PUBLISHED_SE3_AT_TAU_ALPHA[near]
        lines.append(f"| {m} | {s} | {t:.2f} | {v:.3f} | {pub:.3f} (T = {near:.2f}) | {v / pub:.2f} |")
    if generalization_json and Path(generalization_json).exists():
        g = read_json(generalization_json)
        k = g["tau_alpha_index"]
        lines += ["", "## Generalization to unseen temperatures (A, ≈ τ_α)", "",
                  "| model | train set | test T | seen in training | ρ |", "|---|---|---|---|---|"]
        for r in sorted(g["rows"], key=lambda r: (r["model"], r["train_set"], r["test_T"])):
            if r["species"] == "A":
                lines.append(f"| {r['model']} | {r['train_set']} | {r['test_T']:.2f} | {'no' if r['unseen'] else 'yes'} "
                             f"| {_arr(r['rho'])[k]:.3f} |")
        lines += ["", "Published: the SE(3) GNN loses less accuracy than the Bapst GNN at unseen temperatures "
                  "(qualitative claim; no table in SPEC.md)."]
    if transfer_json and Path(transfer_json).exists():
        t = read_json(transfer_json)
        k = t["tau_alpha_index"]
        lines += ["", f"## Transfer learning (source T = {t['source_temperatures']}, target T = {t['target_temperature']}, "
                  "A, ≈ τ_α)", "", "| method | " + " | ".join(f"n = {n}" for n in t["n_configs"]) + " |",
                  "|---|" + "---|" * len(t["n_configs"])]
        for method, by_n in t["methods"].items():
            vals = [f"{_arr(by_n[str(n)]['A']['pearson'])[k]:.3f}" if str(n) in by_n else "–" for n in t["n_configs"]]
            lines.append(f"| {method} | " + " | ".join(vals) + " |")
        zs = t["zero_shot"].get("A")
        if zs:
            lines.append(f"| source model as is | {_arr(zs['pearson'])[k]:.3f} (any n) |" + " |" * (len(t["n_configs"]) - 1))
    if interpret_json and Path(interpret_json).exists():
        it = read_json(interpret_json)
        lines += ["", "## Interpretability: strongest correspondences (species A)", "",
                  "| layer | descriptor | feature | abs(ρ) |", "|---|---|---|---|"]
        for r in it["top"][:8]:
            lines.append(f"| {r['layer']} | {r['descriptor']} | {r['feature']} | {r['abs_correlation']:.3f} |")
        lines += ["", "Published: the first layer relates to local density / bond-order expert features (qualitative)."]
    if validation_json and Path(validation_json).exists():
        v = read_json(validation_json)
        lines += ["", "## Physics validation (SPEC.md reference values)", "",
                  "| quantity | T | ours | reference | ratio | agrees |", "|---|---|---|---|---|---|"]
        for c in v["comparisons"]:
            lines.append(f"| {c['quantity']} | {c['temperature']:.2f} | {c['ours']:.4g} | {c['reference']:.4g} | "
                         f"{c['ratio']:.3f} | {'yes' if c['agrees'] else 'NO'} |")
    text = "\n".join(lines) + "\n"
    with atomic_path(output_md) as tmp:
        tmp.write_text(text)
    return text
