"""The noise ceiling on ρ: synthetic labels of known reliability, the iso halves, published files,
metrics.csv's columns, the figure band and the summary table."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import shared_data
from equiglass import ceiling as C
from equiglass.iso import IsoSums


def noisy_labels(rng: np.random.Generator, n: int, r: int, signal_sd: float, noise_sd: np.ndarray,
                 k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """True propensities p (k, n) and replica values (r, k, n) = p + Gaussian noise of sd ``noise_sd`` (n,)."""
    p = 1.0 + signal_sd * rng.standard_normal((k, n))
    return p, p[None] + noise_sd[None, None, :] * rng.standard_normal((r, k, n))


def true_reliability(signal_sd: float, noise_sd: np.ndarray, r: int) -> float:
    return signal_sd**2 / (signal_sd**2 + np.mean(noise_sd**2) / r)


@pytest.mark.parametrize("r", [4, 8, 5])
def test_analytic_and_split_half_find_the_known_reliability(r):
    """Heteroscedastic Gaussian replica noise of known variance: both estimates recover the true
    reliability, and the oracle (the true propensity) correlates with the label at the ceiling."""
    rng = np.random.default_rng(r)
    n, signal = 20000, 0.3
    noise = rng.uniform(0.3, 0.9, n)  # per-particle replica sd, as mobile particles are noisier
    p, disp = noisy_labels(rng, n, r, signal, noise)
    st = C.replica_statistics(disp)
    mask = np.ones(n, bool)
    truth = true_reliability(signal, noise, r)
    assert 0.3 < truth < 0.8  # a regime where the ceiling matters
    analytic = C.analytic_reliability(st["propensity"], st["stderr"], mask)[0]
    split = C.split_half_reliability(st["halves"], tuple(st["half_replicas"]), mask)[0]
    assert analytic == pytest.approx(truth, abs=0.02)
    assert split == pytest.approx(truth, abs=0.03)
    oracle = np.corrcoef(p[0], st["propensity"][0])[0, 1]
    assert oracle == pytest.approx(float(C.ceiling_of(analytic)), abs=0.015)
    assert C.ceiling_of(truth) < 0.95  # the oracle itself is far from 1: the ceiling is real


def test_a_better_than_oracle_prediction_does_not_exist():
    """Mixing noise into the oracle only lowers ρ: the ceiling bounds every prediction tried."""
    rng = np.random.default_rng(1)
    n, r = 20000, 8
    noise = np.full(n, 0.8)
    p, disp = noisy_labels(rng, n, r, 0.3, noise)
    label = disp.mean(0)[0]
    ceil = float(C.ceiling_of(C.analytic_reliability(disp.mean(0), disp.std(0, ddof=1) / math.sqrt(r),
                                                     np.ones(n, bool))[0]))
    for eps in (0.0, 0.1, 0.3, 1.0):
        pred = p[0] + eps * rng.standard_normal(n)
        assert np.corrcoef(pred, label)[0, 1] <= ceil + 0.01


def test_spearman_brown_projection_matches_more_replicas():
    """r₁ measured with 4 replicas, projected to 32, equals the reliability of a 32-replica label."""
    rng = np.random.default_rng(2)
    n, signal = 20000, 0.25
    noise = np.full(n, 1.0)
    p, disp = noisy_labels(rng, n, 32, signal, noise)
    few = disp[:4]
    rel4 = C.analytic_reliability(few.mean(0), few.std(0, ddof=1) / 2.0, np.ones(n, bool))[0]
    r1 = C.single_replica(rel4, 4)
    assert float(r1) == pytest.approx(true_reliability(signal, noise, 1), abs=0.01)
    projected = float(C.spearman_brown(r1, 32))
    measured_32 = np.corrcoef(p[0], disp.mean(0)[0])[0, 1] ** 2  # reliability = ρ(oracle, label)²
    assert projected == pytest.approx(true_reliability(signal, noise, 32), abs=0.02)
    assert projected == pytest.approx(measured_32, abs=0.02)
    assert float(C.spearman_brown(C.single_replica(0.6, 8), 8)) == pytest.approx(0.6)  # inverse pair
    need = float(C.replicas_for(0.9, r1))
    assert float(C.spearman_brown(r1, need)) == pytest.approx(0.81)


def test_reliability_from_halves_equal_and_unequal():
    assert float(C.reliability_from_halves(0.5, 4, 4)) == pytest.approx(2 * 0.5 / 1.5)  # Spearman–Brown
    assert float(C.reliability_from_halves(-0.1, 2, 2)) == 0.0
    assert float(C.reliability_from_halves(1.0, 3, 2)) == pytest.approx(1.0)
    assert math.isnan(float(C.reliability_from_halves(np.nan, 2, 2)))
    # unequal halves (R = 5 → 3 + 2): exact for the parallel model
    x = 2.0  # single-replica noise-to-signal ratio
    r12 = 1 / math.sqrt((1 + x / 3) * (1 + x / 2))
    assert float(C.reliability_from_halves(r12, 3, 2)) == pytest.approx(1 / (1 + x / 5))


def sums_from(disp: np.ndarray, replicas: list[int]) -> IsoSums:
    """IsoSums of per-replica displacement norms ``disp`` (R, n_t, N) with the given replica indices."""
    r, n_t, _ = disp.shape
    even = np.array([i % 2 == 0 for i in replicas])
    z = np.zeros((r, n_t, 2))
    return IsoSums(np.arange(1.0, n_t + 1), disp.sum(0), (disp**2).sum(0), (disp**4).sum(0), z, z,
                   np.array(replicas), np.zeros(r), np.array(replicas),
                   disp[even].sum(0), (disp[even] ** 2).sum(0))


def test_iso_halves_are_the_even_and_odd_replica_means():
    from equiglass import dynamics as dyn
    from equiglass.iso import merge_iso

    rng = np.random.default_rng(3)
    disp = rng.uniform(0, 2, size=(5, 4, 30))
    idx = np.array([1, 3])
    whole = sums_from(disp, [0, 1, 2, 3, 4])
    halves, counts = C.iso_halves(whole, idx)
    np.testing.assert_allclose(halves[0], disp[[0, 2, 4]][:, idx].mean(0))
    np.testing.assert_allclose(halves[1], disp[[1, 3]][:, idx].mean(0))
    assert counts.tolist() == [3, 2]
    sq, _ = C.iso_halves(whole, idx, "squared_displacement")
    np.testing.assert_allclose(sq[1], (disp[[1, 3]][:, idx] ** 2).mean(0))
    # batches of replicas combine into the same halves
    merged = merge_iso([sums_from(disp[:2], [0, 1]), sums_from(disp[2:], [2, 3, 4])])
    np.testing.assert_allclose(C.iso_halves(merged, idx)[0], halves)
    # the label is the count-weighted mean of its halves
    mean, _ = dyn.propensity(whole, idx)
    np.testing.assert_allclose((3 * halves[0] + 2 * halves[1]) / 5, mean)
    old = sums_from(disp, [0, 1, 2, 3, 4])
    old.even_sum1 = old.even_sum2 = None  # a file written before the halves were kept
    assert C.iso_halves(old, idx) is None
    assert C.iso_halves(sums_from(disp[:1], [0]), idx) is None  # one replica: no second half


def write_propensity(path, rng, n: int = 400, r: int = 8, k: int = 2, halves: bool = True,
                     stderr: bool = True) -> None:
    """A propensity file like the pipeline's, from synthetic replicas (80 % A)."""
    types = (np.arange(n) >= int(0.8 * n)).astype(np.int32)
    _, disp = noisy_labels(rng, n, r, 0.3, np.full(n, 0.6), k)
    st = C.replica_statistics(disp)
    extra = {"halves": st["halves"], "half_replicas": st["half_replicas"]} if halves else {}
    np.savez(path, propensity=st["propensity"], stderr=st["stderr"] if stderr else np.full((k, n), np.nan),
             times=np.arange(1.0, k + 1), types=types, temperature=0.6,
             metadata=json.dumps({"n_replicas": r, "timescale_labels": [f"t{i}" for i in range(k)]}), **extra)


