"""Generalization by direction: train hot → test cold (and the reverse), Δρ of every family against
the SE(3) GNN paired over the same test configurations, in the experiment's JSON, figures and summary."""

from __future__ import annotations

import json

import numpy as np
import pytest

from equiglass.files import read_json
from equiglass.stats import paired_difference
from equiglass.steps.directions import cold_section, direction, direction_deltas
from equiglass.steps.experiments import step_generalization

LABELS = ["Fs=0.9", "Fs=0.368"]


def evaluation(model: str, rho: dict[str, np.ndarray], train=(0.6,)) -> dict:
    """An evaluation file's content: per-configuration ρ (C, 2) of A (B: 0.1 lower) at each test T."""
    results = {}
    for tkey, r in rho.items():
        metrics = {}
        for sp, shift in (("A", 0.0), ("B", 0.1)):
            per = r - shift
            metrics[sp] = {"pearson": per.mean(axis=0).tolist(), "pearson_sem": [0.01, 0.01],
                           "pearson_per_configuration": per.tolist()}
        results[tkey] = {"timescale_labels": LABELS, "times": [0.1, 50.0], "metrics": metrics,
                         "configurations": [f"s{i:03d}" for i in range(len(r))]}
    name = "T" + "+".join(f"{t:.2f}" for t in train)
    return {"model": model, "train_set": name, "train_temperatures": list(train), "results": results}


@pytest.fixture
def evaluations():
    """SE(3) and ridge trained at 0.6, tested at 0.56 (colder: SE(3) better on every configuration),
    0.60 (seen) and 0.70 (hotter: no difference beyond noise)."""
    rng = np.random.default_rng(1)
    base = {t: rng.uniform(0.2, 0.5, size=(6, 2)) for t in ("0.56", "0.60", "0.70")}
    se3 = {t: v + (0.1 if t == "0.56" else 0.0) for t, v in base.items()}
    ridge = {t: v + (rng.normal(0, 0.02, size=v.shape) if t == "0.70" else 0.0) for t, v in base.items()}
    return [evaluation("se3gnn", se3), evaluation("ridge", ridge)]


@pytest.mark.parametrize(("test_T", "train", "expected"), [
    (0.56, [0.6], "colder"), (0.8, [0.6], "hotter"), (0.6, [0.6], "seen"), (0.60000001, [0.6], "seen"),
    (0.7, [0.6, 0.8], "between"), (0.56, [0.6, 0.8], "colder"), (1.0, [0.6, 0.8], "hotter")])
def test_direction(test_T, train, expected):
    assert direction(test_T, train) == expected


def test_deltas_are_the_paired_differences(evaluations):
    rows = direction_deltas(evaluations, seed=3)
    cold = {(r["species"], r["timescale"]): r for r in rows if r["test_T"] == 0.56}
    assert {r["direction"] for r in rows} == {"colder", "seen", "hotter"}
    assert {r["family"] for r in rows} == {"ridge"} and len(cold) == 4
    r = cold[("A", "Fs=0.368")]
    se3, ridge = (np.array(ev["results"]["0.56"]["metrics"]["A"]["pearson_per_configuration"])[:, 1]
                  for ev in evaluations)
    d = paired_difference(se3, ridge, seed=3)
    assert (r["delta_rho"], r["ci_low"], r["ci_high"], r["n_configurations"]) == (d.mean, d.low, d.high, 6)
    assert r["delta_rho"] == pytest.approx(0.1) and r["verdict"] == "supported" and r["is_tau_alpha"]
    assert r["rho_reference"] == pytest.approx(se3.mean()) and r["rho_family"] == pytest.approx(ridge.mean())
    hot = next(r for r in rows if r["test_T"] == 0.7 and r["species"] == "A" and r["is_tau_alpha"])
    assert hot["verdict"] == "unresolved"


def test_no_deltas_without_the_reference_on_the_same_set(evaluations):
    other = evaluation("ridge", {"0.56": np.full((6, 2), 0.3)}, train=(0.6, 0.7))
    assert all(r["train_set"] == "T0.60" for r in direction_deltas([*evaluations, other]))
    assert direction_deltas(evaluations[1:]) == []


