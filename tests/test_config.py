"""Configuration validation: schema errors name the key, contradictions are caught."""

from __future__ import annotations

import copy

import pytest
import yaml

from conftest import REPO
from equiglass.config import ConfigError, check_config, deep_merge, load_config


@pytest.fixture(scope="module")
def base():
    return yaml.safe_load((REPO / "config.yaml").read_text())


@pytest.mark.parametrize("preset", ["tiny", "study", "paper"])
def test_presets_are_valid(preset):
    cfg = load_config(REPO / "config.yaml", REPO / "presets" / f"{preset}.yaml")
    assert cfg["preset"] == preset


def test_levers_overlay_is_valid():
    """presets/levers.yaml (issue 18's levers) validates on top of the study preset."""
    cfg = load_config(REPO / "config.yaml", REPO / "presets" / "study.yaml", REPO / "presets" / "levers.yaml")
    assert cfg["preset"] == "study"
    assert {"no_weight_decay_dropout", "wider_same_params", "seed_ensemble_3", "coarse_grain_2"} <= set(cfg["ablations"]["levers"])


def _leaves(tree: dict, path: tuple = ()) -> list[tuple[tuple, object]]:
    out = []
    for k, v in tree.items():
        out += _leaves(v, (*path, k)) if isinstance(v, dict) else [((*path, k), v)]
    return out


@pytest.mark.parametrize("levers", ["levers", "cold-levers"])
def test_every_lever_reaches_the_training_it_names(levers):
    """Each setting a lever names is what its training job receives: a lever setting
    training.weight_decay would be overridden by training.per_model.se3gnn (the first
    no_weight_decay_dropout lever kept weight decay on that way); a lever's own data
    (ablations.train_set, n_train) is its variant's."""
    from equiglass import settings
    from equiglass.ablations import variants

    cfg = load_config(REPO / "config.yaml", REPO / "presets" / "study.yaml", REPO / "presets" / f"{levers}.yaml")
    reference = settings.ablation_train(cfg, "se3-reference", ["0.60"])
    for name, overlay in cfg["ablations"]["levers"].items():
        got = settings.ablation_train(cfg, f"lever-{name}", ["0.60"])
        assert got != reference, name
        for path, value in _leaves(overlay):
            if path[0] == "ablations":
                v = variants(cfg)[f"lever-{name}"]
                seen = {"train_set": list(v.train_set or []), "n_train": v.n_train}[path[-1]]
            elif path[0] == "training":  # (temperature_input: an input of the model)
                seen = {**got["training"], **got["inputs"]}[path[-1]]
            elif path[0] == "models":
                seen = {**got["hparams"], **got["training"]}[path[-1]]
            else:
                seen = got["inputs"][path[-1]]
            assert seen == value, (name, path, seen, value)


def test_defaults_filled(base):
    cfg = copy.deepcopy(base)
    del cfg["md"]["dt"]
    assert check_config(cfg)["md"]["dt"] == 0.005


def test_unknown_key_did_you_mean(base):
    cfg = deep_merge(base, {"training": {"epoch": 3}})
    with pytest.raises(ConfigError, match=r"unknown key 'training.epoch' \(did you mean 'epochs'\?\)"):
        check_config(cfg, source="my.yaml")


@pytest.mark.parametrize(
    ("overlay", "message"),
    [
        ({"md": {"dt": -0.1}}, "md.dt"),
        ({"md": {"engine": "gromacs"}}, "md.engine"),
        ({"graphs": {"cutoff": 5.0}}, "graphs.cutoff"),
        ({"samples": 3}, "split"),
        ({"isoconfigurational": {"replicas_per_job": 99}}, "replicas_per_job"),
        ({"propensity": {"values": [0.5, 1.5]}}, "propensity.values"),
        ({"propensity": {"mode": "tau_alpha", "values": [10.0]}}, "duration_tau_alpha"),
        ({"training": {"sets": [[0.45]]}}, "training.sets"),
        ({"md": {"device": "gpu"}}, "md.device"),
        ({"temperatures": [0.6, 0.601]}, "two decimals"),
        ({"training": {"seeds": 0}}, "training.seeds"),
        ({"training": {"per_model": {"se3gnn": {"seeds": 0}}}}, "training.per_model.se3gnn.seeds"),
    ],
)
def test_bad_values_name_the_key(base, overlay, message):
    with pytest.raises(ConfigError, match=message):
        check_config(deep_merge(base, overlay), source="config.yaml")


def test_error_names_the_file(tmp_path):
    f = tmp_path / "broken.yaml"
    f.write_text("md: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml"):
        load_config(f)


def test_training_seeds_per_family(base):
    """training.seeds: k replicates per model, per-family overrides; ridge (closed form) trains once.
    Replicate 0 is the model's one training (settings unchanged); replicate r gets its own seed."""
    from equiglass.seeds import derive_seed
    from equiglass.settings import n_seeds, train

    cfg = check_config(base)
    assert {m: n_seeds(cfg, m) for m in ("se3gnn", "bapst", "ridge")} == {"se3gnn": 1, "bapst": 1, "ridge": 1}
    seeded = check_config(deep_merge(base, {"training": {"seeds": 3, "per_model": {"bapst": {"seeds": 2},
                                                                                   "ridge": {"seeds": 5}}}}))
    assert {m: n_seeds(seeded, m) for m in ("se3gnn", "bapst", "ridge")} == {"se3gnn": 3, "bapst": 2, "ridge": 1}
    first = train(cfg, "se3gnn", "T0.60", ["0.60"])
    assert train(seeded, "se3gnn", "T0.60", ["0.60"]) == first == train(seeded, "se3gnn", "T0.60", ["0.60"], 0)
    assert "seeds" not in first["training"] and "seeds" not in train(seeded, "bapst", "T0.60", ["0.60"])["training"]
    second = train(seeded, "se3gnn", "T0.60", ["0.60"], 1)
    assert second["seed"] == derive_seed(first["seed"], "replicate", 1) != first["seed"]
    assert {k: v for k, v in second.items() if k not in ("seed", "replicate")} == \
        {k: v for k, v in first.items() if k != "seed"} and second["replicate"] == 1
    assert train(seeded, "se3gnn", "T0.60", ["0.60"], 2)["seed"] not in (first["seed"], second["seed"])
