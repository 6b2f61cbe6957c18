"""Test-only temperatures (split.test_only) and extra replicas on test configurations
(isoconfigurational.test_replicas): configuration errors, replica batches, planned jobs, a run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from test_workflow import copy_workflow, job_counts, snakemake

from conftest import REPO
from equiglass import settings as S
from equiglass.config import ConfigError, check_config, deep_merge, load_config
from equiglass.split import split_at, split_samples
from equiglass.steps.directions import cold_section

# the tiny preset with a colder test-only temperature (two configurations) and 6 replicas (not 4) on
# every test configuration
COLD = {"temperatures": [0.8, 1.0, 0.7], "samples_by_temperature": {"0.70": 2}, "split": {"test_only": [0.7]},
        "isoconfigurational": {"test_replicas": 6}}


@pytest.fixture(scope="module")
def tiny():
    return load_config(REPO / "config.yaml", REPO / "presets" / "tiny.yaml")


def cold(tiny, **extra):
    return check_config(deep_merge(deep_merge(tiny, COLD), extra), source="cold.yaml")


# ------------------------------------------------------------------------------ configuration
def test_test_only_temperature_needs_no_training_configurations(tiny):
    cfg = cold(tiny)
    assert split_at(cfg, "0.70") == {"train": [], "validation": [], "test": [0, 1]}
    assert split_at(cfg, "0.80") == split_at(tiny, "0.80")  # the others' split is unchanged
    with pytest.raises(ValueError, match="more than validation"):
        split_samples(2, 1, 1, 3, "0.70")  # only a test-only temperature may hold everything out


def test_default_training_set_leaves_test_only_temperatures_out(tiny):
    over = deep_merge(tiny, COLD)
    del over["training"]
    over["training"] = {"models": ["ridge"]}
    over["experiments"] = {"enabled": False}
    over["ablations"] = {"enabled": False}
    assert check_config(over)["training"]["sets"] == [[0.8, 1.0]]


@pytest.mark.parametrize(
    ("overlay", "message"),
    [
        ({"training": {"sets": [[0.8], [0.7, 0.8]]}}, r"training.sets: \[0.7, 0.8\] contains T = 0.7, a test-only"),
        ({"training": {"sets": [[0.8], [0.7]], "model_sets": {"se3gnn": [[0.7]]}}},
         r"training.model_sets.se3gnn: \[0.7\] contains T = 0.7"),
        ({"experiments": {"transfer": {"target": 0.7}}}, r"experiments.transfer.target 0.7 is test-only"),
        ({"ablations": {"train_set": [0.7]}}, r"ablations.train_set: \[0.7\] contains T = 0.7"),
        ({"split": {"test_only": [0.7, 0.9]}}, r"split.test_only: temperatures \[0.9\] are not simulated"),
        ({"split": {"test_only": [0.7, 0.8, 1.0]}}, "holds out every temperature"),
        ({"isoconfigurational": {"test_replicas": 3}}, r"test_replicas \(3\) is below isoconfigurational.replicas"),
    ],
)
def test_config_errors_name_the_key_and_the_fix(tiny, overlay, message):
    with pytest.raises(ConfigError, match=message) as err:
        cold(tiny, **overlay)
    assert "cold.yaml" in str(err.value)
    if "contains" in message:
        assert "remove it there, or from split.test_only" in str(err.value)


# ---------------------------------------------------------------------------- replica batches
@pytest.mark.parametrize(("replicas", "per_job", "test_replicas"), [(4, 2, 6), (8, 8, 16), (10, 4, 16)])
def test_extra_test_replicas_only_add_batches(tiny, replicas, per_job, test_replicas):
    """With test_replicas, a configuration's first batches are exactly those it has without
    (same replicas, same seed): results made before stay valid; the extra replicas are new
    indices (new velocity seeds), in batches of replicas_per_job."""
    iso = {"replicas": replicas, "replicas_per_job": per_job}
    before = cold(tiny, isoconfigurational={**iso, "test_replicas": None})
    after = cold(tiny, isoconfigurational={**iso, "test_replicas": test_replicas})
    for T in ("0.80", "1.00", "0.70"):
        test = split_at(after, T)["test"]
        for i in range(sum(len(v) for v in split_at(after, T).values())):
            s = f"{i:03d}"
            old, new = S.replica_batches(before, T, s), S.replica_batches(after, T, s)
            assert new[: len(old)] == old and S.replica_batches(after, T, s, base_only=True) == old
            for b in old:
                assert S.isoconfigurational(after, T, s, b) == S.isoconfigurational(before, T, s, b)
            reps = [r for b in new for r in S.isoconfigurational(after, T, s, b)["replicas"]]
            assert reps == list(range(test_replicas if i in test else replicas))
            assert all(len(S.isoconfigurational(after, T, s, b)["replicas"]) <= per_job for b in new)
    with pytest.raises(KeyError, match="replica batches"):
        S.isoconfigurational(after, "0.80", f"{split_at(after, '0.80')['train'][0]:03d}", new[-1])


# ------------------------------------------------------------------------------- the workflow
def test_planned_jobs(tmp_path):
    """Dry run: the test-only temperature is simulated and tested, never trained on; test
    configurations get the extra replica batches; dynamics read the first `replicas` only."""
    work = copy_workflow(tmp_path)
    (work / "cold.yaml").write_text(yaml.safe_dump(COLD))
    res = snakemake(work, "--cores", "2", "--configfile", "presets/tiny.yaml", "cold.yaml", "--dry-run", timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    counts = job_counts(res.stdout)
    # 10 configurations at 0.8 and 1.0 (4 of them test: 3 batches of 2 replicas, else 2) + 2 at 0.7 (test: 3)
    assert counts["isoconfigurational"] == 6 * 2 + 4 * 3 + 2 * 3
    assert counts["equilibrate"] == 12 and counts["dynamics"] == 3 and counts["train"] == 4
    out = res.stdout
    assert "results/datasets/main/T0.70_test.json" in out
    assert "T0.70_train" not in out and "T0.70_validation" not in out
    dyn = out.split("output: results/dynamics/T0.70.json")[0].rsplit("input:", 1)[1]
    assert "iso_b00" in dyn and "iso_b01" in dyn and "iso_b02" not in dyn


def test_run_with_a_test_only_temperature(tmp_path):
    """Tiny DAG (SE(3) and ridge trained at 0.8) with a colder test-only temperature and 6 replicas
    on test configurations: labels have 6 replicas where they are scored and 4 where they are
    trained on, the models are scored at the test-only temperature (train hot → test cold, paired
    Δρ in the generalization experiment), and raising test_replicas later adds batches only."""
    work = copy_workflow(tmp_path)
    lean = deep_merge(COLD, {"training": {"models": ["se3gnn", "ridge"], "sets": [[0.8]],
                                          "model_sets": {"se3gnn": [[0.8]], "bapst": [[0.8]]}},
                             "experiments": {"interpret": {"model_set": [0.8]}}, "ablations": {"enabled": False}})
    (work / "cold.yaml").write_text(yaml.safe_dump(lean))
    args = ("--cores", "2", "--configfile", "presets/tiny.yaml", "cold.yaml")
    res = snakemake(work, "results/experiments/generalization.json", "results/split.json", *args, timeout=1800)
    assert res.returncode == 0, res.stderr[-4000:]
    split = json.loads((work / "results/split.json").read_text())
    assert split["test_only"] == ["0.70"] and split["by_temperature"]["0.70"]["train"] == []
    for T in ("0.80", "0.70"):
        parts = split["by_temperature"][T]
        for s in [s for v in parts.values() for s in v]:
            meta = json.loads(str(np.load(work / f"results/propensity/T{T}/s{s:03d}.npz")["metadata"]))
            assert meta["n_replicas"] == (6 if s in parts["test"] else 4), (T, s)
    dyn = json.loads((work / "results/dynamics/T0.70.json").read_text())
    assert dyn["n_replicas"] == 2 * 4  # the first 4 replicas of each configuration
    ev = json.loads((work / "results/eval/ridge/T0.80.json").read_text())
    assert set(ev["results"]) == {"0.70", "0.80", "1.00"}
    assert len(ev["results"]["0.70"]["configurations"]) == 2
    assert ev["results"]["0.70"]["ceiling"]["A"]["n_replicas"] == 6
    gen = json.loads((work / "results/experiments/generalization.json").read_text())
    cold = [d for d in gen["deltas"] if d["test_T"] == 0.7]
    assert cold and all(d["direction"] == "colder" and d["n_configurations"] == 2 for d in cold)
    assert {d["direction"] for d in gen["deltas"]} == {"colder", "seen", "hotter"}
    assert "train hot → test cold" in "\n".join(cold_section(gen))
    # more test replicas later: new batches for the test configurations, nothing else simulated again
    (work / "more.yaml").write_text("isoconfigurational: {test_replicas: 8}\n")
    res = snakemake(work, "results/eval/ridge/T0.80.json", "--dry-run", *args, "more.yaml", timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    counts = job_counts(res.stdout)
    n_test = sum(len(split["by_temperature"][T]["test"]) for T in split["by_temperature"])
    assert counts["isoconfigurational"] == n_test  # batch 03 (replicas 6, 7) of each test configuration
    assert not {"equilibrate", "dynamics"} & set(counts)
    assert counts["propensity"] == n_test


def test_tau_alpha_estimate_at_the_cold_temperature_is_the_measured_one():
    """Run lengths at T = 0.56 are sized with τ_α measured by this pipeline (not GlassBench's 52)."""
    from equiglass.reference import GLASSBENCH_TAU_ALPHA, PIPELINE_MEASUREMENTS
    from equiglass.system import tau_alpha_estimate

    assert tau_alpha_estimate(0.56) == pytest.approx(PIPELINE_MEASUREMENTS[0.56][4])
    assert GLASSBENCH_TAU_ALPHA[0.56] == 52.0



def test_a_lever_cannot_train_at_a_test_only_temperature():
    from equiglass.config import load_yaml

    cfg = deep_merge(load_yaml(REPO / "config.yaml"), {
        "temperatures": [0.56, 0.6], "split": {"test_only": [0.56]}, "training": {"sets": [[0.6]]},
        "ablations": {"levers": {"cold": {"ablations": {"train_set": [0.56, 0.6]}}}}})
    with pytest.raises(ConfigError, match=r"ablations\.levers\.cold\.ablations\.train_set.*test-only"):
        check_config(cfg)
