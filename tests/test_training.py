"""Training: the loss falls, seeds reproduce, an interrupted run resumes to the same result."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from equiglass.artifact import Predictor, load_artifact
from equiglass.dataset import Sample
from equiglass.descriptors import DescriptorSettings, compute_descriptors
from equiglass.graphs import build_graph
from equiglass.state import State
from equiglass.training import TrainingDiverged, TrainSettings, train

HP = {"mul": 4, "l_max": 1, "n_layers": 2, "radial_hidden": 8, "readout_hidden": 16, "cutoff": 2.0}


@pytest.fixture(scope="module")
def toy_samples(liquid_256):
    """Configurations (random translations/rotations of one liquid) with a structural target."""
    rng = np.random.default_rng(0)
    out = []
    ds = DescriptorSettings(l_values=(6,), radial_max=2.0, coarse_grain=False)
    for k in range(4):
        pos = liquid_256.positions + rng.normal(scale=0.05, size=liquid_256.positions.shape)
        st = State(pos, liquid_256.types, liquid_256.box).wrapped()
        g = build_graph(st, 2.0)
        desc, names = compute_descriptors(st, ds)
        # target: a smooth local density (first shell), learnable by every model
        r = np.linalg.norm(g.vec, axis=1)
        rho = np.bincount(g.dst, weights=np.exp(-((r - 1.0) ** 2) / 0.05), minlength=st.n)
        y = np.stack([rho, np.sqrt(rho)], axis=1).astype(np.float32)
        out.append(Sample(f"c{k}", g, desc.astype(np.float32), names, 1.0, y, np.array([1.0, 2.0]), ["a", "b"]))
    return out


def run(tmp_path, samples, **kw):
    info = kw.pop("info", None)
    s = TrainSettings(family=kw.pop("family", "se3gnn"), hparams=kw.pop("hparams", HP), epochs=kw.pop("epochs", 4),
                      lr=kw.pop("lr", 1e-2), threads=1, device="cpu", seed=kw.pop("seed", 1), patience=50, **kw)
    return train(samples[:3], samples[3:], s, tmp_path, label="test", info=info)


def history(tmp_path):
    import csv

    with open(tmp_path / "history.csv") as fh:
        return list(csv.DictReader(fh))


def test_loss_decreases(tmp_path, toy_samples):
    run(tmp_path, toy_samples, epochs=15)
    h = history(tmp_path)
    assert float(h[-1]["train_loss"]) < 0.5 * float(h[0]["train_loss"])


def test_same_seed_same_metrics(tmp_path, toy_samples):
    a = run(tmp_path / "a", toy_samples)
    b = run(tmp_path / "b", toy_samples)
    ha, hb = history(tmp_path / "a"), history(tmp_path / "b")
    assert [r["val_loss"] for r in ha] == [r["val_loss"] for r in hb]
    assert a["content_hash"] == b["content_hash"]
    c = run(tmp_path / "c", toy_samples, seed=2)
    assert c["content_hash"] != a["content_hash"]


def test_resume_after_interrupt_equals_uninterrupted(tmp_path, toy_samples, monkeypatch):
    full = run(tmp_path / "full", toy_samples, epochs=4)
    # interrupt after epoch 2 by a wall-time budget of ~0 s, then resume with the full budget
    import equiglass.training as tr

    real_save = torch.save
    calls = {"n": 0}

    def save_and_die(obj, path, *a, **k):
        real_save(obj, path, *a, **k)
        if isinstance(obj, dict) and "optimizer" in obj:
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt

    monkeypatch.setattr(tr.torch, "save", save_and_die)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "res", toy_samples, epochs=4)
    monkeypatch.setattr(tr.torch, "save", real_save)
    resumed = run(tmp_path / "res", toy_samples, epochs=4)
    assert resumed["content_hash"] == full["content_hash"]
    assert [r["val_loss"] for r in history(tmp_path / "res")] == [r["val_loss"] for r in history(tmp_path / "full")]


def test_artifact_roundtrip_predictions(tmp_path, toy_samples):
    run(tmp_path, toy_samples, epochs=1)
    p1 = Predictor.load(tmp_path / "model.pt")
    art = load_artifact(tmp_path / "model.pt")
    assert art["family"] == "se3gnn" and art["n_outputs"] == 2
    pred = p1.predict(toy_samples[3])
    assert pred.shape == (256, 2) and np.all(np.isfinite(pred))
    p2 = Predictor.load(tmp_path / "model.pt")
    np.testing.assert_array_equal(p2.predict(toy_samples[3]), pred)


@pytest.mark.parametrize("family", ["bapst", "descriptor_mlp", "ridge"])
def test_baselines_train(tmp_path, toy_samples, family):
    hp = {"bapst": {"mlp_sizes": [16, 16], "n_recurrences": 2}, "descriptor_mlp": {"hidden": [16]},
          "ridge": {}}[family]
    art = run(tmp_path, toy_samples, family=family, hparams=hp, epochs=15, augment_rotations=family == "bapst")
    pred = Predictor(art).predict(toy_samples[3])
    assert pred.shape == (256, 2)
    # the target (neighbour count) is easy: every family must find a positive correlation
    assert np.corrcoef(pred[:, 0], toy_samples[3].targets[:, 0])[0, 1] > 0.3


def test_nan_loss_stops_with_epoch_and_batch(tmp_path, toy_samples):
    bad = [replace(s, targets=np.full_like(s.targets, np.nan)) for s in toy_samples]
    with pytest.raises(TrainingDiverged, match="epoch 1 batch 0"):
        run(tmp_path, bad, epochs=1)


def test_temperature_as_input(tmp_path, toy_samples):
    """With temperature_input the model gets T as an extra scalar; predictions need a known T."""
    from equiglass.dataset import apply_model_inputs
    from equiglass.files import InputError

    inputs = {"temperature_input": True}
    aug = [apply_model_inputs(s, inputs) for s in toy_samples]
    assert aug[0].extra.shape == (256, 1) and aug[0].descriptor_names[-1] == "temperature"
    s = TrainSettings(family="se3gnn", hparams={**HP, "n_extra": 1}, epochs=1, lr=1e-2, threads=1, device="cpu")
    art = train(aug[:3], aug[3:], s, tmp_path, label="T-input", info={"inputs": inputs})
    pred = Predictor(art)
    assert pred.predict(toy_samples[3]).shape == (256, 2)  # the raw sample gets T appended by the predictor
    with pytest.raises(InputError, match="temperature"):
        pred.predict(replace(toy_samples[3], temperature=float("nan")))


def test_bapst_recipe_per_timescale_models_and_type_a_loss(tmp_path, toy_samples):
    """DeepMind's protocol: one single-output model per timescale, loss on type A, checkpoint by
    validation ρ_A; stored as one model file that predicts every timescale."""
    hp = {"mlp_sizes": [8, 8], "n_recurrences": 1, "init": "deepmind", "per_type_heads": False}
    art = run(tmp_path, toy_samples, family="bapst", hparams=hp, epochs=2, lr=1e-4, per_timescale=True,
              loss_types=("A",), select_by="val_rho_A", augment_rotations=True)
    assert art["hparams"]["per_timescale"] and len(art["info"]["training"]["best_epoch"]) == 2
    pred = Predictor(load_artifact(tmp_path / "model.pt")).predict(toy_samples[3])
    assert pred.shape == (256, 2) and np.all(np.isfinite(pred))
    rows = (tmp_path / "history.csv").read_text().splitlines()
    assert rows[0].startswith("timescale,") and {r.split(",")[0] for r in rows[1:]} == {"a", "b"}
    assert (tmp_path / "checkpoint_t0.pt").exists() and (tmp_path / "checkpoint_t1.pt").exists()


def test_loss_on_type_a_ignores_b_particles():
    from equiglass.training import _loss

    pred = torch.zeros(4, 1, requires_grad=True)
    y = torch.tensor([[1.0], [1.0], [5.0], [5.0]])
    types = torch.tensor([0, 0, 1, 1])
    loss = _loss(pred, y, types, ("A",))
    loss.backward()
    assert loss.item() == 1.0 and torch.all(pred.grad[2:] == 0) and torch.all(pred.grad[:2] != 0)


def test_deepmind_initialization_scales():
    from equiglass.models.bapst import deepmind_linear

    torch.manual_seed(0)
    lin = deepmind_linear(400, 300)
    assert abs(lin.weight.std().item() - (1 / 400) ** 0.5) < 0.003  # truncation-corrected: std √(1/fan_in)
    assert abs(lin.bias.std().item() - (0.1 / 300) ** 0.5) < 0.003
    assert lin.bias.abs().max().item() > 0


def test_training_on_some_timescales(tmp_path, toy_samples):
    art = run(tmp_path, toy_samples, family="ridge", hparams={}, timescales=("b",),
              info={"timescales": {"labels": ["a", "b"], "values": [0.9, 0.5],
                                   "times_by_temperature": {"1.00": [1.0, 2.0]}}})
    assert art["info"]["timescales"]["labels"] == ["b"] and art["n_outputs"] == 1
    assert Predictor(art).predict(toy_samples[3]).shape == (256, 1)


def test_large_clipped_gradients_train_and_unclipped_ones_stop(tmp_path, toy_samples):
    """Bapst et al.'s recipe starts with huge (clipped) gradients: only unclipped ones count as explosions."""
    run(tmp_path / "clipped", toy_samples, epochs=1, explode_threshold=1e-12, grad_clip=1.0)
    with pytest.raises(TrainingDiverged, match="gradient norm"):
        run(tmp_path / "unclipped", toy_samples, epochs=1, explode_threshold=1e-12, grad_clip=0.0)


