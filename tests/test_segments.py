"""Walltimes that fit: GPU slots, the time budget, and steps that stop at a checkpoint (exit 75)
and continue bit for bit when run again; the cost model's requests and segments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from test_checkpoints import run_cli, train_files  # noqa: F401  (fixture)

from conftest import REPO
from equiglass import devices

SLOT_CHILD = """
import sys, time
from equiglass import devices
print(devices.claim_slot(), devices.gpu_index(), flush=True)
time.sleep(float(sys.argv[1]))
"""


@pytest.fixture(autouse=True)
def _fresh_devices(monkeypatch, tmp_path):
    monkeypatch.setenv("EQUIGLASS_SLOT_DIR", str(tmp_path / "slots"))
    for var in ("EQUIGLASS_TIME_BUDGET_S", "EQUIGLASS_GPU_ID", "SLURM_JOB_ID"):
        monkeypatch.delenv(var, raising=False)
    devices.reset_for_tests()
    yield
    devices.reset_for_tests()


def test_processes_sharing_an_allocation_get_distinct_slots_and_spread_over_gpus(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "2,3", "SLURM_JOB_ID": "4242",
           "EQUIGLASS_SLOT_DIR": str(tmp_path / "slots"), "PYTHONPATH": str(REPO / "src")}
    procs = [subprocess.Popen([sys.executable, "-c", SLOT_CHILD, "3"], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(4)]
    got = sorted(tuple(map(int, p.communicate(timeout=60)[0].split())) for p in procs)
    assert got == [(0, 0), (1, 1), (2, 0), (3, 1)]  # four processes: two per visible GPU
    # a slot is free again once its process is gone (also when it was killed)
    again = subprocess.run([sys.executable, "-c", SLOT_CHILD, "0"], env=env, capture_output=True, text=True)
    assert again.stdout.split()[0] == "0"


def test_gpu_index_is_explicit(monkeypatch):
    monkeypatch.setenv("EQUIGLASS_GPU_ID", "1")
    assert devices.gpu_index() == 1
    monkeypatch.delenv("EQUIGLASS_GPU_ID")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5")
    assert devices.gpu_index() == 0 and "physical 5" in devices.describe_gpu(0)


@pytest.mark.parametrize(("text", "seconds"), [("1-02:03:04", 93784), ("02:03:04", 7384), ("03:04", 184),
                                               ("59", 59), ("UNLIMITED", None), ("INVALID", None)])
def test_slurm_time_left(text, seconds):
    assert devices.parse_slurm_time(text) == seconds


def test_budget(monkeypatch):
    assert devices.budget_allows(1e9)  # no SLURM job, no budget: no limit
    devices.reset_for_tests()
    monkeypatch.setenv("EQUIGLASS_TIME_BUDGET_S", "100")
    assert devices.budget_allows(50) and not devices.budget_allows(60)  # 1.5 x 60 + 20 s reserve > 100
    with pytest.raises(devices.SegmentDone, match="checkpoint saved"):
        devices.check_budget(60, "test", "epoch")


# ------------------------------------------------------------------ steps stop and continue
def _iso_args(tmp_path, liquid_256, replicas):
    from equiglass.formats.gsd_files import write_gsd
    from equiglass.md import MDSettings

    gsd = tmp_path / "start.gsd"
    if not gsd.exists():
        write_gsd(gsd, liquid_256)
    settings = {"temperature": 1.0, "sample": 0, "batch": 0, "replicas": replicas, "seed": 5,
                "tau_alpha_estimate": 1.0, "md": asdict(MDSettings()),
                "isoconfigurational": {"duration_tau_alpha": 2.0, "points_per_decade": 6}}
    return ["isoconfigurational", "--settings", json.dumps(settings), "--input", str(gsd)]


@pytest.mark.parametrize("workers", [1, 2])
def test_iso_job_stops_at_its_budget_and_continues_bit_for_bit(tmp_path, liquid_256, workers):
    from equiglass.iso import load_iso

    args = _iso_args(tmp_path, liquid_256, [0, 1, 2, 3])
    out = tmp_path / "iso.npz"
    budget = {**os.environ, "EQUIGLASS_TIME_BUDGET_S": "0"}
    res = run_cli(*args, "--output", str(out), "--workers", str(workers), env=budget)
    assert res.returncode == 75, res.stderr
    assert "segment done, resubmit to continue" in res.stderr
    ckpt = tmp_path / "iso.checkpoint.npz"
    assert not out.exists() and 0 < load_iso(ckpt).n_replicas < 4
    res = run_cli(*args, "--output", str(out), "--workers", str(workers))
    assert res.returncode == 0, res.stderr
    assert "resuming" in res.stderr
    ref = tmp_path / "ref.npz"
    assert run_cli(*args, "--output", str(ref)).returncode == 0
    a, b = load_iso(out), load_iso(ref)
    for key in ("sum1", "sum2", "sum4", "fs", "msd", "seeds", "energy_drift", "replicas", "even_sum1", "even_sum2"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key), err_msg=key)


def test_md_run_stops_at_its_budget_and_continues_bit_for_bit(tmp_path, liquid_256, monkeypatch):
    from equiglass.md import MDSettings, equilibration_phases, run_phases

    md = MDSettings(segment_time=1.0)
    phases = equilibration_phases(1.0, 3.0, melt_time=0.0)
    ck = tmp_path / "ck.npz"
    monkeypatch.setenv("EQUIGLASS_TIME_BUDGET_S", "0")
    devices.reset_for_tests()
    with pytest.raises(devices.SegmentDone):
        run_phases(liquid_256, phases, md, 3, "seg", checkpoint=ck)
    assert ck.exists()
    monkeypatch.delenv("EQUIGLASS_TIME_BUDGET_S")
    devices.reset_for_tests()
    got, log = run_phases(liquid_256, phases, md, 3, "seg", checkpoint=ck)
    ref, ref_log = run_phases(liquid_256, phases, md, 3, "ref")
    np.testing.assert_array_equal(got.positions, ref.positions)
    np.testing.assert_array_equal(got.velocities, ref.velocities)
    assert log.rows == ref_log.rows


def test_training_stops_at_its_budget_and_continues_to_the_same_model(train_files):  # noqa: F811
    tmp_path, args = train_files
    out, ref = tmp_path / "m", tmp_path / "ref"
    res = run_cli(*args, "--out-dir", str(out), env={**os.environ, "EQUIGLASS_TIME_BUDGET_S": "0"})
    assert res.returncode == 75, res.stderr
    assert "segment done, resubmit to continue" in res.stderr and not (out / "model.pt").exists()
    res = run_cli(*args, "--out-dir", str(out))
    assert res.returncode == 0, res.stderr
    assert "resuming after epoch 1" in res.stderr
    assert run_cli(*args, "--out-dir", str(ref)).returncode == 0
    assert (out / "model.pt").read_bytes() == (ref / "model.pt").read_bytes()
    assert (out / "history.csv").read_text() == (ref / "history.csv").read_text()


# ------------------------------------------------------------------------------ cost model
@pytest.fixture(scope="module")
def paper():
    from equiglass.config import load_config

    return load_config(REPO / "config.yaml", REPO / "presets/paper.yaml")


def test_walltimes_fit_and_long_jobs_have_segments(paper):
    from equiglass import plan as P

    cap = paper["cluster"]["max_runtime"]
    train = P.train_seconds(paper, 260, 40, "se3gnn") / 60
    assert train * paper["cluster"]["runtime_margin"] > cap  # longer than a partition allows
    assert all(P.request_minutes(train, paper, attempt) == cap for attempt in (1, 2, 5))
    n = P.segments(train, paper)
    assert n >= 2 and P.retries(paper, train) == n - 1 + paper["cluster"]["retries"]
    short = P.md_minutes(paper, "equilibrate", 0.64, 100, gpu=True)
    assert P.request_minutes(short, paper, 1) < P.request_minutes(short, paper, 2) <= cap  # grows on retry
    for T in paper["temperatures"]:
        iso = P.md_minutes(paper, "isoconfigurational", T, 0, gpu=True)
        assert P.request_minutes(iso, paper) <= cap


def test_gpu_model_from_the_published_benchmark(paper):
    from equiglass import plan as P

    assert P.HOOMD_LJ_BENCHMARK["particle_steps_per_s"] == pytest.approx(1.42e8, rel=0.01)
    alone, shared = P.gpu_process_rate(paper, 1), P.gpu_process_rate(paper, 8)
    full = paper["cluster"]["gpu_throughput"] * P.ka_neighbour_factor(paper)
    assert alone < full and 8 * shared == pytest.approx(full)  # eight processes fill the GPU
    assert P.iso_workers(paper, gpu=True) == 8 and P.iso_workers(paper, gpu=False) == 1
    # packing: all 32 replicas of a configuration in one allocation, 8 at a time on one GPU
    packed = P.md_seconds(paper, "isoconfigurational", 0.44, gpu=True)
    one_by_one = 32 * P.replica_steps(paper, 0.44) * 4096 / alone
    assert packed < one_by_one / 2


def test_memory_is_what_runs_at_once(paper):
    from equiglass import plan as P

    one = P.md_mem_mb(paper, "equilibrate", True)
    iso = P.md_mem_mb(paper, "isoconfigurational", True)
    assert iso < 8 * one + 2000  # eight worker processes, not a sum over queued jobs
    assert P.learn_mem_mb(paper, 300) < 16000


def test_no_gpu_anywhere_means_no_gpu_request(paper, monkeypatch):
    from equiglass import plan as P

    monkeypatch.delenv("EQUIGLASS_GPU_PARTITION", raising=False)
    monkeypatch.setenv("EQUIGLASS_GPUS", "0")
    assert not P.gpus_requestable(paper)
    assert not P.train_uses_gpu(paper, "se3gnn") and not P.md_uses_gpu(paper)
    monkeypatch.setenv("EQUIGLASS_GPUS", "1")
    assert P.train_uses_gpu(paper, "se3gnn") and P.md_uses_gpu(paper)
    assert not P.train_uses_gpu(paper, "ridge")  # closed form: never a GPU
    monkeypatch.delenv("EQUIGLASS_GPUS")
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # no sinfo, no nvidia-smi
    if not Path("/dev/nvidia0").exists():
        assert not P.gpus_requestable(paper)


def test_plan_costs_every_learning_rule(paper):
    from equiglass import plan_totals as P

    counts = {"train": 20, "evaluate": 20, "ablation_train": 29, "ablation_evaluate": 29, "transfer": 1,
              "interpret": 1, "isoconfigurational": 2000, "graphs": 2000}
    rows = {r["rule"]: r for r in P.plan(paper, counts, {"0.44": 260}, gpus=True, n_test_graphs=500)}
    for rule in ("train", "evaluate", "ablation_train", "ablation_evaluate", "transfer", "interpret"):
        assert rows[rule]["minutes_per_job"] > 1 and rows[rule]["gpus_per_job"] == 1, rows[rule]
    assert rows["train"]["segments"] > 1 and rows["ablation_train"]["segments"] > 1  # Bapst: 10 models per job
    assert rows["isoconfigurational"]["gpus_per_job"] == 1 and rows["graphs"]["gpu_hours"] == 0
    no_gpu = {r["rule"]: r for r in P.plan(paper, counts, {"0.44": 260}, gpus=False, n_test_graphs=500)}
    assert sum(r["gpu_hours"] for r in no_gpu.values()) == 0
    # training.seeds: the replicate jobs cost as the families they retrain (ridge, closed form, has none)
    seeded = {**paper, "training": {**paper["training"], "seeds": 3}}
    both = {r["rule"]: r for r in P.plan(seeded, {"train": 20, "train_seed": 40}, {"0.44": 260}, gpus=True)}
    assert both["train_seed"]["minutes_per_job"] > both["train"]["minutes_per_job"] > 1  # ridge's minute left out
    assert both["train_seed"]["gpus_per_job"] == 1 and both["train_seed"]["gpu_hours"] > 0
