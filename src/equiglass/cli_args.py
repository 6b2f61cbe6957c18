"""Parsing of the command-line arguments shared by ``equiglass`` subcommands."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from .files import InputError


def settings(text: str) -> dict[str, Any]:
    """``--settings``: a JSON object, or ``@file.json``."""
    if text.startswith("@"):
        text = Path(text[1:]).read_text()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"--settings is not valid JSON: {err}") from err
    if not isinstance(value, dict):
        raise InputError("--settings must be a JSON object")
    return value


def pairs(items: list[str]) -> list[tuple[str, str]]:
    """``GRAPH:PROPENSITY`` arguments as (graph, propensity) path pairs."""
    out = []
    for it in items:
        if ":" not in it:
            raise InputError(f"expected GRAPH:PROPENSITY, got {it!r}")
        g, p = it.split(":", 1)
        out.append((g, p))
    return out


def by_temperature(pairs: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """Pairs grouped by temperature, read from the graph's folder name (``T0.60`` → ``"0.60"``)."""
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for g, p in pairs:
        groups[Path(g).parent.name.lstrip("T")].append((g, p))
    return dict(groups)
