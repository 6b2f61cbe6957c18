"""The settings of every pipeline step, built once from the validated configuration.

A step's settings are the slice of the configuration it depends on plus its wildcards
(temperature ``T`` as ``"0.60"``, sample ``s`` as ``"003"``, replica batch ``b``, model family,
training set): the Snakemake rules pass them to ``equiglass STEP --settings JSON`` and use them
as ``params``, so changing a key re-runs exactly the steps that read it. ``equiglass settings
STEP --configfile ... T=0.60 s=000`` prints what a step gets.

Pure Python (seeds from :mod:`equiglass.seeds`): the workflow builds them at parse time on a
login node without NumPy or torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .config import set_name, tau_alpha_guess, temperature_key
from .seeds import derive_seed

# keys of `training` that say what to train, not how (seeds: how many replicates; each gets its own seed)
_WHAT_TO_TRAIN = ("models", "sets", "model_sets", "per_model", "seeds")


@dataclass(frozen=True)
class TrainSettings:
    """Optimization settings of one training run (``training`` in the configuration).

    family : model family; hparams : its constructor hyperparameters; epochs : maximum epochs;
    batch_size : graphs per step; lr : Adam learning rate; lr_schedule : ``plateau`` (×0.5 after
    ``patience``/2 flat epochs), ``cosine`` (per epoch), ``warmup_cosine`` (per step: linear
    warm-up over ``warmup_epochs``, then cosine to 0 at ``epochs``) or ``none``; weight_decay; grad_clip : max gradient norm
    (0 = off); patience : early-stopping epochs without validation improvement; max_time_s :
    optional wall-time budget [s] (breaks exact reproducibility across machines); seed; threads :
    torch CPU threads; device : ``auto|cpu|gpu``; amp : bfloat16 autocast of forward passes on
    CUDA (ignored on the CPU); augment_rotations : random rotations of the edge vectors of graph
    models (the equivariant model needs none), from ``rotation_group``: ``axes`` (axis permutations
    and reflections, the cubic group of Bapst et al.) or ``o3`` (uniform rotations times a random
    reflection);
    loss_types : species whose squared errors the loss averages (Bapst et al.: ``["A"]``);
    select_by : the checkpoint kept, ``val_loss`` (lowest) or ``val_rho_A`` (highest validation
    Pearson ρ of A; Bapst et al. chose by test correlation); per_timescale : one single-output
    model per timescale (Bapst et al.'s protocol) instead of one multi-output model;
    timescales : train only these timescales (labels such as ``Fs=0.368``; empty: all);
    ensemble : train this many models from different seeds and average their predictions;
    recipe : the name of the family's training recipe these settings come from (a label).
    """

    family: str = "se3gnn"
    hparams: dict[str, Any] = field(default_factory=dict)
    epochs: int = 20
    batch_size: int = 1
    lr: float = 3e-3
    lr_schedule: str = "plateau"
    warmup_epochs: float = 0.0
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    patience: int = 8
    max_time_s: float | None = None
    seed: int = 0
    threads: int = 2
    device: str = "auto"
    augment_rotations: bool = False
    rotation_group: str = "axes"
    explode_threshold: float = 1e6
    amp: bool = False
    loss_types: tuple[str, ...] = ("A", "B")
    select_by: str = "val_loss"
    per_timescale: bool = False
    timescales: tuple[str, ...] = ()
    ensemble: int = 1
    recipe: str = ""


def dumps(settings: dict[str, Any]) -> str:
    """Canonical JSON of step settings (sorted keys): the form the rules pass and compare."""
    return json.dumps(settings, sort_keys=True)


def _tau(cfg: dict[str, Any], T: str) -> float:
    return tau_alpha_guess(cfg, float(T))


# ------------------------------------------------------------------------------ simulation
def equilibrate(cfg: dict[str, Any], T: str, s: str) -> dict[str, Any]:
    """Sample ``s`` at ``T``: melt-quench-equilibrate (first ``chains`` samples) or continue a chain."""
    i = int(s)
    return {
        "n_particles": cfg["system"]["n_particles"], "density": cfg["system"]["density"],
        "temperature": float(T), "sample": i, "chain": i % cfg["equilibration"]["chains"],
        "seed": derive_seed(cfg["seeds"]["md"], "equilibrate", T, s),
        "tau_alpha_estimate": _tau(cfg, T), "md": cfg["md"], "equilibration": cfg["equilibration"],
    }


def previous_sample(cfg: dict[str, Any], s: str) -> str | None:
    """The sample whose end state sample ``s`` continues (``s - chains``), or None for a chain start."""
    chains = cfg["equilibration"]["chains"]
    return f"{int(s) - chains:03d}" if int(s) >= chains else None


def replicas_at(cfg: dict[str, Any], T: str, s: str) -> int:
    """Replicas of configuration ``s`` at ``T``: ``test_replicas`` for a test configuration (when
    set), else ``replicas``."""
    from .split import split_at

    iso = cfg["isoconfigurational"]
    if iso.get("test_replicas") and int(s) in split_at(cfg, T)["test"]:
        return int(iso["test_replicas"])
    return int(iso["replicas"])


def _batch_ranges(cfg: dict[str, Any], n_replicas: int) -> list[range]:
    """Replica indices of each batch: ``replicas`` in batches of ``replicas_per_job``, then the
    replicas beyond ``replicas`` (test configurations) in further batches of that size, so the
    first batches do not depend on ``n_replicas``."""
    iso = cfg["isoconfigurational"]
    per, base = iso["replicas_per_job"], iso["replicas"]
    out = [range(a, min(a + per, base)) for a in range(0, base, per)]
    return out + [range(a, min(a + per, n_replicas)) for a in range(base, n_replicas, per)]


def replica_batches(cfg: dict[str, Any], T: str, s: str, base_only: bool = False) -> list[str]:
    """Names of the replica batches (``iso_b{b}``) of configuration ``s`` at ``T``; ``base_only``:
    those of the first ``replicas`` (what every configuration has: the dynamics read these)."""
    n = int(cfg["isoconfigurational"]["replicas"]) if base_only else replicas_at(cfg, T, s)
    return [f"{b:02d}" for b in range(len(_batch_ranges(cfg, n)))]


def isoconfigurational(cfg: dict[str, Any], T: str, s: str, b: str) -> dict[str, Any]:
    """Replica batch ``b`` of configuration ``s`` at ``T`` (its settings do not depend on how many
    batches the configuration has)."""
    iso = cfg["isoconfigurational"]
    k = int(b)
    ranges = _batch_ranges(cfg, replicas_at(cfg, T, s))
    if k >= len(ranges):
        raise KeyError(f"configuration {s} at T={T} has {len(ranges)} replica batches, not batch {b}")
    return {
        "temperature": float(T), "sample": int(s), "batch": k,
        "replicas": list(ranges[k]),
        "seed": derive_seed(cfg["seeds"]["replicas"], "iso", T, s), "tau_alpha_estimate": _tau(cfg, T),
        "md": cfg["md"],
        "isoconfigurational": {key: iso[key] for key in ("duration_tau_alpha", "points_per_decade")},
    }


def long_nve(cfg: dict[str, Any], T: str, s: str) -> dict[str, Any]:
    """One long NVE run from configuration ``s`` (diffusion constant for validation)."""
    return {
        "temperature": float(T), "sample": int(s), "batch": 0, "replicas": [0],
        "seed": derive_seed(cfg["seeds"]["replicas"], "long", T, s), "tau_alpha_estimate": _tau(cfg, T),
        "md": cfg["md"],
        "isoconfigurational": {"duration_tau_alpha": cfg["validation"]["duration_tau_alpha"],
                               "points_per_decade": 10},
    }


def dynamics(cfg: dict[str, Any], T: str) -> dict[str, Any]:
    return {"temperature": float(T), "propensity": cfg["propensity"]}


def propensity(cfg: dict[str, Any], T: str) -> dict[str, Any]:
    return {"propensity": cfg["propensity"], "temperature": float(T)}


# ---------------------------------------------------------------------------- model inputs
def model_inputs(cfg: dict[str, Any]) -> dict[str, Any]:
    """How configurations become model inputs (:class:`equiglass.model_inputs.InputSettings`)."""
    inp = cfg["inputs"]
    return {
        "positions": inp["positions"], "local_energy": bool(inp["local_energy"]),
        "graph_cutoff": float(cfg["graphs"]["cutoff"]), "descriptors": cfg["descriptors"], "md": cfg["md"],
        "minimizer": inp["minimizer"],
        "cage": {key: inp[key] for key in ("cage_time", "cage_frames", "cage_replicas")},
    }


def graphs(cfg: dict[str, Any], T: str) -> dict[str, Any]:
    return {"temperature": float(T), "inputs": model_inputs(cfg)}


def inherent(cfg: dict[str, Any], T: str, s: str) -> dict[str, Any]:
    """Inherent structure or cage state of configuration ``s`` (rules ``inherent``, ``cage``)."""
    return {"temperature": float(T), "inputs": model_inputs(cfg),
            "seed": derive_seed(cfg["seeds"]["md"], "inputs", T, s)}


# --------------------------------------------------------------------------------- learning
def n_seeds(cfg: dict[str, Any], family: str) -> int:
    """Training replicates (seeds) of ``family``: ``training.per_model.<family>.seeds``, else
    ``training.seeds`` (default 1); always 1 for closed-form families (ridge: seed-independent)."""
    from .models import registry

    if not registry.family(family).gradient:
        return 1
    tr = cfg["training"]
    return int(tr.get("per_model", {}).get(family, {}).get("seeds", tr.get("seeds", 1)))


def replicate_seed(seed0: int, replicate: int) -> int:
    """The training seed of replicate ``replicate`` of a model whose first (replicate 0) is ``seed0``:
    ``seed0`` itself for replicate 0, else ``derive_seed(seed0, "replicate", replicate)``
    (as ``scripts/seed_replicates.py`` numbers its replicates)."""
    return int(seed0) if replicate == 0 else derive_seed(int(seed0), "replicate", int(replicate))


def train(cfg: dict[str, Any], family: str, trainset: str, temperatures: list[str],
          replicate: int = 0) -> dict[str, Any]:
    """Training of ``family`` on the set ``trainset`` (temperatures ``temperatures``).

    ``training`` holds the :class:`TrainSettings` fields: the configuration's, then the family's
    own recipe (registry), then ``training.per_model`` overrides, and its training-option
    hyperparameters (e.g. Bapst's augmentation) moved in; ``hparams``
    the constructor hyperparameters; ``inputs`` the model-input record (+ temperature_input).
    ``replicate`` r ≥ 1 (of ``training.seeds``): the same training from :func:`replicate_seed`
    (and ``replicate`` recorded); replicate 0 is the model's one training, unchanged.
    """
    from .models import registry

    hp = dict(cfg["models"].get(family, {}))
    recipe = hp.pop("recipe", None)  # expanded into the configuration when it was checked
    tr = {k: v for k, v in cfg["training"].items() if k not in _WHAT_TO_TRAIN}
    tr.update(registry.family(family).training or {})  # the family's published recipe
    tr.update({k: v for k, v in cfg["training"]["per_model"].get(family, {}).items() if k not in _WHAT_TO_TRAIN})
    for key in registry.family(family).train_options:
        if key in hp:
            tr[key] = hp.pop(key)
    temperature_input = bool(tr.pop("temperature_input", False))
    if recipe:
        tr["recipe"] = recipe
    out = {
        "family": family, "set_name": trainset, "temperatures": [float(t) for t in temperatures],
        "hparams": hp, "seed": replicate_seed(derive_seed(cfg["seeds"]["model"], family, trainset), replicate),
        "training": tr, "inputs": {**model_inputs(cfg), "temperature_input": temperature_input},
        "propensity": cfg["propensity"],
    }
    if replicate:
        out["replicate"] = int(replicate)
    return out


def ablation_train(cfg: dict[str, Any], key: str, temperatures: list[str], replicate: int = 0) -> dict[str, Any]:
    """Training of ablation variant ``key`` (see :mod:`equiglass.ablations`) at ``temperatures``;
    ``replicate`` r >= 1 (of ``ablations.seeds``): the same from :func:`replicate_seed`."""
    from . import ablations

    variant = ablations.variants(cfg)[key]
    base = cfg
    if cfg["ablations"]["epochs"]:  # the ablations' budget; a variant's own overlay may change it
        base = {**cfg, "training": {**cfg["training"], "epochs": cfg["ablations"]["epochs"]}}
    vcfg = ablations.configured(base, variant)
    out = train(vcfg, variant.family, f"ablation {key}", temperatures, replicate)
    if variant.match_parameters:  # the width (mul) is chosen in the job to match this model's parameters
        out["match_parameters"] = {"reference": cfg["models"][variant.family], "vary": "mul"}
    return out


def ablation_seeds(cfg: dict[str, Any], key: str) -> int:
    """Training replicates of ablation variant ``key``: ``ablations.seeds`` (closed-form families: 1)."""
    from . import ablations
    from .models import registry

    return int(cfg["ablations"]["seeds"]) if registry.family(ablations.variants(cfg)[key].family).gradient else 1


_LABELS = ("set_name", "seed", "replicate")  # what a model's settings may differ in and still be the same training


def ablation_reuses(cfg: dict[str, Any], key: str, temperature: str) -> str | None:
    """The main training set (e.g. ``T0.60``) whose model ablation variant ``key`` is, with
    ``ablations.reuse_main_models``: the same family and settings (only seed and set label
    differ), trained on every training configuration at ``temperature`` alone, a set that family
    is trained on; else None."""
    from . import ablations

    ab = cfg["ablations"]
    v = ablations.variants(cfg)[key]
    if not ab["reuse_main_models"] or v.match_parameters or v.n_train or ab["n_train"] or v.train_set:
        return None
    trainset = set_name([float(temperature)])
    tr = cfg["training"]
    sets = [set_name(st) for st in tr["model_sets"].get(v.family, tr["sets"])]
    if v.family not in tr["models"] or trainset not in sets:
        return None
    mine, main = ablation_train(cfg, key, [temperature]), train(cfg, v.family, trainset, [temperature])
    same = {k: x for k, x in mine.items() if k not in _LABELS} == {k: x for k, x in main.items() if k not in _LABELS}
    return trainset if same else None


def evaluate(cfg: dict[str, Any], trainset: str) -> dict[str, Any]:
    return {"set_name": trainset, "seed": cfg["seeds"]["split"]}


# ------------------------------------------------------------------------------ experiments
def transfer(cfg: dict[str, Any], target: str) -> dict[str, Any]:
    return {"transfer": cfg["experiments"]["transfer"], "target": float(target),
            "seed": derive_seed(cfg["seeds"]["model"], "transfer"), "threads": cfg["training"]["threads"]}


def interpret(cfg: dict[str, Any]) -> dict[str, Any]:
    return {"md": cfg["md"], "threads": cfg["training"]["threads"], "slab": cfg["figures"]["snapshot_slab"]}


# --------------------------------------------------------------------------- published data
def import_sample(cfg: dict[str, Any], T: str) -> dict[str, Any]:
    return {"source": cfg["data"]["source"], "temperature": float(T), "times": cfg["data"]["times"]}


def import_dynamics(cfg: dict[str, Any], T: str) -> dict[str, Any]:
    return {"source": cfg["data"]["source"], "temperature": float(T)}


def published_predictions(cfg: dict[str, Any]) -> dict[str, Any]:
    """Scoring GlassBench's deposited predictions: its time grids and the bootstrap seed."""
    return {"source": cfg["data"]["source"], "times": cfg["data"]["times"], "seed": cfg["seeds"]["split"],
            "keys": list(cfg["data"]["predictions"])}


# ------------------------------------------------------------------------------ the command
def _train_from_wildcards(cfg: dict[str, Any], model: str, trainset: str) -> dict[str, Any]:
    temps = trainset.lstrip("T").split("+")
    if set_name([float(t) for t in temps]) != trainset:
        raise KeyError(f"training set names look like T0.60 or T0.60+0.70, got {trainset!r}")
    return train(cfg, model, trainset, temps)


STEPS: dict[str, tuple[tuple[str, ...], Any]] = {
    "equilibrate": (("T", "s"), equilibrate),
    "isoconfigurational": (("T", "s", "b"), isoconfigurational),
    "long_nve": (("T", "s"), long_nve),
    "dynamics": (("T",), dynamics),
    "propensity": (("T",), propensity),
    "graphs": (("T",), graphs),
    "inherent": (("T", "s"), inherent),
    "cage": (("T", "s"), inherent),
    "train": (("model", "trainset"), _train_from_wildcards),
    "evaluate": (("trainset",), evaluate),
    "transfer": (("target",), transfer),
    "interpret": ((), interpret),
    "import": (("T",), import_sample),
    "import-dynamics": (("T",), import_dynamics),
    "published-predictions": ((), published_predictions),
}


def for_step(cfg: dict[str, Any], step: str, wildcards: dict[str, str]) -> dict[str, Any]:
    """The settings ``step`` gets for ``wildcards`` (``T`` normalized to two decimals)."""
    if step not in STEPS:
        raise KeyError(f"unknown step {step!r}; steps: {', '.join(STEPS)}")
    names, build = STEPS[step]
    missing = [n for n in names if n not in wildcards]
    if missing:
        raise KeyError(f"step {step} needs {', '.join(f'{n}=...' for n in missing)} (e.g. T=0.60 s=000 b=00)")
    values = dict(wildcards)
    for key in ("T", "target"):
        if key in values:
            values[key] = temperature_key(float(values[key]))
    for key, width in (("s", 3), ("b", 2)):
        if key in values:
            values[key] = f"{int(values[key]):0{width}d}"
    return build(cfg, *[values[n] for n in names])


__all__ = ["STEPS", "TrainSettings", "ablation_reuses", "ablation_seeds", "ablation_train", "dumps", "for_step",
           "model_inputs", "n_seeds", "replicate_seed", "train"]
