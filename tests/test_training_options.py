"""Training options of the recipes: continuous O(3) augmentation, the per-step warm-up + cosine
schedule, and input standardization of the Bapst GNN (no parameters added)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from equiglass.dataset import Sample
from equiglass.graphs import build_graph
from equiglass.models.bapst import BapstGNN, standardize_inputs
from equiglass.models.common import count_parameters
from equiglass.settings import TrainSettings
from equiglass.training import _rotation_augment, _scheduler


def test_o3_augmentation_is_orthogonal_seeded_and_covers_reflections():
    vec = torch.randn(50, 3, dtype=torch.float64)
    dets = []
    for k in range(40):
        out = _rotation_augment(vec, torch.Generator().manual_seed(k), "o3")
        rot = torch.linalg.lstsq(vec, out).solution.T  # out = vec @ rot.T
        np.testing.assert_allclose((rot @ rot.T).numpy(), np.eye(3), atol=1e-10)
        dets.append(round(float(torch.linalg.det(rot))))
        again = _rotation_augment(vec, torch.Generator().manual_seed(k), "o3")
        assert torch.equal(out, again)
    assert set(dets) == {-1, 1}
    # not just the cubic group: a generic draw moves a vector off every axis permutation / sign flip
    out = _rotation_augment(torch.eye(3, dtype=torch.float64), torch.Generator().manual_seed(3), "o3")
    assert (out.abs() - 1).abs().min() > 1e-3 and out.abs().min() > 1e-3


def test_axes_augmentation_permutes_and_flips_components():
    vec = torch.randn(10, 3)
    out = _rotation_augment(vec, torch.Generator().manual_seed(0), "axes")
    assert sorted(out.abs()[0].tolist()) == pytest.approx(sorted(vec.abs()[0].tolist()))


def test_warmup_cosine_schedule_per_step():
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    settings = TrainSettings(epochs=10, lr=1e-3, lr_schedule="warmup_cosine", warmup_epochs=2)
    sched, per_step = _scheduler(opt, settings, steps_per_epoch=5)
    assert per_step
    lrs = []
    for _ in range(50):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    warm = lrs[:10]
    assert all(b > a for a, b in itertools.pairwise(warm)) and warm[-1] < 1e-3
    decay = lrs[10:]
    assert decay[0] == pytest.approx(1e-3, rel=1e-6)
    assert all(b <= a for a, b in itertools.pairwise(decay)) and decay[-1] < 0.01 * 1e-3


def test_bapst_input_standardization_adds_no_parameters(liquid_256):
    samples = [Sample("a", build_graph(liquid_256, 2.0), np.zeros((liquid_256.n, 1), np.float32), ["d"], 1.0)]
    plain = BapstGNN(n_outputs=1, mlp_sizes=(16, 16), n_recurrences=2)
    model = BapstGNN(n_outputs=1, mlp_sizes=(16, 16), n_recurrences=2, standardize_inputs=True)
    assert count_parameters(model) == count_parameters(plain)
    standardize_inputs(model, samples)
    types = samples[0].graph.types.astype(float)
    assert float(model.node_mean[0]) == pytest.approx(types.mean())
    assert float(model.node_std[0]) == pytest.approx(types.std())
    rms = np.sqrt(np.mean(samples[0].graph.vec.astype(float) ** 2))
    assert float(model.edge_rms) == pytest.approx(rms, rel=1e-6)
    assert {"node_mean", "node_std", "edge_rms"} <= set(model.state_dict())
