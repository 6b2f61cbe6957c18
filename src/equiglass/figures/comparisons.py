"""Figure of the paired comparisons: Δρ_A with 95 % intervals at τ_α and at the shortest time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import read_json
from .style import MODEL_COLORS, add_caption, plt, savefig


def fig_comparisons(comparisons_json: str | Path, output: str | Path, caption: str = "") -> None:
    """One row per (model pair, test T); filled markers: the interval excludes 0. Pairs with a published
    dataset's deposited predictions are left to the summary's table and the ρ(t) figure (there are
    one per model, training set and deposited key)."""
    rows = [r for r in read_json(comparisons_json)["rows"] if r["species"] == "A"
            and r.get("source", "this pipeline") == "this pipeline"]
    shortest = {}
    for r in rows:  # the shortest time of each pair and T is its first timescale
        shortest.setdefault((r["model_a"], r["model_b"], r["test_T"]), r)
    panels = [("at τ_α", [r for r in rows if r["is_tau_alpha"]]), ("at the shortest time", list(shortest.values()))]
    n = max(len(p[1]) for p in panels) or 1
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.9 + 0.32 * n), sharey=True)
    keys = sorted({(r["model_a"], r["model_b"], r["test_T"] or 0.0) for r in rows})
    for ax, (title, sel) in zip(axes, panels):
        for r in sel:
            y = keys.index((r["model_a"], r["model_b"], r["test_T"] or 0.0))
            lo, hi, d = (np.nan if v is None else v for v in (r["ci_low"], r["ci_high"], r["delta_rho"]))
            color = MODEL_COLORS.get(r["model_b"].split("@")[0].split()[0], "k")
            ax.errorbar(d, y, xerr=[[d - lo], [hi - d]], fmt="o", color=color, capsize=3,
                        mfc=color if r["resolved"] else "white")
        ax.axvline(0, color="k", lw=0.8)
        ax.set(xlabel="Δρ_A = ρ(a) − ρ(b) (95 % CI over test configurations)", title=title)
    axes[0].set_yticks(range(len(keys)), [f"{a} − {b}, T = {t:.2f}" for a, b, t in keys], fontsize=7)
    if caption:
        add_caption(fig, caption)
    savefig(fig, output)


__all__ = ["fig_comparisons"]
