"""Physics validation figure: U/N, P, τ_α and D_A vs T beside the reference values."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import read_json
from ..reference import KA_REFERENCE
from .style import add_caption, plt, savefig


def fig_validation(validation_json: str | Path, output: str | Path, caption: str = "") -> None:
    """U/N, P, τ_α and D_A vs T: ours (error bars between configurations) and the references."""
    res = read_json(validation_json)
    rows = res["rows"]

    def col(key: str) -> np.ndarray:
        return np.array([np.nan if r[key] is None else r[key] for r in rows], dtype=float)

    t = col("temperature")
    ref_t = np.array(sorted(KA_REFERENCE))
    ref = np.array([KA_REFERENCE[x] for x in ref_t], dtype=object)
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    panels = [("U", "U/N [ε]", 0), ("P", "P [ε/σ³]", 2), ("tau_alpha", "τ_α [τ]", 4), ("D_A", "D_A [σ²/τ]", None)]
    for ax, (key, label, k) in zip(axes, panels):
        ax.errorbar(t, col(key), yerr=col(f"{key}_err"), fmt="o", color="#d62728", label="equiglass", capsize=3)
        if k is not None:
            ax.errorbar(ref_t, ref[:, k].astype(float), yerr=[e or 0 for e in ref[:, k + 1]], fmt="s", mfc="none",
                        color="k", label="reference (Kob & Andersen 1995; Bapst et al. 2020)", capsize=3)
        if key in ("tau_alpha", "D_A"):
            ax.set_yscale("log")
        ax.set(xlabel="T [ε/k_B]", ylabel=label)
        ax.legend(fontsize=8)
    if caption:
        add_caption(fig, caption)
    savefig(fig, output)