def test_generalization_step_writes_directions_deltas_figures_and_summary(evaluations, tmp_path):
    files = []
    for ev in evaluations:
        f = tmp_path / f"{ev['model']}.json"
        f.write_text(json.dumps(ev))
        files.append(str(f))
    out = tmp_path / "generalization.json"
    figs = tmp_path / "matrix.png", tmp_path / "curves.png"
    step_generalization(files, out, *figs, caption="test", seed=3)
    g = read_json(out)
    assert {(r["test_T"], r["direction"]) for r in g["rows"]} == {(0.56, "colder"), (0.6, "seen"), (0.7, "hotter")}
    assert g["deltas"] == json.loads(json.dumps(direction_deltas(evaluations, seed=3)))
    assert "direction" in out.with_suffix(".csv").read_text().splitlines()[0]
    assert all(f.stat().st_size > 10_000 for f in figs)
    text = "\n".join(cold_section(g))
    assert "## Train hot → test cold (A)" in text and "T = 0.56, colder than all of them" in text
    assert "ρ_A at τ_α T = 0.56: 0.699" in text  # GlassBench's SE(3)-GNN trained at 0.56, for scale
    lines = [ln for ln in text.splitlines() if ln.startswith("| train")]
    assert [ln.split(" | ")[0] for ln in lines] == ["| train hot → test cold"] * 2 + ["| train cold → test hot"] * 2
    assert "| Fs=0.368 |" in lines[1] and "+0.100 [" in lines[1] and lines[1].endswith("| 6 | supported |")
    # a win over a network that did not learn is not a verdict (as in the claims table)
    cold = next(r for r in g["deltas"] if r["direction"] == "colder")
    status = {cold["model_b"]: {"model": cold["model_b"], "learned": False, "flattened": True, "n_seeds": 3,
                                "seeds_not_learned": 3}}
    lines = [ln for ln in cold_section(g, status) if ln.startswith("| train hot")]
    assert lines[1].endswith("| 6 | unresolved (ridge did not learn within this budget: 3 of 3 seeds) |")


def test_no_cold_section_without_a_colder_test_temperature(evaluations):
    for ev in evaluations:
        del ev["results"]["0.56"]
    assert cold_section({"deltas": direction_deltas(evaluations)}) == []


def test_deltas_resample_training_seeds(evaluations):
    """With training seeds (training.seeds), each side is its seeds' mean and the interval is the
    two-level bootstrap over configurations and seeds (stats.seed_replicated_difference)."""
    from equiglass.stats import seed_replicated_difference

    rng = np.random.default_rng(7)
    se3 = evaluations[0]
    other = {t: np.array(r["metrics"]["A"]["pearson_per_configuration"]) + rng.normal(0, 0.08, size=(6, 2))
             for t, r in se3["results"].items()}
    seed1 = evaluation("se3gnn", other)
    rows = direction_deltas(evaluations, seed=3, replicates=[seed1])
    r = next(r for r in rows if r["test_T"] == 0.56 and r["species"] == "A" and r["is_tau_alpha"])
    per = [np.array(ev["results"]["0.56"]["metrics"]["A"]["pearson_per_configuration"])[:, 1]
           for ev in (se3, seed1, evaluations[1])]
    d = seed_replicated_difference(np.stack(per[:2]), per[2][None], seed=3)
    assert (r["delta_rho"], r["ci_low"], r["ci_high"], r["seeds_a"], r["seeds_b"]) == (d.mean, d.low, d.high, 2, 1)
    single = next(x for x in direction_deltas(evaluations, seed=3)
                  if x["test_T"] == 0.56 and x["species"] == "A" and x["is_tau_alpha"])
    assert r["ci_high"] - r["ci_low"] > single["ci_high"] - single["ci_low"]  # the seed spread widens it
    assert "(2 vs 1 seeds)" in "\n".join(cold_section({"deltas": rows}))
