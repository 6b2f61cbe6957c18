"""Statistics that decide: intervals, paired differences, verdicts, comparisons, claims, learning
curves, and the ablation variants the study trains."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from conftest import REPO
from equiglass.stats import (
    interval,
    paired_difference,
    per_configuration_rho,
    seed_replicated_difference,
)


def test_interval_covers_the_mean_and_shrinks_with_more_configurations():
    rng = np.random.default_rng(0)
    few, many = rng.normal(0.4, 0.05, 5), rng.normal(0.4, 0.05, 80)
    a, b = interval(few), interval(many)
    assert a.low < a.mean < a.high and b.half_width < a.half_width
    assert interval([0.3]).verdict() == "unresolved" and np.isnan(interval([0.3]).low)


def test_pairing_resolves_what_unpaired_intervals_cannot():
    """Two models that differ by 0.02 on every configuration, whose ρ vary by 0.1 between configurations."""
    rng = np.random.default_rng(1)
    base = rng.normal(0.5, 0.1, 8)
    a, b = base + 0.02 + rng.normal(0, 0.003, 8), base
    ia, ib = interval(a), interval(b)
    assert ia.low < ib.high  # the marginal intervals overlap ...
    d = paired_difference(a, b)
    assert d.low > 0 and d.verdict() == "supported" and d.resolved  # ... the paired one is decisive
    assert paired_difference(b, a).verdict() == "contradicted"
    with pytest.raises(ValueError):
        paired_difference(a, b[:5])


def test_seed_to_seed_spread_widens_the_interval():
    """Model a trained from 3 seeds that land 0.1 apart; on every configuration a beats b by 0.05 on
    average over seeds. Over configurations alone (seed means) the difference looks decisive; with the
    seeds resampled too it is not (the seeds disagree by more than the difference)."""
    rng = np.random.default_rng(2)
    base = rng.normal(0.4, 0.05, 20)
    b = base[None, :]
    a = base[None, :] + 0.05 + np.array([[0.1], [0.0], [-0.1]]) + rng.normal(0, 0.002, (3, 20))
    over_configurations = paired_difference(a.mean(axis=0), b[0])
    both = seed_replicated_difference(a, b)
    assert over_configurations.verdict() == "supported"
    assert both.low < 0 < both.high and both.verdict() == "unresolved"
    assert abs(both.mean - over_configurations.mean) < 1e-12 and both.n == 20
    # seeds that agree (to 0.002): the same verdict as the paired interval, and as narrow as the seed spread
    close = base[None, :] + 0.05 + rng.normal(0, 0.002, (3, 20))
    d1, d2 = seed_replicated_difference(close, b), paired_difference(close.mean(axis=0), b[0])
    assert d1.verdict() == d2.verdict() == "supported" and d2.half_width <= d1.half_width < 0.002
    with pytest.raises(ValueError):
        seed_replicated_difference(a, b[:, :5])


def test_per_configuration_rho_by_species():
    rng = np.random.default_rng(2)
    types = np.array([0] * 50 + [1] * 50)
    true = rng.normal(size=(100, 2))
    pred = true.copy()
    pred[types == 1] = rng.normal(size=(50, 2))  # perfect for A, noise for B
    rho_a = per_configuration_rho([pred], [true], [types], "A")
    assert rho_a.shape == (1, 2) and np.allclose(rho_a, 1.0)
    assert abs(per_configuration_rho([pred], [true], [types], "B")).max() < 0.5


def _evaluation(model: str, rho: np.ndarray, train_t: list[float]) -> dict:
    return {"model": model, "train_set": "T0.60", "train_temperatures": train_t, "results": {
        t: {"configurations": [f"c{i}" for i in range(len(rho))], "timescale_labels": ["Fs=0.9", "Fs=0.368"],
            "times": [0.1, 15.0], "metrics": {"A": {"pearson_per_configuration": rho.tolist()}}}
        for t in ("0.60", "0.70")}}


def test_compare_pair_and_claims():
    from equiglass.steps.compare import compare_pair
    from equiglass.steps.summary import claims

    rng = np.random.default_rng(3)
    base = rng.normal(0.4, 0.1, (6, 2))
    se3 = _evaluation("se3gnn", base + np.array([0.1, 0.0]) + rng.normal(0, 0.002, (6, 2)), [0.6])
    bapst = _evaluation("bapst", base, [0.6])
    rows = compare_pair(se3, bapst, "se3gnn@T0.60", "bapst@T0.60", species=("A",))
    assert len(rows) == 4 and {r["unseen"] for r in rows} == {False, True}
    short = [r for r in rows if r["timescale"] == "Fs=0.9"]
    assert all(r["verdict"] == "supported" for r in short)
    tau = [r for r in rows if r["is_tau_alpha"]]
    assert all(r["ci_low"] < 0 < r["ci_high"] for r in tau)  # no difference at τ_α: unresolved
    table = claims(rows, {"se3gnn": 30_000, "bapst": 62_000}, None, None)
    assert table[0][2] == "unresolved" and table[1][2] == "unresolved"
    assert "30,000 vs 62,000" in table[0][1]


def test_learning_curve_fit_finds_the_crossing():
    from equiglass.steps.ablations import learning_curve_fits

    n = np.array([1, 2, 4, 8, 16])
    rng = np.random.default_rng(4)

    def rows(model, rho_inf, a, b):
        mean = rho_inf - a * n ** (-b)
        return [{"model": model, "n_train": int(k), "tau_alpha_index": 0,
                 "rho_per_configuration": (m + rng.normal(0, 0.003, (6, 1))).tolist()} for k, m in zip(n, mean)]

    fits = learning_curve_fits(rows("se3gnn", 0.7, 0.5, 0.6) + rows("ridge", 0.55, 0.1, 0.8), n_boot=50)
    assert abs(fits["se3gnn"]["fit"]["rho_inf"] - 0.7) < 0.05
    cross = fits["ridge"]["se3_overtakes_at"]
    truth = next(k for k in np.logspace(0, 3, 3000) if 0.7 - 0.5 * k**-0.6 > 0.55 - 0.1 * k**-0.8)
    assert 0.5 * truth < cross["median"] < 2 * truth and cross["fraction_of_resamples_crossing"] > 0.9


def test_ablation_variants_share_the_reference_and_match_parameters():
    from equiglass import ablations
    from equiglass.config import check_config, deep_merge
    from equiglass.settings import ablation_train

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg = check_config(deep_merge(cfg, yaml.safe_load((REPO / "presets/study.yaml").read_text())))
    studies = ablations.studies(cfg)
    assert set(studies) == {"lmax", "depth", "inputs", "curve"}
    ref = {v.key for rows in studies.values() for label, v in rows
           if label in ("l_max = 2", "thermal", "se3gnn n=all")}
    assert ref == {"se3-reference"}  # trained once, shown in three studies
    variants = ablations.variants(cfg)
    assert variants["se3-lmax0"].match_parameters and not variants["se3-depth1"].match_parameters
    assert variants["se3-inputsinherent"].inputs_key() == "inherent"
    s = ablation_train(cfg, "se3-lmax0", ["0.60"])
    assert s["hparams"]["l_max"] == 0 and s["training"]["epochs"] == cfg["ablations"]["epochs"]
    assert s["match_parameters"]["reference"]["l_max"] == cfg["models"]["se3gnn"]["l_max"]
    bapst = ablation_train(cfg, "bapst-n1", ["0.60"])
    assert bapst["training"]["timescales"] == ["Fs=0.368"] and bapst["training"]["loss_types"] == ["A"]
