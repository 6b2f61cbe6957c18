"""The configuration reference (``docs/configuration.md``), generated from the schema.

Every key of ``workflow/schemas/config.schema.yaml`` (with the model families' hyperparameters of
:mod:`equiglass.models.registry`): its type and bounds, unit, default, description, and the rules
whose ``params`` it changes, i.e. the jobs Snakemake re-runs when it changes
(:mod:`equiglass.rerun_map`). ``equiglass config-reference -o docs/configuration.md`` writes it;
``tests/test_config_reference.py`` fails when the committed page is stale.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NamedTuple

from .config import deep_merge, load_yaml, schema, temperature_key, validate_schema
from .rerun_map import rules_by_key, with_value

COMMAND = "equiglass config-reference -o docs/configuration.md"
# a description's unit: the [bracket] the schema writes units in, or a multiple of tau_alpha
UNITS = {"tau": "τ", "sigma_AA": "σ_AA", "sigma_AA^-3": "σ_AA⁻³", "epsilon_AA": "ε_AA",
         "epsilon_AA/k_B": "ε_AA/k_B", "epsilon_AA/sigma_AA": "ε_AA/σ_AA", "s": "s", "min": "min",
         "epochs": "epochs"}
TAU_ALPHA = re.compile(r"in (?:units of )?(?:the )?tau_alpha estimates?")
PHRASES = {"Particle-steps per second": "particle-steps/s", "Seconds per": "s"}
# the configuration the re-runs are read from: config.yaml with every part of the pipeline on
FULL_OVERLAY = {"ablations": {"enabled": True}, "experiments": {"enabled": True},
                "predict": {"inputs": ["configuration.gsd"]}}


class Entry(NamedTuple):
    """One documented key: dotted name, type, unit, default, description, required."""

    key: str
    type: str
    unit: str
    default: Any
    description: str
    required: bool
    node: dict[str, Any]


def entries(node: dict[str, Any], prefix: str = "", required: bool = False) -> list[Entry]:
    """Every key below ``node`` (a schema object); sections recurse, maps are one key."""
    out = []
    needed = set(node.get("required", []))
    for name, sub in node.get("properties", {}).items():
        key = f"{prefix}{name}"
        if sub.get("type") == "object" and sub.get("properties"):
            out += entries(sub, f"{key}.", name in needed)
            continue
        desc = " ".join(str(sub.get("description", "")).split())
        out.append(Entry(key, type_text(sub), unit_of(desc, sub), sub.get("default", _REQUIRED), desc,
                         name in needed, sub))
    return out


_REQUIRED = object()


def unit_of(description: str, node: dict[str, Any]) -> str:
    """The unit of a numeric key from its description ('' for other keys and pure numbers)."""
    if not re.search(r"number|integer", json.dumps(node.get("type", "")) + json.dumps(node.get("items", {}))
                     + json.dumps(node.get("additionalProperties", {}))):
        return ""
    for found in re.findall(r"\[([^\]]+)\]", description):
        if found in UNITS:
            return UNITS[found]
    unit = next((u for phrase, u in PHRASES.items() if description.startswith(phrase)), "")
    return unit or ("τ_α" if TAU_ALPHA.search(description) else "")


def type_text(node: dict[str, Any], outer: bool = True) -> str:
    """Type with its bounds, e.g. ``integer ≥ 256``, ``one of: a, b``, ``list of number > 0``
    (the least number of items of the outer list only)."""
    if "enum" in node:
        return "one of: " + ", ".join(f"`{v}`" for v in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    if "anyOf" in node:
        return " or ".join(type_text(n) for n in node["anyOf"])
    types = node.get("type", "any")
    types = [types] if isinstance(types, str) else list(types)
    nullable = "null" in types
    kinds = [t for t in types if t != "null"]
    text = " or ".join(kinds) or "null"
    if kinds == ["array"] and "items" in node:
        text = f"list of {type_text(node['items'], outer=False)}"
        if node.get("minItems") and outer:
            text += f" (at least {node['minItems']})"
    elif kinds == ["object"] and isinstance(node.get("additionalProperties"), dict):
        text = f"mapping to {type_text(node['additionalProperties'])}"
    bounds = [f"> {node['exclusiveMinimum']:g}" if "exclusiveMinimum" in node else "",
              f"≥ {node['minimum']:g}" if "minimum" in node else "",
              f"≤ {node['maximum']:g}" if "maximum" in node else ""]
    text = " ".join([text, *(b for b in bounds if b)])
    return text + (" or null" if nullable else "")


# ------------------------------------------------------------------------------ the re-runs
def full_config(repo: Path) -> dict[str, Any]:
    """config.yaml of ``repo`` with the experiments, ablations and a prediction switched on
    (schema defaults filled in, not cross-checked: only the settings builders read it)."""
    cfg = validate_schema(deep_merge(load_yaml(repo / "config.yaml"), FULL_OVERLAY), "config.yaml")
    cfg["training"].setdefault("sets", [cfg["temperatures"]])
    return cfg


def example(node: dict[str, Any], cfg: dict[str, Any]) -> Any:
    """A valid value of a schema node (for a key whose value is null or empty)."""
    if "enum" in node:
        return node["enum"][-1]
    if "anyOf" in node:
        return example(node["anyOf"][0], cfg)
    types = node.get("type", "object")
    kind = next(t for t in ([types] if isinstance(types, str) else types) if t != "null")
    low = node.get("minimum", node.get("exclusiveMinimum", 0))
    if kind == "array":
        item = example(node.get("items", {"type": "number"}), cfg)
        return [item, item + 1] if isinstance(item, (int, float)) and node.get("uniqueItems") else [item]
    if kind == "object":
        sub = node.get("additionalProperties", {"type": "number"})
        return {temperature_key(cfg["temperatures"][0]): example(sub, cfg)} if isinstance(sub, dict) else {}
    return {"integer": int(low) + 2, "number": float(low) + 1.5, "string": "x.gsd", "boolean": True}[kind]


# keys whose value cannot be changed from the schema alone (a sensible value of a mapping)
SPECIAL = {
    "training.per_model": lambda cfg: {"se3gnn": {"epochs": 3}},
    "training.model_sets": lambda cfg: {"ridge": [cfg["training"]["sets"][0]]},
    "ablations.levers": lambda cfg: {"lever": {"training": {"epochs": 3}}},
    "ablations.train_set": lambda cfg: [cfg["temperatures"][-1]],
    "experiments.transfer.source": lambda cfg: [cfg["temperatures"][-1]],
    "experiments.interpret.model_set": lambda cfg: list(cfg["temperatures"]),
    "training.sets": lambda cfg: [[t] for t in cfg["temperatures"]],
    "training.models": lambda cfg: cfg["training"]["models"][:-1],
    "split.test_only": lambda cfg: [cfg["temperatures"][-1]],
    "isoconfigurational.test_replicas": lambda cfg: 2 * cfg["isoconfigurational"]["replicas"],
}


def changed_values(entry: Entry, cfg: dict[str, Any]) -> list[Any]:
    """Other valid values of the key (changes that its readers must notice), both ways where
    there are two (a count up and down, a list shorter and longer)."""
    if entry.key in SPECIAL:
        return [SPECIAL[entry.key](cfg)]
    node = entry.node
    value = _get(cfg, entry.key)
    if "enum" in node:
        return [v for v in node["enum"] if v != value]
    if value is None or value == [] or value == {}:
        return [example(node, cfg)]
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        low = node.get("minimum", node.get("exclusiveMinimum", -1) + 1)
        return [v for v in (value + 1, value - 1) if low <= v <= node.get("maximum", v)]
    if isinstance(value, float):
        return [v for v in (value * 1.5 + 0.01, value / 2) if v <= node.get("maximum", v)]
    if isinstance(value, str):
        return [value + "x"]
    if isinstance(value, list):
        longer = value + [example(node.get("items", {}), cfg)]
        return [value[:-1], longer] if len(value) > 1 else [longer]
    if isinstance(value, dict):
        return [{**value, **example(node, cfg)}]
    raise TypeError(f"{entry.key}: cannot change a {type(value).__name__}")


def _get(cfg: dict[str, Any], key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def reruns(repo: Path, keys: list[Entry]) -> dict[str, list[str]]:
    """Key -> the rules its change re-runs (from the rule files of ``repo/workflow``)."""
    cfg = full_config(repo)
    changed = {e.key: [with_value(cfg, e.key, v) for v in changed_values(e, cfg)] for e in keys}
    return rules_by_key(cfg, changed, repo / "workflow")


# ------------------------------------------------------------------------------ the page
def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(entry: Entry) -> str:
    if entry.default is _REQUIRED:
        return "required" if entry.required else "—"
    return f"`{json.dumps(entry.default, ensure_ascii=False)}`"


def render(repo: Path) -> str:
    """The Markdown page for the checkout at ``repo``."""
    sch = schema()
    keys = entries(sch)
    rules = reruns(repo, keys)
    lines = [
        "# Configuration reference", "",
        f"<!-- Generated by `{COMMAND}` from workflow/schemas/config.schema.yaml and the rules' params; "
        "do not edit: tests/test_config_reference.py fails when it is stale. -->", "",
        " ".join(str(sch.get("description", "")).split()), "",
        "Set keys in `config.yaml`, a preset (`--configfile presets/<name>.yaml`, merged over it) or on the "
        "command line (`--config key=value`); `equiglass check-config` validates files. **Re-runs** lists the "
        "rules whose `params` or input files change with the key: Snakemake re-runs their jobs, and every job "
        "downstream of them, on the next run (`equiglass.rerun_map` reads this from the rules' `params:` and "
        "`input:` blocks). Keys that change the temperatures, samples, split, training sets or models also "
        "add or remove jobs. \"—\" under Re-runs: no rule reads the key (cluster requests, checks, or which "
        "targets are built); under Default: the schema has none (config.yaml sets it, or the description says "
        "what happens without).", "",
    ]
    sections: dict[str, list[Entry]] = {}
    for e in keys:
        sections.setdefault(e.key.split(".")[0] if "." in e.key else "", []).append(e)
    props = sch["properties"]
    for name, group in sections.items():
        title = f"`{name}`" if name else "Top level"
        desc = " ".join(str(props[name].get("description", "")).split()) if name else ""
        lines += [f"## {title}", ""] + ([desc, ""] if desc else [])
        lines += ["| Key | Type | Unit | Default | Re-runs | Description |", "|---|---|---|---|---|---|"]
        for e in group:
            rerun = ", ".join(f"`{r}`" for r in rules[e.key]) or "—"
            lines.append(f"| `{e.key}` | {_cell(e.type)} | {e.unit} | {_cell(_default(e))} | {rerun} "
                         f"| {_cell(e.description)} |")
        lines.append("")
    return "\n".join(lines)


def write(repo: Path, output: Path | None) -> str:
    """Render the page; write it atomically to ``output`` when given."""
    text = render(repo)
    if output is not None:
        from .files import atomic_path

        with atomic_path(output) as tmp:
            tmp.write_text(text)
    return text


__all__ = ["COMMAND", "Entry", "entries", "render", "reruns", "type_text", "unit_of", "write"]
