"""Parsing of the command-line arguments shared by ``equiglass`` subcommands."""

from __future__ import annotations

import json
import re
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
    """Pairs grouped by temperature, read from the first file's nearest ``T<number>`` folder
    (``results/graphs/T0.60/s003.npz``, ``results/md/T0.60/s003/equilibrated.gsd`` → ``"0.60"``;
    else its folder's name without a leading T)."""
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for g, p in pairs:
        folders = [q.name for q in Path(g).parents]
        key = next((f for f in folders if re.fullmatch(r"T\d+(\.\d+)?", f)), folders[0])
        groups[key.lstrip("T")].append((g, p))
    return dict(groups)
