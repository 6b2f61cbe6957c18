"""Learnability controls of the Bapst et al. GNN (issue 24): on small data from the project's own
MD, the full published architecture (7 recurrences, MLPs (64, 64), cutoff 2.0, self-edges)

(a) fits a deterministic structural target, each particle's smooth coordination number
    C_i = Σ_j 1 / (1 + (r_ij / 1.4)⁶) over its graph neighbours (the neighbour count within
    1.4 σ with a smooth switching function), to held-out R² ≥ 0.9;
(b) overfits one configuration's propensities (training ρ_A ≥ 0.9).

Recipe (not the training defaults): Adam lr 1e-3 with cosine decay, global-norm clip 1.0, one
graph per step, standardized targets (z-scores); (a) Sonnet's initialization (zero biases),
(b) DeepMind's. The model is trained directly (no validation passes or checkpoints). What they
show, and what did not pass (hard-cutoff count, potential energy), is in each test. Both take a
few minutes of CPU (hundreds of steps, ~0.2-0.4 s each) and run in `make test`, as the issue asks.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from equiglass.dataset import Sample, to_batch
from equiglass.graphs import build_graph
from equiglass.models.bapst import BapstGNN

R0 = 1.4  # [σ_AA] first-shell radius of the coordination number


@pytest.fixture(scope="module")
def snapshots(liquid_256):
    """Ten KA configurations (N = 256, T = 1.0), 2 τ of NVT apart (τ_α ≈ 1 τ at T = 1.0)."""
    from equiglass.md import MDSettings, Phase, run_phases

    out, st = [], liquid_256
    for k in range(10):
        st, _ = run_phases(st, [Phase("run", 1.0, 2.0, 1.0)], MDSettings(segment_time=50.0), seed=100 + k,
                           label=f"snapshot {k}")
        out.append(st)
    return out


def coordination_sample(state, name: str) -> Sample:
    """Graph (cutoff 2.0) with target C_i = Σ_j 1/(1 + (r_ij/1.4)⁶) over neighbours j (N, 1)."""
    g = build_graph(state.wrapped(), 2.0)
    r = np.linalg.norm(g.vec, axis=1)
    c = np.bincount(g.dst, weights=1.0 / (1.0 + (r / R0) ** 6), minlength=state.n)
    return Sample(name, g, np.zeros((state.n, 0), np.float32), [], 1.0, c[:, None].astype(np.float32),
                  np.array([0.0]), ["coordination"])


def r2(pred: np.ndarray, true: np.ndarray) -> float:
    return float(1.0 - np.sum((pred - true) ** 2) / np.sum((true - true.mean()) ** 2))


def fit(model: torch.nn.Module, batches: list, steps: int, lr: float, mask=None, check=None, every: int = 25
        ) -> tuple[int, float]:
    """Adam (cosine decay of ``lr`` over ``steps``), global-norm clip 1.0, one graph per step, MSE on
    ``mask``; every ``every`` steps ``check()`` → score, stopping early at score ≥ 0.95."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    score = float("nan")
    for step in range(steps):
        b = batches[step % len(batches)]
        out = model(b)
        m = slice(None) if mask is None else mask
        loss = torch.mean((out[m] - b.y[m]) ** 2)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if check is not None and step % every == every - 1:
            score = check()
            if score >= 0.95:
                break
    return step + 1, score


def test_bapst_fits_a_structural_target(snapshots):
    """(a) Held-out R² ≥ 0.9 on the smooth coordination number (measured 0.949 after 500 steps;
    neighbour counts by type alone, no geometry, explain R² 0.48 of it). The hard-cutoff count within 1.4 σ and the per-particle LJ
    energy reach only R² ≈ 0.56 and ≈ 0.2 in 600 and 400 steps: each is a sum over ~40 neighbours
    whose per-particle spread (std 1.4 on a mean of 13; 1.1 ε on −6 ε) must be resolved from sharp
    pair functions (a step at 1.4 σ; the r⁻¹² wall), which needs large weights, i.e. thousands of
    Adam steps; a plain Σ_j MLP(|r_ij|) model does no better, so it is no defect of this one."""
    t0 = time.perf_counter()
    samples = [coordination_sample(st, f"c{k}") for k, st in enumerate(snapshots)]
    train_s, test_s = samples[:8], samples[8:]
    y = np.concatenate([s.targets for s in train_s])
    mu, sd = float(y.mean()), float(y.std())
    batches = [to_batch([s], (np.full((2, 1), mu, np.float32), np.full((2, 1), sd, np.float32))) for s in train_s]
    torch.manual_seed(0)
    model = BapstGNN(1, per_type_heads=False, init="sonnet")

    @torch.no_grad()
    def score(samples: list[Sample]) -> float:
        pred = [model(to_batch([s]))[:, 0].numpy() * sd + mu for s in samples]
        return r2(np.concatenate(pred), np.concatenate([s.targets[:, 0] for s in samples]))

    steps, train_r2 = fit(model, batches, 500, 1e-3, check=lambda: score(train_s[:2]), every=50)
    held_out = score(test_s)
    print(f"control (a): R² train {train_r2:.3f}, held out {held_out:.3f} after {steps} steps in "
          f"{time.perf_counter() - t0:.0f} s")
    assert held_out >= 0.9


def test_bapst_overfits_one_configuration(liquid_256):
    """(b) Training ρ_A ≥ 0.9 on one configuration's propensities (8 iso-configurational replicas,
    t = 1.5 τ at T = 1.0), DeepMind's initialization (measured 0.966 after 275 steps). With DeepMind's own recipe (lr 1e-4, raw
    targets, no decay) ρ_A is still ≈ 0 after 150 steps."""
    from equiglass.iso import isoconfigurational
    from equiglass.md import MDSettings

    t0 = time.perf_counter()
    iso = isoconfigurational(liquid_256, 1.0, 1.5, list(range(8)), MDSettings(segment_time=50.0), seed=7)
    prop = iso.sum1[-1] / iso.n_replicas
    a = liquid_256.types == 0
    g = build_graph(liquid_256.wrapped(), 2.0)
    sample = Sample("one", g, np.zeros((g.n_nodes, 0), np.float32), [], 1.0, prop[:, None].astype(np.float32))
    stats = (np.full((2, 1), prop[a].mean(), np.float32), np.full((2, 1), prop[a].std(), np.float32))
    batch = to_batch([sample], stats)
    torch.manual_seed(0)
    model = BapstGNN(1, per_type_heads=False, init="deepmind")

    @torch.no_grad()
    def rho_a() -> float:
        return float(np.corrcoef(model(batch)[:, 0].numpy()[a], prop[a])[0, 1])

    steps, rho = fit(model, [batch], 400, 1e-3, mask=torch.as_tensor(a), check=rho_a)
    print(f"control (b): training rho_A {rho:.3f} after {steps} steps in {time.perf_counter() - t0:.0f} s")
    assert rho >= 0.9
