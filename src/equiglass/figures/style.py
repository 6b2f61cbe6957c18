"""Shared style of every figure: one colour per model family, captions, PNG + PDF output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from ..files import atomic_path
from ..models import registry

# every figure lays itself out (colour bars, their labels, titles and outside legends never overlap
# a neighbouring panel): matplotlib's constrained layout
plt.rcParams["figure.constrained_layout.use"] = True
CAPTION_GID = "equiglass-caption"
CAPTION_GAP_IN = 0.1  # between the lowest drawn element and the caption [inch]

MODEL_COLORS = {name: fam.color for name, fam in registry.FAMILIES.items()}
MODEL_LABELS = {name: fam.label for name, fam in registry.FAMILIES.items()}
TYPE_MARKERS = {"A": "o", "B": "s"}


def num(value: Any) -> float:
    """A JSON number (null for NaN) as a float."""
    return float("nan") if value is None else float(value)


def add_caption(fig: plt.Figure, caption: str) -> None:
    """What was run, in small type just below the lowest axis label (placed by :func:`savefig`)."""
    fig.text(0.5, 0.0, caption, ha="center", va="top", fontsize=8, color="#444444", gid=CAPTION_GID)


def place_captions(fig: plt.Figure) -> None:
    """Put the captions :data:`CAPTION_GAP_IN` below everything else drawn, centred on it (the
    figure's own bottom edge can lie far below the axes: equal-aspect panels, a short legend)."""
    captions = [t for t in fig.texts if t.get_gid() == CAPTION_GID]
    if not captions:
        return
    for t in captions:
        t.set_visible(False)
    fig.canvas.draw()  # runs the layout
    box = fig.get_tightbbox(fig.canvas.get_renderer())  # [inch]
    for t in captions:
        t.set_visible(True)
    width, height = fig.get_size_inches()
    for t in captions:
        t.set_position(((box.x0 + box.x1) / 2 / width, (box.y0 - CAPTION_GAP_IN) / height))


def savefig(fig: plt.Figure, path: str | Path) -> None:
    """Save as PNG (the given path) and PDF next to it, atomically, captions placed."""
    place_captions(fig)
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