def test_ceiling_over_configurations(tmp_path):
    rng = np.random.default_rng(4)
    files = []
    for c in range(3):
        files.append(tmp_path / f"s{c}.npz")
        write_propensity(files[-1], rng)
    out = C.ceiling_over_configurations(files)
    truth = math.sqrt(true_reliability(0.3, np.full(1, 0.6), 8))
    for s in "AB":
        assert len(out[s]["ceiling"]) == 2 and out[s]["n_replicas"] == 8
        np.testing.assert_allclose(out[s]["ceiling"], truth, atol=0.04)
        np.testing.assert_allclose(out[s]["ceiling_split_half"], truth, atol=0.08)
        assert np.all(out[s]["projected"]["32"] > out[s]["projected"]["16"])
        assert np.all(out[s]["projected"]["16"] > out[s]["ceiling"])
        assert np.array(out[s]["ceiling_per_configuration"]).shape == (3, 2)
    assert out["note"] is None
    one = C.ceiling_over_configurations(files, columns=[1])
    np.testing.assert_allclose(one["A"]["ceiling"], out["A"]["ceiling"][1:])
    # replica means only (GlassBench): NaN with a note; no halves: analytic only, with a note
    write_propensity(tmp_path / "gb.npz", rng, halves=False, stderr=False)
    gb = C.ceiling_over_configurations([tmp_path / "gb.npz"])
    assert "A" not in gb and "GlassBench" in gb["note"]
    write_propensity(tmp_path / "old.npz", rng, halves=False)
    old = C.ceiling_over_configurations([tmp_path / "old.npz"])
    assert np.all(np.isfinite(old["A"]["ceiling"])) and np.all(np.isnan(old["A"]["ceiling_split_half"]))
    assert "split-half" in old["note"]


