"""Matching timescale labels between a model, its test data and other models' results.

A model trained on a subset of timescales (Bapst et al.'s recipe: one model per chosen time) names
them (``Fs=0.368``); labels that differ only because the time grid depends on temperature
(GlassBench's ``t=`` times) are matched by position, as training matched them.
"""

from __future__ import annotations

from typing import Any


def match_timescales(subset: list[str], full: list[str]) -> list[int] | None:
    """Index in ``full`` of each label of ``subset``; None when the two are the same grid (equal,
    or of equal length with temperature-dependent labels: matched by position).

    Raises ValueError when neither: the caller says which file and what to do.
    """
    if subset == full:
        return None
    if all(lab in full for lab in subset):
        return [full.index(lab) for lab in subset]
    if len(subset) == len(full):
        return None
    raise ValueError(f"timescales {subset} are not among {full}")


def aligned(values: list[Any], own: list[str], labels: list[str]) -> list[Any]:
    """``values`` (one per label of ``own``) placed on the grid ``labels``; None where ``own`` has
    no such timescale."""
    idx = match_timescales(own, labels)
    if idx is None:
        return list(values)
    out: list[Any] = [None] * len(labels)
    for v, k in zip(values, idx):
        out[k] = v
    return out


__all__ = ["aligned", "match_timescales"]
