"""The model families, one entry each: the only place a family is named.

Importing this module imports no model code (no torch): the workflow plans with it on a login
node, the configuration is validated with each family's hyperparameter schema, and figures
take their labels and colours from it. :func:`spec` imports the family's module and returns its
``SPEC`` (:class:`~equiglass.models.spec.ModelSpec`) when a model is built, trained or loaded.

To add a family: write ``models/<name>.py`` with the model and its ``SPEC``, and register a
:class:`Family` below; the shared contract test (tests/test_model_families.py) then runs on it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib import import_module
from typing import Any


@dataclass(frozen=True)
class Family:
    """A model family.

    name : config and path name; label, color : in tables and figures; module : where its
    ``SPEC`` lives; inputs : ``graph`` (reads the neighbour graph, node extras) or
    ``descriptors`` (reads the invariant descriptors); gradient : trained by gradient descent
    (torch) rather than in closed form; train_options : hyperparameters that are training
    settings (moved to :class:`~equiglass.training.TrainSettings`); hparams : JSON schema of its
    hyperparameters (``properties``, with defaults and units); reference : where it comes from;
    rotation_invariant : predictions unchanged by rotating the configuration (exactly, by
    construction), which the shared tests check; training : the family's own defaults of the
    ``training`` settings (its published recipe), applied before ``training.per_model`` overrides;
    recipes : named bundles of ``training`` settings and hyperparameters (``models.<name>.recipe``
    picks one, ``default_recipe`` otherwise), expanded into the configuration under what it sets
    itself (:func:`equiglass.config.apply_recipes`).
    """

    name: str
    label: str
    color: str
    module: str
    inputs: str
    gradient: bool
    hparams: dict[str, Any]
    train_options: tuple[str, ...] = ()
    reference: str = ""
    rotation_invariant: bool = True
    training: dict[str, Any] | None = None
    recipes: dict[str, dict[str, dict[str, Any]]] | None = None
    default_recipe: str = ""


# Bapst GNN training recipes (the architecture is the same in all: layers, widths, parameters).
# deepmind: google-deepmind/deepmind-research glassy_dynamics/train.py: Adam lr 1e-4 (constant), global-norm
# clip 1.0, L2 loss on type A, one model per time index, their initialization and axis-permutation/reflection
# augmentation; their checkpoint was the best *test* correlation, ours the best validation one.
BAPST_RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "deepmind": {
        "training": {"lr": 1e-4, "lr_schedule": "none", "grad_clip": 1.0, "loss_types": ["A"], "per_timescale": True,
                     "select_by": "val_rho_A"},
        "models": {"init": "deepmind", "rotation_group": "axes", "standardize_inputs": False},
    },
    "converged": {
        "training": {"lr": 1e-3, "lr_schedule": "warmup_cosine", "warmup_epochs": 1.0, "grad_clip": 1.0,
                     "loss_types": ["A"], "per_timescale": True, "select_by": "val_rho_A"},
        "models": {"init": "deepmind", "rotation_group": "o3", "standardize_inputs": True},
    },
}


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family(
        "se3gnn", "SE(3) GNN", "#d62728", "equiglass.models.se3", "graph", True,
        reference="Pezzicoli, Charpiat, Landes, SciPost Phys. 16, 136 (2024)",
        hparams={
            "mul": {"type": "integer", "minimum": 1, "default": 8, "description": "Channels per (l, parity)."},
            "mul_scalar": {"type": ["integer", "null"], "minimum": 1, "default": None,
                           "description": "Scalar (0e/0o) channels (default mul)."},
            "l_max": {"type": "integer", "minimum": 0, "maximum": 4, "default": 2,
                      "description": "Highest order l of spherical harmonics and features (0: invariant messages only)."},
            "n_layers": {"type": "integer", "minimum": 1, "default": 4, "description": "Interaction layers."},
            "n_basis": {"type": "integer", "minimum": 2, "default": 8, "description": "Radial basis functions."},
            "radial_hidden": {"type": "integer", "minimum": 1, "default": 32, "description": "Width of the radial MLP."},
            "readout_hidden": {"type": "integer", "minimum": 1, "default": 32, "description": "Width of the decoder MLP."},
            "checkpoint": {"type": "boolean", "default": False,
                           "description": "Gradient checkpointing per layer: less memory (one layer of edge messages), "
                                          "~30 % more compute; use at N = 4096 with deep models."},
            "edge_chunk": {"type": ["integer", "null"], "minimum": 1, "default": None,
                           "description": "Evaluate the tensor-product messages on this many edges at a time, each chunk "
                                          "checkpointed (bounds memory; with checkpoint the paper-size model trains on "
                                          "N = 4096 in < 4 GiB at 32768). null: all edges at once."},
            "tp_mode": {"enum": ["uvu", "fc"], "default": "uvu",
                        "description": "Depthwise (uvu) or fully connected tensor products."},
            "readout_dropout": {"type": "number", "minimum": 0, "maximum": 0.9, "default": 0.0,
                                "description": "Dropout in the decoder MLP (0: none)."},
            "readout_coarse_grain": {"type": "integer", "minimum": 0, "maximum": 3, "default": 0,
                                     "description": "Rounds of neighbour averaging (graph cutoff) of the learned "
                                                    "invariants appended before the decoder, as coarse-grained "
                                                    "descriptors (0: off)."},
        }),
    Family(
        "bapst", "Bapst GNN", "#1f77b4", "equiglass.models.bapst", "graph", True,
        reference="Bapst et al., Nature Physics 16, 448 (2020); google-deepmind/deepmind-research glassy_dynamics",
        train_options=("augment_rotations", "rotation_group"), rotation_invariant=False,
        recipes=BAPST_RECIPES, default_recipe="deepmind",
        hparams={
            "recipe": {"enum": list(BAPST_RECIPES), "default": "deepmind",
                       "description": "Training recipe, a bundle of training settings and of the hyperparameters "
                                      "below that do not change the architecture: deepmind (their train.py: Adam lr "
                                      "1e-4 constant, one graph per step, global-norm clip 1, DeepMind's "
                                      "initialization, cubic-group augmentation) or converged (the same network "
                                      "trained to convergence in a laptop budget: standardized inputs, warm-up + "
                                      "cosine learning rate, continuous O(3) augmentation; see "
                                      "equiglass.models.registry.BAPST_RECIPES). Keys set explicitly win."},
            "mlp_sizes": {"type": "array", "items": {"type": "integer", "minimum": 1}, "default": [64, 64],
                          "description": "Hidden sizes of every MLP."},
            "n_recurrences": {"type": "integer", "minimum": 0, "default": 7, "description": "Message-passing steps."},
            "include_self_edges": {"type": "boolean", "default": True, "description": "Self-edges as in the original code."},
            "init": {"enum": ["deepmind", "sonnet"], "default": "deepmind",
                     "description": "Initialization: DeepMind's (weights variance scaling 1.0, biases 0.1, as their "
                                    "train.py) or Sonnet's defaults (zero biases)."},
            "per_type_heads": {"type": "boolean", "default": False,
                               "description": "One decoder output per particle type (false: one decoder for all "
                                              "particles, as DeepMind's)."},
            "augment_rotations": {"type": "boolean", "default": True,
                                  "description": "Random rotations of the edge vectors during training, from "
                                                 "rotation_group."},
            "rotation_group": {"enum": ["axes", "o3"], "default": "axes",
                               "description": "axes: axis permutations and reflections (the cubic group of DeepMind's "
                                              "apply_random_rotation); o3: uniform rotations and reflections (what a "
                                              "non-equivariant network on few configurations needs to see)."},
            "standardize_inputs": {"type": "boolean", "default": False,
                                   "description": "Scale the inputs to zero mean and unit variance over the training "
                                                  "data (node type and extras per column; bond vectors by their rms "
                                                  "component), fixed before training and stored with the model (no "
                                                  "parameters added)."},
        }),
    Family(
        "descriptor_mlp", "descriptor MLP", "#2ca02c", "equiglass.models.descriptor", "descriptors", True,
        reference="GlassMLP-style: Jung, Biroli, Berthier, PRL 130, 238202 (2023)",
        hparams={"hidden": {"type": "array", "items": {"type": "integer", "minimum": 1}, "default": [64, 64],
                            "description": "Hidden layer sizes."}}),
    Family(
        "ridge", "ridge (descriptors)", "#9467bd", "equiglass.models.ridge", "descriptors", False,
        reference="linear regression on coarse-grained descriptors: Boattini et al., PRL 127, 088007 (2021)",
        hparams={"alphas": {"type": "array", "minItems": 1, "items": {"type": "number", "exclusiveMinimum": 0},
                            "default": [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0],
                            "description": "Ridge penalties tried (chosen on validation)."}}),
)}


def names() -> list[str]:
    """Registered family names, in registration order."""
    return list(FAMILIES)


def family(name: str) -> Family:
    """The registered family ``name``; a KeyError with a did-you-mean hint otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), FAMILIES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise KeyError(f"unknown model family {name!r}{hint}; registered: {', '.join(FAMILIES)}") from None


def hparams_schema(name: str) -> dict[str, Any]:
    """JSON schema of the hyperparameters of family ``name`` (``models.<name>`` in the config)."""
    return {"type": "object", "additionalProperties": False, "properties": family(name).hparams}


def spec(name: str):
    """The family's :class:`~equiglass.models.spec.ModelSpec` (imports its module)."""
    return import_module(family(name).module).SPEC


__all__ = ["FAMILIES", "Family", "family", "hparams_schema", "names", "spec"]