def test_bapst_file_ceiling_from_its_trajectories(tmp_path):
    """Bapst et al.'s test file keeps 30 trajectories at the first time only: a ceiling there (analytic
    and split-half agree), NaN at the other nine, and the published targets are untouched."""
    from equiglass.formats.published import read_bapst, write_imported

    src = shared_data("bapst/test_large.pickle")
    sample = read_bapst(src)
    write_imported(sample, tmp_path / "c.gsd", tmp_path / "p.npz")
    out = C.ceiling_over_configurations([tmp_path / "p.npz"])
    a = out["A"]
    assert a["n_replicas"] == 30
    assert 0.9 < a["ceiling"][0] < 1.0 and abs(a["ceiling"][0] - a["ceiling_split_half"][0]) < 0.02
    assert np.all(np.isnan(a["ceiling"][1:])) and "some timescales" in out["note"]
    import pickle

    with open(src, "rb") as fh:
        np.testing.assert_array_equal(sample.propensity, np.asarray(pickle.load(fh)["targets"], dtype=float))


def test_metrics_rows_carry_the_ceiling():
    from equiglass.steps.learn import metrics_rows

    m = {"pearson": [0.4, None], "pearson_sem": [0.01, 0.02], "pearson_pooled": [0.4, 0.3], "spearman": [0.4, 0.3],
         "mse": [1.0, 1.0], "n_configurations": 2}
    ceil = {"A": {"ceiling": [0.8, 0.7], "ceiling_sem": [0.01, 0.01], "ceiling_split_half": [0.79, None],
                  "n_replicas": 8, "projected": {"16": [0.88, 0.8], "32": [0.93, 0.87]},
                  "replicas_for_target": [20.0, None]}}
    ev = {"model": "ridge", "train_set": "T0.60", "n_parameters": 10,
          "results": {"0.60": {"metrics": {"A": m, "B": m}, "times": [1.0, 2.0], "timescale_labels": ["a", "b"],
                               "ceiling": ceil}}}
    rows = metrics_rows([ev])
    a0, a1, b0 = rows[0], rows[1], rows[2]
    assert a0["ceiling"] == 0.8 and a0["rho_over_ceiling"] == pytest.approx(0.5)
    assert a0["ceiling_split_half"] == 0.79 and a0["ceiling_16_replicas"] == 0.88 and a0["n_replicas"] == 8
    assert a0["replicas_for_ceiling_0.9"] == 20.0
    assert a1["rho_over_ceiling"] is None and a1["ceiling_split_half"] is None  # ρ or a check missing
    assert b0["ceiling"] is None and b0["rho_over_ceiling"] is None  # no ceiling for B: empty, not invented
    del ev["results"]["0.60"]["ceiling"]  # an evaluation written before the ceiling existed
    assert metrics_rows([ev])[0]["ceiling"] is None