def test_ensemble_averages_members_trained_from_different_seeds(tmp_path, toy_samples):
    art = run(tmp_path, toy_samples, epochs=1, ensemble=2)
    assert art["hparams"]["ensemble"] == 2
    pred = Predictor(load_artifact(tmp_path / "model.pt"))
    members = pred.model.models
    assert not torch.equal(next(members[0].parameters()), next(members[1].parameters()))
    from equiglass.dataset import to_batch

    b = to_batch([toy_samples[3]])
    with torch.no_grad():
        mean = torch.stack([m(b) for m in members]).mean(0).numpy()
    np.testing.assert_allclose(pred.predict_standardized(toy_samples[3]), mean, rtol=1e-5, atol=1e-6)


def test_coarse_grained_readout_keeps_rotation_invariance(toy_samples):
    from scipy.spatial.transform import Rotation

    from equiglass.dataset import to_batch
    from equiglass.models.se3 import SE3GNN

    torch.manual_seed(0)
    m = SE3GNN(n_outputs=2, mul=4, l_max=2, n_layers=2, radial_hidden=8, readout_hidden=8, readout_coarse_grain=2,
               readout_dropout=0.1).eval()
    b = to_batch([toy_samples[0]])
    rot = torch.tensor(Rotation.from_euler("xyz", [0.4, 1.0, -0.3]).as_matrix(), dtype=torch.float32)
    with torch.no_grad():
        y0 = m(b)
        b.vec = b.vec @ rot.T
        y1 = m(b)
    torch.testing.assert_close(y0, y1, atol=2e-4, rtol=1e-4)
    assert m.readout[0].in_features == 3 * 4 * 3  # invariants of 3 blocks, and 2 rounds of averages
