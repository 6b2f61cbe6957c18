"""Experiments: transfer learning really freezes the backbone; probes recover planted features."""

from __future__ import annotations

import numpy as np
import torch
from test_training import HP, toy_samples  # noqa: F401  (fixture)

from equiglass.artifact import make_artifact
from equiglass.dataset import target_statistics
from equiglass.experiments import (
    backbone_parameters,
    fit_readout,
    generalization,
    interpret,
    layer_invariants,
    probe_r2,
    transfer,
)
from equiglass.models.se3 import SE3GNN


def small_model() -> SE3GNN:
    torch.manual_seed(0)
    return SE3GNN(n_outputs=2, **{k: v for k, v in HP.items()}, avg_neighbors=30.0)


def test_frozen_backbone_is_unchanged_and_readout_learns(toy_samples):  # noqa: F811
    model = small_model()
    before = backbone_parameters(model)
    readout_before = {k: v.clone() for k, v in model.readout.state_dict().items()}
    fit_readout(model, toy_samples[:2], target_statistics(toy_samples[:2]), epochs=20, lr=1e-2, seed=1)
    after = backbone_parameters(model)
    assert before.keys() == after.keys() and len(before) > 0
    for k in before:
        assert torch.equal(before[k], after[k]), f"backbone parameter {k} changed"
    assert any(not torch.equal(readout_before[k], v) for k, v in model.readout.state_dict().items())
    assert all(not p.requires_grad for n, p in model.named_parameters() if n.startswith("layers."))


def test_fine_tuning_changes_the_backbone(toy_samples):  # noqa: F811
    model = small_model()
    before = backbone_parameters(model)
    fit_readout(model, toy_samples[:1], target_statistics(toy_samples[:1]), epochs=1, lr=1e-2, seed=1, fine_tune=True)
    after = backbone_parameters(model)
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_probe_recovers_planted_feature():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 8))
    y = np.stack([2 * x[:, 3] - x[:, 5], rng.normal(size=3000)], axis=1)  # planted, and pure noise
    r2 = probe_r2(x[:2000], y[:2000], x[2000:], y[2000:])
    assert r2[0] > 0.99
    assert abs(r2[1]) < 0.05


def test_transfer_and_interpret_run_on_toy_data(toy_samples):  # noqa: F811
    model = small_model()
    art = make_artifact("se3gnn", model, 2, {**HP, "avg_neighbors": 30.0},
                        {"standardization": {"mean": [[0, 0], [0, 0]], "std": [[1, 1], [1, 1]]},
                         "training": {"n_parameters": 1}})
    res = transfer(art, toy_samples[:3], toy_samples[3:], [1, 2], epochs=5, fine_tune_epochs=1, scratch_epochs=1)
    assert set(res["methods"]) == {"frozen", "fine_tune", "scratch", "ridge"}
    assert set(res["methods"]["frozen"]) == {1, 2}
    targets = {"density": [s.descriptors[:, 0].astype(float) for s in toy_samples]}
    out = interpret(art, toy_samples, targets)
    assert len(out["layers"]) == HP["n_layers"] + 1
    feats = layer_invariants(model, toy_samples[0])
    assert feats[1][0].shape[0] == toy_samples[0].n and len(feats[1][1]) == feats[1][0].shape[1]


def test_generalization_marks_unseen_temperatures():
    ev = {"model": "se3gnn", "train_set": "T0.60", "train_temperatures": [0.6],
          "results": {t: {"timescale_labels": ["Fs=0.368"], "times": [1.0],
                          "metrics": {"A": {"pearson": [0.3], "pearson_sem": [0.01]}}} for t in ("0.60", "0.80")}}
    res = generalization([ev])
    unseen = {r["test_T"]: r["unseen"] for r in res["rows"]}
    assert unseen == {0.6: False, 0.8: True}


def test_generalization_aligns_models_trained_on_fewer_timescales():
    """Bapst's recipe trains a subset of timescales: its rho sits under the right labels, None elsewhere."""
    def ev(model, labels, rho):
        return {"model": model, "train_set": "T0.60", "train_temperatures": [0.6],
                "results": {"0.60": {"timescale_labels": labels, "times": [1.0] * len(labels),
                                     "metrics": {"A": {"pearson": rho, "pearson_sem": [0.01] * len(labels)}}}}}

    full = ["Fs=0.9", "Fs=0.5", "Fs=0.368"]
    res = generalization([ev("bapst", ["Fs=0.9", "Fs=0.368"], [0.2, 0.1]), ev("se3gnn", full, [0.5, 0.4, 0.3])])
    assert res["labels"] == full
    rho = {r["model"]: r["rho"] for r in res["rows"]}
    assert rho == {"bapst": [0.2, None, 0.1], "se3gnn": [0.5, 0.4, 0.3]}