def test_rho_figure_draws_the_ceiling_band(tmp_path, monkeypatch):
    from equiglass.figures import pipeline

    ceil = {"A": {"ceiling": [0.8, 0.7], "ceiling_sem": [0.01, 0.02], "ceiling_split_half": [0.75, 0.72],
                  "ceiling_split_half_sem": [0.01, 0.01], "n_replicas": 8}}
    res = {"times": [0.1, 1.0], "metrics": {"A": {"pearson": [0.4, 0.3], "pearson_sem": [0.01, 0.02]}},
           "ceiling": ceil}
    f = tmp_path / "ridge.json"
    f.write_text(json.dumps({"model": "ridge", "train_set": "T0.60", "results": {"0.60": res}}))
    _, lo, hi, reps = pipeline.ceiling_band([json.loads(f.read_text())], "0.60", "A")
    np.testing.assert_allclose(lo, [0.74, 0.68])
    np.testing.assert_allclose(hi, [0.81, 0.73])
    assert reps == 8 and pipeline.ceiling_band([json.loads(f.read_text())], "0.60", "B") is None
    drawn = {}
    monkeypatch.setattr(pipeline, "savefig", lambda fig, output: drawn.setdefault("fig", fig))
    pipeline.fig_rho_vs_time([str(f)], tmp_path / "rho.png")
    labels = [t.get_text() for t in drawn["fig"].axes[-1].get_legend().get_texts()]
    assert "noise ceiling A (8 replicas)" in labels, labels


def test_summary_ceiling_section():
    from equiglass.steps.summary import ceiling_section

    base = {"test_T": "0.60", "timescale": "Fs=0.368", "train_set": "T0.60", "n_replicas": "8", "ceiling_sem": "0.01",
            "ceiling_16_replicas": "0.78", "ceiling_32_replicas": "0.85", "replicas_for_ceiling_0.9": "27.3"}
    rows = [{**base, "model": "ridge", "type": "A", "pearson": "0.40", "ceiling": "0.69", "ceiling_split_half": "0.70",
             "rho_over_ceiling": "0.58"},
            {**base, "model": "se3gnn", "type": "A", "pearson": "0.45", "ceiling": "0.69", "ceiling_split_half": "0.70",
             "rho_over_ceiling": "0.65"},
            {**base, "model": "se3gnn", "type": "B", "pearson": "0.3", "ceiling": "0.6", "ceiling_split_half": "",
             "rho_over_ceiling": "0.5"}]
    text = "\n".join(ceiling_section(rows))
    assert "Spearman" in text and "0.450 (se3gnn, T0.60)" in text and "| 0.65 |" in text
    assert "T = 0.60: 0.69 with 8 replicas → 0.78 with 16, 0.85 with 32; 0.9 needs ≈ 28" in text
    assert "| 0.780 | 0.850 | 28 |" in text and "0.600 [n/a]" in text
    empty = "\n".join(ceiling_section([{**r, "ceiling": ""} for r in rows]))
    assert "Not available" in empty
