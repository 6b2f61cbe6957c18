"""Ablation variants and levers from several seeds, tested at several temperatures (ablations.seeds,
test_temperatures, reuse_main_models, a lever's own training data), and the equivariance control
of summary.md (issue 29)."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from conftest import REPO
from equiglass.config import ConfigError, load_config
from equiglass.stats import (
    interval,
    paired_difference,
    seed_replicated_difference,
    seed_replicated_interval,
)

LABELS = ["Fs=0.9", "Fs=0.5", "Fs=0.368"]


def _evaluation(rho: dict[str, np.ndarray], train_t: float = 0.6, n_params: int = 1000) -> dict:
    """An evaluation JSON: ρ_A (C, 3) per test temperature key."""
    return {"model": "se3gnn", "train_set": "ablation-x", "train_temperatures": [train_t], "n_parameters": n_params,
            "train_configurations": ["a", "b"], "results": {
                t: {"configurations": [f"c{i}" for i in range(len(r))], "timescale_labels": LABELS,
                    "times": [0.5, 3.0, 15.0], "metrics": {"A": {"pearson_per_configuration": r.tolist()}}}
                for t, r in rho.items()}}


def _write(tmp_path, name: str, ev: dict) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(ev))
    return str(path)


@pytest.fixture
def lmax_rho():
    """ρ_A per configuration (6, 3) of l_max = 0, 1, 2 at T = 0.60 and 0.56, two seeds each."""
    rng = np.random.default_rng(11)
    base = rng.normal(0.4, 0.08, (6, 3))
    return {(lmax, seed, t): base + 0.03 * lmax + rng.normal(0, 0.02, (6, 3)) - (0.1 if t == "0.56" else 0)
            for lmax in (0, 1, 2) for seed in (0, 1) for t in ("0.60", "0.56")}


def test_one_seed_at_one_temperature_is_the_paired_bootstrap_bit_for_bit(tmp_path, lmax_rho):
    """ablations.seeds = 1 tested at the ablation temperature (every preset before): each setting's ρ,
    interval, paired Δ to the reference, the l_max control and its comparisons rows are the numbers
    the study computed before seeds existed (interval / paired_difference over configurations)."""
    from equiglass.steps.ablations import step_ablation
    from equiglass.steps.compare import lmax_control_rows

    keys = ["se3-lmax0", "se3-lmax1", "se3-reference"]
    files = [_write(tmp_path, k, _evaluation({"0.60": lmax_rho[(lmax, 0, "0.60")]})) for lmax, k in enumerate(keys)]
    res = step_ablation("lmax", files, ["l_max = 0", "l_max = 1", "l_max = 2"], tmp_path / "lmax.json",
                        tmp_path / "lmax.png")
    ref = lmax_rho[(2, 0, "0.60")]
    for lmax, row in enumerate(res["rows"]):
        rho = lmax_rho[(lmax, 0, "0.60")]
        assert row["seeds"] == 1 and row["rho_per_configuration"] == rho.tolist()
        for tag, k in (("tau_alpha", 2), ("shortest", 0)):
            ci = interval(rho[:, k])
            assert (row[f"rho_{tag}"], row[f"ci_{tag}"]) == (ci.mean, [ci.low, ci.high])
            d = paired_difference(rho[:, k], ref[:, k])
            assert row[f"delta_vs_reference_{tag}"] == [d.mean, d.low, d.high]
    for tag, k in (("tau_alpha", 2), ("shortest", 0)):
        d = paired_difference(lmax_rho[(0, 0, "0.60")][:, k], ref[:, k])  # l_max = 2 is the best here
        assert res["lmax0_vs_best"][tag] == {"best": "l_max = 2", "delta": d.mean, "ci": [d.low, d.high],
                                             "verdict": d.verdict()}
    rows = lmax_control_rows(json.loads((tmp_path / "lmax.json").read_text()), "T0.60")
    assert len(rows) == len(LABELS) and all(r["train_set"] == "T0.60" and r["seeds_a"] == 1 for r in rows)
    for r, k in zip(rows, range(3)):
        d = paired_difference(ref[:, k], lmax_rho[(0, 0, "0.60")][:, k])
        assert (r["model_a"], r["model_b"], r["timescale"]) == ("se3gnn l_max = 2", "se3gnn l_max = 0", LABELS[k])
        assert (r["delta_rho"], r["ci_low"], r["ci_high"]) == (d.mean, d.low, d.high)
    assert (tmp_path / "lmax.png").stat().st_size > 10_000
    assert len(list(csv.DictReader(open(tmp_path / "lmax.csv")))) == 3


def test_seeds_and_test_temperatures(tmp_path, lmax_rho):
    """Two seeds per setting, tested at T = 0.60 (trained) and 0.56 (colder): seed means, the two-level
    bootstrap of the seeds and configurations, Δ at each temperature, the control at every timescale."""
    from equiglass.steps.ablations import step_ablation

    keys = ["se3-lmax0", "se3-lmax1", "se3-reference"]
    first, reps = [], {}
    for lmax, key in enumerate(keys):
        evs = [_evaluation({t: lmax_rho[(lmax, s, t)] for t in ("0.60", "0.56")}) for s in (0, 1)]
        first.append(_write(tmp_path, key, evs[0]))
        reps[str(lmax)] = [_write(tmp_path, f"{key}-seed1", evs[1])]
    plan = {"labels": ["l_max = 0", "l_max = 1", "l_max = 2"], "replicates": reps, "temperatures": ["0.60", "0.56"]}
    res = step_ablation("lmax", first + [f for fs in reps.values() for f in fs], plan["labels"],
                        tmp_path / "lmax.json", tmp_path / "lmax.png", plan=plan)
    assert res["temperatures"] == ["0.60", "0.56"]
    for lmax, row in enumerate(res["rows"]):
        assert row["seeds"] == 2 and list(row["by_temperature"]) == ["0.60", "0.56"]
        assert row["by_temperature"]["0.56"]["unseen"] and not row["by_temperature"]["0.60"]["unseen"]
        for t in ("0.60", "0.56"):
            both = np.stack([lmax_rho[(lmax, s, t)] for s in (0, 1)])
            at = row["by_temperature"][t]
            ci = seed_replicated_interval(both[:, :, 2])
            assert (at["rho_tau_alpha"], at["ci_tau_alpha"]) == (ci.mean, [ci.low, ci.high])
            assert at["seed_sd_tau_alpha"] == pytest.approx(np.std(both[:, :, 2].mean(axis=1), ddof=1))
            zero = np.stack([lmax_rho[(0, s, t)] for s in (0, 1)])
            d = seed_replicated_difference(both[:, :, 0], zero[:, :, 0])
            assert at["delta_vs_lmax0_shortest"] == [d.mean, d.low, d.high]
    # the control: every timescale and test temperature (species A here), both seeds of each side
    control = res["control"]
    assert {(r["test_T"], r["timescale"]) for r in control} == {(t, lab) for t in (0.6, 0.56) for lab in LABELS}
    assert all(r["seeds_a"] == r["seeds_b"] == 2 and r["model_b"] == "se3gnn l_max = 0" for r in control)
    assert {r["unseen"] for r in control} == {False, True}
    rows = list(csv.DictReader(open(tmp_path / "lmax.csv")))
    assert [(r["setting"], r["test_T"]) for r in rows[:2]] == [("l_max = 0", "0.6"), ("l_max = 0", "0.56")]


def _row(a: str, b: str, t: float, label: str, delta: float, half: float, unseen: bool = False, seeds=(3, 3)) -> dict:
    lo, hi = delta - half, delta + half
    verdict = "supported" if lo > 0 else "contradicted" if hi < 0 else "unresolved"
    return {"model_a": a, "model_b": b, "test_T": t, "unseen": unseen, "species": "A", "timescale": label,
            "is_tau_alpha": label == "Fs=0.368", "delta_rho": delta, "ci_low": lo, "ci_high": hi,
            "n_configurations": 6, "verdict": verdict, "seeds_a": seeds[0], "seeds_b": seeds[1]}


def test_equivariance_claims_name_whose_gain_it_is():
    from equiglass.steps.ablation_text import attribution, equivariance_claims
    from equiglass.steps.summary import claims

    rng = np.random.default_rng(2)
    per_seed = {lmax: {"timescales": LABELS, "rho_per_seed": rng.normal(0.4, 0.05, (3, 6, 3)).tolist()}
                for lmax in (0, 1, 2)}
    study = {"temperatures": ["0.60", "0.56"], "rows": [
        {"setting": f"l_max = {lmax}", "timescales": LABELS, "tau_alpha_index": 2,
         "by_temperature": {"0.60": per_seed[lmax]}} for lmax in (0, 1, 2)]}
    comparisons = [
        _row("se3gnn l_max = 2", "se3gnn l_max = 0", 0.6, "Fs=0.9", 0.06, 0.02),
        _row("se3gnn l_max = 1", "se3gnn l_max = 0", 0.6, "Fs=0.368", 0.01, 0.05),
        _row("se3gnn l_max = 1", "se3gnn l_max = 0", 0.56, "Fs=0.368", 0.08, 0.03, unseen=True),
        _row("se3gnn l_max = 0", "ridge@T0.60", 0.6, "Fs=0.368", 0.04, 0.02, seeds=(3, 1)),
        _row("se3gnn l_max = 0", "descriptor_mlp@T0.60", 0.6, "Fs=0.368", 0.0, 0.03),
        _row("se3gnn@T0.60", "ridge@T0.60", 0.6, "Fs=0.368", 0.05, 0.02, seeds=(3, 1)),
        # colder (with the control above): l_max = 0 loses to ridge, SE(3) beats it
        _row("se3gnn l_max = 0", "ridge@T0.60", 0.56, "Fs=0.368", -0.03, 0.01, seeds=(3, 1), unseen=True),
        _row("se3gnn@T0.60", "ridge@T0.60", 0.56, "Fs=0.368", 0.05, 0.03, seeds=(3, 1), unseen=True),
    ]
    rows = equivariance_claims(study, comparisons)
    verdict = {c.split(" at ")[-1] if c.startswith("Control") else c: v for c, ev, v in rows}
    assert verdict["τ_α"] == "unresolved" and verdict["the shortest time"] == "supported"
    tau = next(ev for c, ev, v in rows if c.endswith("at τ_α") and c.startswith("Control"))
    assert "l_max = 1 − l_max = 0 at T = 0.60" in tau and "T = 0.56 (unseen colder)" in tau and "(3 vs 3 seeds)" in tau
    assert "half-width 0.050 > 0.03: 0.03 would take ≈ " in tau and " test configurations at these seeds" in tau
    short = next(ev for c, ev, v in rows if c.endswith("the shortest time"))
    assert "l_max = 2 − l_max = 0 at T = 0.60: +0.060 [+0.040, +0.080] (3 vs 3 seeds), n = 6; half-width 0.020 ≤ 0.03" \
        in short
    assert verdict["Invariant messages (l_max = 0) already beat ridge on descriptors at τ_α"] == "supported"
    assert verdict["Invariant messages (l_max = 0) already beat the descriptor MLP at τ_α"] == "unresolved"
    where = verdict["Where SE(3)'s gain over ridge at τ_α comes from"]
    assert where.startswith("the network's, not equivariance's")  # at the training temperature ...
    assert where.endswith("; T = 0.56 (unseen colder): equivariance's")  # ... and at the colder one
    assert "(unseen colder): -0.030 [-0.040, -0.020]" in next(ev for c, ev, v in rows if c.endswith("ridge on descriptors at τ_α"))
    assert attribution("supported", "unresolved", "supported").startswith("equivariance's")
    assert attribution("supported", "supported", "supported").startswith("both")
    assert attribution("unresolved", "supported", "unresolved").startswith("no resolved gain")
    table = claims(comparisons, {}, None, study)  # summary.md's claims table carries these rows
    assert [c for c, _, _ in table if "l_max" in c] == [c for c, _, _ in rows if "l_max" in c]


def test_cost_to_resolve_splits_configuration_and_seed_variance():
    from equiglass.steps.ablation_text import cost_to_resolve

    rng = np.random.default_rng(5)
    conf = rng.normal(0, 0.05, 6)  # paired configuration effects of Δ
    a = 0.45 + conf + rng.normal(0, 0.03, (3, 1)) + rng.normal(0, 0.001, (3, 6))  # seed effects
    b = 0.40 + rng.normal(0, 0.03, (3, 1)) + rng.normal(0, 0.001, (3, 6))
    c = cost_to_resolve(a, b, target=0.03)
    d = a.mean(axis=0) - b.mean(axis=0)
    v_s = np.var(a.mean(axis=1), ddof=1) / 3 + np.var(b.mean(axis=1), ddof=1) / 3
    assert c["half_width"] == pytest.approx(1.959964 * math.sqrt(np.var(d, ddof=1) / 6 + v_s), rel=1e-5)
    room = (0.03 / 1.959964) ** 2
    assert c["configurations"] == (math.ceil(np.var(d, ddof=1) / (room - v_s)) if v_s < room else math.inf)
    assert c["seeds"] == (max(3, math.ceil(3 * v_s / (room - np.var(d, ddof=1) / 6)))
                          if np.var(d, ddof=1) / 6 < room else math.inf)
    one = cost_to_resolve(a[:1], b[:1], target=0.03)  # one seed each: no seed variance to add seeds against
    assert math.isnan(one["seeds"]) and math.isfinite(one["configurations"])


def test_replicates_and_reuse_of_the_main_model():
    """Replicate r >= 1 of a variant trains from settings.replicate_seed (replicate 0 unchanged); with
    presets/equivariance.yaml l_max = 2 is the main SE(3) model (same settings but seed and label),
    the other l_max and any change of data or budget are not."""
    from equiglass import settings as S

    files = [REPO / "config.yaml", REPO / "presets" / "study.yaml", REPO / "presets" / "equivariance.yaml"]
    cfg = load_config(*files)
    assert cfg["ablations"]["n_train"] is None  # "all"
    zero = S.ablation_train(cfg, "se3-lmax0", ["0.60"])
    assert S.ablation_train(cfg, "se3-lmax0", ["0.60"], 0) == zero
    one = S.ablation_train(cfg, "se3-lmax0", ["0.60"], 1)
    assert one["seed"] == S.replicate_seed(zero["seed"], 1) != zero["seed"] and one["replicate"] == 1
    assert {k: v for k, v in one.items() if k not in ("seed", "replicate")} == {k: v for k, v in zero.items()
                                                                                if k != "seed"}
    assert S.ablation_seeds(cfg, "se3-lmax0") == 3
    assert S.ablation_reuses(cfg, "se3-reference", "0.60") == "T0.60"
    assert S.ablation_reuses(cfg, "se3-lmax0", "0.60") is None  # its width is matched: another model
    for change in ({"reuse_main_models": False}, {"epochs": 30}, {"n_train": 8}):
        other = {**cfg, "ablations": {**cfg["ablations"], **change}}
        assert S.ablation_reuses(other, "se3-reference", "0.60") is None, change
    wd = {**cfg, "models": {**cfg["models"], "se3gnn": {**cfg["models"]["se3gnn"], "readout_dropout": 0.0}}}
    assert S.ablation_reuses(wd, "se3-reference", "0.60") == "T0.60"  # both change together: still the same
    curve = load_config(files[0], REPO / "presets" / "tiny.yaml")
    assert S.ablation_seeds(curve, "ridge-nall") == 1  # closed form: one fit


def test_lever_data_and_config_errors():
    from equiglass.ablations import variants

    cfg = load_config(REPO / "config.yaml", REPO / "presets" / "study.yaml", REPO / "presets" / "cold-levers.yaml")
    v = variants(cfg)
    assert v["lever-several_T"].train_set == (0.6, 0.7, 0.8) and v["lever-several_T"].n_train == 6
    assert v["lever-twice_data"].n_train == 16 and v["lever-twice_data"].train_set is None
    assert "ablations" not in v["lever-several_T_T_input"].overlay
    assert cfg["ablations"]["seeds"] == 3 and cfg["ablations"]["test_temperatures"] == "all"
    bad = {"ablations": {"test_temperatures": [0.45], "levers": {"x": {"ablations": {"epochs": 3, "train_set": [0.9]}}}}}
    with pytest.raises(ConfigError) as err:
        from equiglass.config import check_config, deep_merge

        check_config(deep_merge(load_config(REPO / "config.yaml", REPO / "presets" / "study.yaml"), bad))
    text = str(err.value)
    assert "ablations.test_temperatures: temperatures [0.45] are not simulated" in text
    assert "ablations.levers.x.ablations: ['epochs'] cannot change per lever" in text
    assert "ablations.levers.x.ablations.train_set: temperatures [0.9]" in text


def test_plan_counts_ablation_seed_jobs():
    from equiglass.plan_totals import ablation_kinds

    cfg = load_config(REPO / "config.yaml", REPO / "presets" / "study.yaml", REPO / "presets" / "equivariance.yaml")
    train = ablation_kinds(cfg, "ablation_train", False)
    seeds = ablation_kinds(cfg, "ablation_train_seed", False)
    assert len(train) == len(seeds) == 3  # l_max 0, 1, 3 (2 is the main model)
    assert sum(s for s, _, _ in seeds) == pytest.approx(1.0)
    assert max(m for _, m, _ in train) > 0
