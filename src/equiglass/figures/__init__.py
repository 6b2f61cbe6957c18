"""Every figure of equiglass, one home: ``equiglass figure KIND INPUT... --output PNG...``.

Figures are drawn from result files (never recomputed), saved as PNG and PDF with a caption
saying what was run, in one style (:mod:`.style`: one colour per model family). Modules:
:mod:`.pipeline` (dynamics, ρ vs time, scatter, snapshot, training curves), :mod:`.experiments`
(generalization, transfer, interpretability), :mod:`.ablations` (ablations, learning curves),
:mod:`.comparisons` (paired differences), :mod:`.validation`, :mod:`.predictions`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from ..files import InputError


@dataclass(frozen=True)
class Kind:
    """A figure kind: the function drawing it, what it reads and how many PNGs it writes."""

    module: str
    function: str
    reads: str
    n_outputs: int = 1
    options: tuple[str, ...] = ()


KINDS: dict[str, Kind] = {
    "dynamics": Kind("pipeline", "fig_dynamics", "results/dynamics/T*.json (their .npz next to them)"),
    "rho": Kind("pipeline", "fig_rho_vs_time", "results/eval/*/*.json"),
    "scatter": Kind("pipeline", "fig_scatter", "one results/eval/<model>/<set>.json"),
    "snapshot": Kind("pipeline", "fig_snapshot", "propensity .npz, graph .npz [, evaluation .json]",
                     options=("slab",)),
    "training": Kind("pipeline", "fig_training_curves", "results/models/*/*/history.csv"),
    "validation": Kind("validation", "fig_validation", "results/validation/validation.json"),
    "predictions": Kind("predictions", "fig_predictions", "a GSD written by `equiglass predict`",
                        options=("slab", "frame")),
    "generalization": Kind("experiments", "fig_generalization", "results/experiments/generalization.json", 2),
    "transfer": Kind("experiments", "fig_transfer", "results/experiments/transfer.json"),
    "interpretability": Kind("experiments", "fig_interpretability",
                             "results/experiments/interpretability.json (its .npz next to it)", 2),
    "ablation": Kind("ablations", "fig_ablation", "results/ablations/ablation_<study>.json"),
    "learning_curves": Kind("ablations", "fig_learning_curves", "results/ablations/learning_curves.json"),
    "comparisons": Kind("comparisons", "fig_comparisons", "results/tables/comparisons.json"),
}


def _call(kind: str, inputs: list[str], outputs: list[str], caption: str, options: dict[str, Any]) -> None:
    k = KINDS[kind]
    fn: Callable[..., None] = getattr(import_module(f"{__name__}.{k.module}"), k.function)
    opts = {key: value for key, value in options.items() if key in k.options and value is not None}
    if kind == "training":  # name each curve by <family>/<set> from results/models/<family>/<set>/history.csv
        fn({str(Path(p).parent.relative_to(Path(p).parents[2])): p for p in inputs}, outputs[0], caption)
    elif kind in ("dynamics", "rho"):
        fn(inputs, outputs[0], caption)
    elif kind == "snapshot":
        fn(inputs[0], inputs[1], inputs[2] if len(inputs) > 2 else None, outputs[0], caption=caption, **opts)
    else:
        fn(inputs[0], *outputs, caption=caption, **opts)


def draw(kind: str, inputs: list[str], outputs: list[str], caption: str = "", **options: Any) -> None:
    """Draw figure ``kind`` from ``inputs`` into ``outputs`` (PNG paths; a PDF is written next to each)."""
    if kind not in KINDS:
        raise InputError(f"unknown figure kind {kind!r}; choose from {sorted(KINDS)}")
    need = KINDS[kind].n_outputs
    if len(outputs) != need:
        raise InputError(f"figure {kind} writes {need} PNG file(s); give {need} paths to --output")
    _call(kind, list(inputs), list(outputs), caption, options)


__all__ = ["KINDS", "Kind", "draw"]
