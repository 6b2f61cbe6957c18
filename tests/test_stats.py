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


def test_one_seed_each_is_the_paired_bootstrap_bit_for_bit():
    """training.seeds = 1: the two-level bootstrap gives today's paired interval exactly (NaN configurations
    left out as before), so comparisons.csv and the claims are unchanged; a model's own interval too."""
    from equiglass.stats import seed_replicated_interval

    rng = np.random.default_rng(7)
    a, b = rng.normal(0.4, 0.1, 9), rng.normal(0.38, 0.1, 9)
    a[3] = np.nan
    for seed in (0, 3):
        assert seed_replicated_difference(a[None], b[None], seed=seed) == paired_difference(a, b, seed=seed)
        assert seed_replicated_difference(a, b, seed=seed) == paired_difference(a, b, seed=seed)
        assert seed_replicated_interval(a[None], seed=seed) == interval(a, seed=seed)


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
    cfg = deep_merge(cfg, yaml.safe_load((REPO / "presets/study.yaml").read_text()))
    study = check_config(cfg)
    assert set(ablations.studies(study)) == {"curve"}  # the study's own: learning curves
    # the SE(3) ablations are the study's overlay (its learning curves are not repeated there)
    cfg = check_config(deep_merge(cfg, yaml.safe_load((REPO / "presets/ablations.yaml").read_text())))
    studies = ablations.studies(cfg)
    assert set(studies) == {"lmax", "depth", "inputs"}
    ref = {v.key for rows in studies.values() for label, v in rows if label in ("l_max = 2", "thermal")}
    assert ref == {"se3-reference"}  # trained once, shown in two studies
    variants = ablations.variants(cfg)
    assert variants["se3-lmax0"].match_parameters and not variants["se3-depth1"].match_parameters
    assert variants["se3-inputsinherent"].inputs_key() == "inherent"
    s = ablation_train(cfg, "se3-lmax0", ["0.60"])
    assert s["hparams"]["l_max"] == 0 and s["training"]["epochs"] == cfg["ablations"]["epochs"]
    assert s["match_parameters"]["reference"]["l_max"] == cfg["models"]["se3gnn"]["l_max"]
    bapst = ablation_train(study, "bapst-n2", ["0.60"])
    assert bapst["training"]["timescales"] == ["Fs=0.368"] and bapst["training"]["loss_types"] == ["A"]


def _seeded(model: str, per_seed: list[np.ndarray], train_t: list[float]) -> list[dict]:
    """Evaluations of one model from several training seeds, with the metrics metrics_rows reads."""
    out = []
    for rho in per_seed:
        ev = _evaluation(model, rho, train_t)
        ev["n_parameters"] = 1000
        for res in ev["results"].values():
            m = res["metrics"]["A"]
            m.update(pearson=np.nanmean(rho, axis=0).tolist(), pearson_sem=[0.01, 0.01], pearson_ci_low=[0.0, 0.0],
                     pearson_ci_high=[1.0, 1.0], pearson_pooled=np.nanmean(rho, axis=0).tolist(),
                     spearman=[0.5, 0.5], mse=[1.0, 1.0], n_configurations=len(rho))
        out.append(ev)
    return out


def test_seed_aware_comparisons_metrics_and_claims():
    """SE(3) beats Bapst by 0.05 on every configuration in its first training; its other two seeds land
    0.12 below and 0.10 above. One seed (as today): supported, and compare_pair with one-element lists is
    the dict call's rows exactly. Three seeds: the seeds disagree by more than the difference, so the
    two-level interval straddles 0 and the claim is unresolved, with the seed counts said; metrics.csv
    gives the seed mean, the seed spread and an interval that holds it."""
    from equiglass.steps.compare import compare_pair
    from equiglass.steps.learn import metrics_rows
    from equiglass.steps.summary import claims

    rng = np.random.default_rng(11)
    base = rng.normal(0.4, 0.1, (8, 2))
    first = base + 0.05 + rng.normal(0, 0.003, (8, 2))
    se3 = _seeded("se3gnn", [first, first - 0.12, first + 0.10], [0.6])
    bapst = _seeded("bapst", [base], [0.6])
    one = compare_pair(se3[0], bapst[0], "se3gnn@T0.60", "bapst@T0.60", species=("A",), seed=3)
    assert compare_pair(se3[:1], bapst, "se3gnn@T0.60", "bapst@T0.60", species=("A",), seed=3) == one
    assert all(r["verdict"] == "supported" and (r["seeds_a"], r["seeds_b"]) == (1, 1) for r in one)
    three = compare_pair(se3, bapst, "se3gnn@T0.60", "bapst@T0.60", species=("A",), seed=3)
    assert len(three) == len(one) and all((r["seeds_a"], r["seeds_b"]) == (3, 1) for r in three)
    assert all(r["ci_low"] < 0 < r["ci_high"] and r["verdict"] == "unresolved" for r in three)
    for r1, r3 in zip(one, three):  # the mean over seeds moves little; the interval widens
        assert abs(r3["delta_rho"] - (r1["delta_rho"] - 0.02 / 3)) < 1e-9
        assert r3["ci_high"] - r3["ci_low"] > 3 * (r1["ci_high"] - r1["ci_low"])
    params = {"se3gnn": 30_000, "bapst": 62_000}
    assert claims(one, params, None, None)[0][2] == "supported"
    claim = claims(three, params, None, None)[0]
    assert claim[2] == "unresolved" and "(3 vs 1 seeds)" in claim[1]
    rows = [r for r in metrics_rows(se3 + bapst) if r["type"] == "A" and r["test_T"] == 0.6]
    s3 = next(r for r in rows if r["model"] == "se3gnn" and r["timescale"] == "Fs=0.368")
    per_seed = [np.mean(x[:, 1]) for x in (first, first - 0.12, first + 0.10)]
    assert s3["n_seeds"] == 3 and s3["pearson"] == pytest.approx(np.mean(per_seed))
    assert s3["pearson_seed_std"] == pytest.approx(np.std(per_seed, ddof=1))
    assert s3["pearson_ci_low"] < per_seed[1] + 0.02 and s3["pearson_ci_high"] > per_seed[2] - 0.02
    b = next(r for r in rows if r["model"] == "bapst" and r["timescale"] == "Fs=0.368")
    assert b["n_seeds"] == 1 and b["pearson_seed_std"] is None and (b["pearson_ci_low"], b["pearson_ci_high"]) == (0, 1)
