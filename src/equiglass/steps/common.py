"""Helpers shared by the pipeline steps: sidecar names, MD settings, loading samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..md import MDSettings


def sidecar(path: str | Path) -> Path:
    """The JSON file next to an output: ``x.gsd`` → ``x.json``."""
    return Path(path).with_suffix(".json")


def md_settings(settings: dict[str, Any]) -> MDSettings:
    """The step's ``settings['md']`` as :class:`~equiglass.md.MDSettings`."""
    return MDSettings(**settings["md"])


def sample_name(graph_path: str | Path) -> str:
    """A configuration's name from its graph file: ``results/graphs/T0.60/s003.npz`` → ``T0.60/s003``."""
    p = Path(graph_path)
    return f"{p.parent.name}/{p.stem}"


def load_samples(pairs: list[tuple[str, str]]) -> list:
    """:class:`~equiglass.dataset.Sample` objects of (graph file, propensity file) pairs."""
    from ..dataset import load_sample

    return [load_sample(g, p, name=sample_name(g)) for g, p in pairs]
