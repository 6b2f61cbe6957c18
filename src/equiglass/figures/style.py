"""Shared style of every figure: one colour per model family, captions, PNG + PDF output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from ..files import atomic_path
from ..models import registry

MODEL_COLORS = {name: fam.color for name, fam in registry.FAMILIES.items()}
MODEL_LABELS = {name: fam.label for name, fam in registry.FAMILIES.items()}
TYPE_MARKERS = {"A": "o", "B": "s"}


def num(value: Any) -> float:
    """A JSON number (null for NaN) as a float."""
    return float("nan") if value is None else float(value)


def add_caption(fig: plt.Figure, caption: str) -> None:
    """What was run, in small type below the axes (kept in the saved area by bbox_inches='tight')."""
    below = 0.55 / fig.get_figheight()  # clear of the x labels (≈ 0.5 inch), whatever the figure's height
    fig.text(0.5, -below, caption, ha="center", va="top", fontsize=8, color="#444444")


def savefig(fig: plt.Figure, path: str | Path) -> None:
    """Save as PNG (the given path) and PDF next to it, atomically."""
    p = Path(path)
    with atomic_path(p) as tmp:
        fig.savefig(tmp, dpi=130, bbox_inches="tight", format="png")
    with atomic_path(p.with_suffix(".pdf")) as tmp:  # no creation date: same inputs, same bytes
        fig.savefig(tmp, bbox_inches="tight", format="pdf", metadata={"CreationDate": None})
    plt.close(fig)


def temperature_colors(temps: list[float]) -> dict[float, Any]:
    """Cold (dark blue) to hot (orange), every shade readable on white."""
    cmap = plt.get_cmap("plasma")
    lo, hi = min(temps), max(temps)
    return {t: cmap(0.45 if hi == lo else 0.05 + 0.75 * (t - lo) / (hi - lo)) for t in temps}


