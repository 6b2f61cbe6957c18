"""The Snakemake workflow: the tiny DAG end to end, dry runs of quick and paper, caching."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

WORKFLOW_FILES = ["Snakefile", "config.yaml", "workflow", "presets", "profiles", "envs"]


def snakemake(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run Snakemake in ``workdir``; $EQUIGLASS_TEST_TIMEOUT_SCALE stretches the timeout on a busy machine."""
    timeout = int(timeout * float(os.environ.get("EQUIGLASS_TEST_TIMEOUT_SCALE", "1")))
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=timeout)


def copy_workflow(dest: Path) -> Path:
    """The workflow's files copied into ``dest`` (made if missing); returns ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, symlinks=False)
        else:
            shutil.copy(src, dest / name)
    return dest


def fake_python(bindir: Path, stderr: str = "") -> Path:
    """A `python` in ``bindir`` that fails (printing ``stderr``), as on a login node without the
    science stack; returns ``bindir`` to put first on PATH."""
    bindir.mkdir(parents=True, exist_ok=True)
    say = f"echo {shlex.quote(stderr)} >&2\n" if stderr else ""
    (bindir / "python").write_text(f"#!/bin/sh\n{say}exit 1\n")
    (bindir / "python").chmod(0o755)
    return bindir


def job_counts(stdout: str) -> dict[str, int]:
    counts = {}
    block = stdout.split("Job stats:")[-1]
    for line in block.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m and m.group(1) != "total":
            counts[m.group(1)] = int(m.group(2))
    return counts


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("tiny"))
    # ~5 min alone on 2 cores; next to the other xdist worker's tests up to ~15 min
    res = snakemake(work, "--cores", "2", "--configfile", "presets/tiny.yaml", timeout=1800)
    assert res.returncode == 0, res.stderr[-4000:]
    return work


def test_tiny_dag_produces_metrics_and_figures(tiny_run):
    work = tiny_run
    metrics = (work / "results/tables/metrics.csv").read_text().splitlines()
    assert len(metrics) == 1 + 2 * 2 * 2 * 2 * 3  # header + models x sets x temperatures x types x timescales
    for fig in ["dynamics", "rho_vs_time", "training_curves", "snapshot_T0.80"]:
        assert (work / f"results/figures/{fig}.png").stat().st_size > 10_000
        assert (work / f"results/figures/{fig}.pdf").exists()
    for fig in ["generalization_matrix", "generalization_curves", "transfer", "interpretability",
                "interpretability_map"]:
        assert (work / f"results/figures/{fig}.png").stat().st_size > 10_000, fig
    gen = (work / "results/experiments/generalization.csv").read_text().splitlines()
    assert len(gen) == 1 + 2 * 2 * 2 * 2 * 3
    tr = json.loads((work / "results/experiments/transfer.json").read_text())
    assert set(tr["methods"]) == {"frozen", "fine_tune", "scratch", "ridge"} and tr["n_configs"] == [1, 2]
    it = json.loads((work / "results/experiments/interpretability.json").read_text())
    assert len(it["layers"]) == 3 and "local energy" in it["descriptors"]
    assert all(len(row) == len(it["layers"][1]["features"]) for row in it["layers"][1]["correlation"])
    summary = (work / "results/summary.md").read_text()
    assert "Transfer learning" in summary and "published" in summary.lower()
    assert "## The paper's claims on our data" in summary and "**unresolved" in summary
    # paired comparisons with intervals, and the ablations the study preset runs, exercised at tiny scale
    comp = (work / "results/tables/comparisons.csv").read_text().splitlines()
    assert comp[0].startswith("model_a,model_b,train_set,test_T,unseen,species,timescale,time,is_tau_alpha,delta_rho,"
                              "ci_low,ci_high,n_configurations,resolved,verdict")
    assert any(line.startswith("se3gnn@T0.80,ridge@T0.80,") for line in comp)
    assert any(line.startswith("se3gnn l_max = 1,se3gnn l_max = 0,") for line in comp)
    for fig in ["ablation_lmax", "ablation_depth", "ablation_inputs", "learning_curves", "comparisons"]:
        assert (work / f"results/figures/{fig}.png").stat().st_size > 10_000, fig
    lmax = json.loads((work / "results/ablations/ablation_lmax.json").read_text())
    assert [r["setting"] for r in lmax["rows"]] == ["l_max = 0", "l_max = 1"]
    n0, n1 = (r["n_parameters"] for r in lmax["rows"])
    assert abs(n0 - n1) / n1 < 0.15  # near-equal parameter count
    ev = json.loads((work / "results/eval/se3gnn/T0.80+1.00.json").read_text())
    assert set(ev["results"]) == {"0.80", "1.00"}
    assert ev["provenance"]["versions"]["torch"]
    no_tmp = [p for p in work.rglob(".*.partial")]
    assert not no_tmp, f"temporary files left behind: {no_tmp}"
    # per-particle fields where OVITO reads particle properties: log/particles/<name>, one value per particle
    import gsd.fl

    with gsd.fl.open(str(next(work.glob("results/propensity/T0.80/*.gsd"))), "r") as f:
        n = int(f.read_chunk(0, "particles/N")[0])
        for k in range(3):
            assert f.read_chunk(0, f"log/particles/propensity_{k}").shape == (n,)


def test_tiny_rerun_is_noop_and_param_change_reruns_only_learning(tiny_run):
    work = tiny_run
    res = snakemake(work, "--cores", "1", "--configfile", "presets/tiny.yaml", "--dry-run")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Nothing to be done" in res.stdout + res.stderr
    (work / "more_epochs.yaml").write_text("training: {epochs: 3}\n")
    res = snakemake(work, "--cores", "1", "--configfile", "presets/tiny.yaml", "more_epochs.yaml", "--dry-run")
    assert res.returncode == 0, res.stderr[-3000:]
    counts = job_counts(res.stdout)
    assert counts.get("train") == 4
    assert not {"equilibrate", "isoconfigurational", "propensity", "graphs", "dynamics"} & set(counts)


def test_report_is_generated(tiny_run):
    res = snakemake(tiny_run, "--cores", "1", "--configfile", "presets/tiny.yaml", "--report", "results/report.html")
    assert res.returncode == 0, res.stderr[-3000:]
    html = (tiny_run / "results/report.html").read_text(errors="ignore")
    assert "dynamics.png" in html and "metrics.csv" in html


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("quick", {"equilibrate": 30, "isoconfigurational": 30, "propensity": 30, "dynamics": 3, "train": 6, "compare": 1,
                   "transfer": 1, "interpret": 1, "generalization": 1}),
        ("paper", {"equilibrate": 2000, "isoconfigurational": 2000, "propensity": 2000, "graphs": 2000,
                   "dynamics": 5, "train": 20, "evaluate": 20}),
    ],
)
def test_dry_run_of_larger_presets(tmp_path, preset, expected):
    work = copy_workflow(tmp_path)
    args = ["--cores", "2", "--dry-run", "--quiet", "rules", "reason", "host"]
    if preset != "quick":
        args += ["--configfile", f"presets/{preset}.yaml"]
    res = snakemake(work, *args, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    counts = job_counts(res.stdout)
    assert {k: counts.get(k) for k in expected} == expected


def test_bad_config_stops_with_message(tmp_path):
    work = copy_workflow(tmp_path)
    (work / "bad.yaml").write_text("md: {enigne: hoomd}\n")
    res = snakemake(work, "--cores", "1", "--configfile", "bad.yaml", "--dry-run")
    assert res.returncode != 0
    assert "unknown key 'md.enigne' (did you mean 'engine'?)" in res.stderr + res.stdout


def test_python_on_path_without_dependencies_stops_with_the_fix(tmp_path):
    """Rules run the `python` on PATH: one that lacks the packages stops the DAG build with the fix."""
    work = copy_workflow(tmp_path / "w")
    fake = fake_python(tmp_path / "bin", "ModuleNotFoundError: No module named 'gsd'")
    env = {**os.environ, "PATH": f"{fake}:/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "--dry-run"], cwd=work, env=env,
                         capture_output=True, text=True, timeout=300)
    out = res.stderr + res.stdout
    assert res.returncode != 0
    assert "No module named 'gsd'" in out and "source .venv/bin/activate" in out, out[-2000:]


def _write_glassbench(root: Path, n: int = 256) -> None:
    import numpy as np

    from equiglass.md import MDSettings, equilibration_phases, initial_state, run_phases

    rng = np.random.default_rng(0)
    box = (n / 1.2) ** (1 / 3)
    base, _ = run_phases(initial_state(n, 1.2, 3), equilibration_phases(1.0, 5.0, melt_time=2.0), MDSettings(),
                         seed=1, label="gb", minimize_first=True)
    for temp in ("0.44", "0.50"):
        for part, ids in (("train", range(1, 6)), ("test", (401, 402))):
            folder = root / f"T{temp}" / part
            folder.mkdir(parents=True)
            for i in ids:
                pos = (base.positions + rng.normal(scale=0.05, size=(n, 3))) % box
                prop = rng.uniform(0.1, 1.0, size=(n, 10))
                np.savez(folder / f"N{n}T{temp}_{i}.npz", types=base.types, initial_positions=pos,
                         initial_positions_inherent=pos, initial_positions_cage=pos, md_prop=prop, bb_prop=prop)


def test_glassbench_source_runs_learning_rules(tmp_path):
    """GlassBench files in place of simulation: import, graphs, training, evaluation. (Ablations
    off: with them the test cost 8 min of CI, and the tiny DAG tests them on simulated data.)"""
    work = copy_workflow(tmp_path)
    _write_glassbench(work / "gb")
    (work / "gb.yaml").write_text(
        "data: {source: glassbench, path: gb, times: {'0.50': [0.108, 0.3, 1, 3, 10, 30, 100, 300, 1000, 6860]}}\n"
        "inputs: {positions: inherent}\nexperiments: {enabled: false}\nablations: {enabled: false}\n"
        "temperatures: [0.44, 0.50]\nsamples: 5\nsplit: {validation: 1, test: 2}\n"
        "training: {models: [ridge], sets: [[0.44], [0.50]]}\n"
    )
    res = snakemake(work, "--cores", "2", "--configfile", "presets/tiny.yaml", "gb.yaml")
    assert res.returncode == 0, res.stderr[-4000:]
    ev = json.loads((work / "results/eval/ridge/T0.44.json").read_text())
    assert ev["results"]["0.44"]["times"][6] == 4120.0
    assert ev["results"]["0.50"]["times"][-1] == 6860.0
    assert len(ev["results"]["0.44"]["configurations"]) == 2  # GlassBench's own test files
    assert not (work / "results/md/T0.44/s000/iso_b00.npz").exists()  # nothing simulated
    # DeepMind's published model (trained at T = 0.44, F_s = 0.9) is evaluated where the test data
    # are at 0.44, on its own inputs (thermal positions, cutoff 2.0; here the others read inherent ones)
    pub = json.loads((work / "results/eval/published/deepmind-t044-s09.json").read_text())
    assert list(pub["results"]) == ["0.44"] and pub["results"]["0.44"]["timescale_labels"] == ["t=0.13"]
    table = (work / "results/tables/metrics.csv").read_text()
    assert table.count("published:deepmind-t044-s09") == 2  # types A and B


def _arrays(path: Path) -> dict:
    import numpy as np

    if path.suffix == ".gsd":
        from equiglass.formats.gsd_files import read_gsd

        st = read_gsd(path)
        return {"positions": st.positions, "velocities": st.velocities, "image": st.image}
    with np.load(path) as z:
        return {k: z[k] for k in z.files if k != "metadata"}


def test_tiny_dag_is_deterministic(tiny_run, tmp_path):
    """Same config and seeds: a second run of the tiny DAG gives bit-identical data and models.
    (The second run leaves out ablations and experiments, which change none of the files compared:
    it costs half the CPU time.)"""
    import numpy as np

    other = copy_workflow(tmp_path)
    (other / "lean.yaml").write_text("ablations: {enabled: false}\nexperiments: {enabled: false}\n")
    res = snakemake(other, "--cores", "2", "--configfile", "presets/tiny.yaml", "lean.yaml", timeout=1800)
    assert res.returncode == 0, res.stderr[-3000:]
    patterns = ["results/md/*/*/equilibrated.gsd", "results/md/*/*/iso_b*.npz", "results/propensity/*/*.npz",
                "results/graphs/*/*.npz", "results/dynamics/*.npz"]
    compared = 0
    for pattern in patterns:
        for a in sorted(tiny_run.glob(pattern)):
            b = other / a.relative_to(tiny_run)
            xa, xb = _arrays(a), _arrays(b)
            assert xa.keys() == xb.keys()
            for k in xa:
                if xa[k] is not None:
                    np.testing.assert_array_equal(xa[k], xb[k], err_msg=f"{a.relative_to(tiny_run)}:{k}")
            compared += 1
    assert compared >= 40
    for a in sorted(tiny_run.glob("results/models/*/*/model.json")):
        b = other / a.relative_to(tiny_run)
        assert json.loads(a.read_text())["content_hash"] == json.loads(b.read_text())["content_hash"], a
    for a in sorted(tiny_run.glob("results/eval/*/*.json")):
        b = other / a.relative_to(tiny_run)
        assert json.loads(a.read_text())["results"] == json.loads(b.read_text())["results"], a
    # result files hold no wall-clock times (those live in provenance and timing.json): same bytes
    same_bytes = ["results/models/*/*/model.pt", "results/models/*/*/history.csv", "results/tables/metrics.*"]
    files = [a for pattern in same_bytes for a in sorted(tiny_run.glob(pattern))]
    assert len(files) >= 10
    for a in files:
        assert a.read_bytes() == (other / a.relative_to(tiny_run)).read_bytes(), a.relative_to(tiny_run)
    # a deleted model is rebuilt from its finished checkpoint, without training again
    model = other / "results/models/se3gnn/T0.80/model.pt"
    before = model.read_bytes()
    model.unlink()
    res = snakemake(other, str(model.relative_to(other)), "--cores", "2", "--configfile", "presets/tiny.yaml",
                    "lean.yaml")
    assert res.returncode == 0, res.stderr[-3000:]
    assert model.read_bytes() == before
    assert "finished" in (other / "logs/train/se3gnn_T0.80.log").read_text()


def test_seed_replicates_retrain_a_model_of_the_run(tiny_run):
    """scripts/seed_replicates.py: seed 0 is the run's own model, seed 1 another training; the
    comparison holds both seeds; a finished set is not retrained; --set needs a --tag."""
    script = [sys.executable, str(REPO / "scripts/seed_replicates.py"), "--configfile", "presets/tiny.yaml",
              "--model", "se3gnn", "--trainset", "T0.80", "--seeds", "2", "--jobs", "1"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    res = subprocess.run(script, cwd=tiny_run, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    out = tiny_run / "results/seed_replicates/se3gnn/T0.80/default"
    s0, s1 = (json.loads((out / f"s{k}/evaluation.json").read_text()) for k in (0, 1))
    run = json.loads((tiny_run / "results/eval/se3gnn/T0.80.json").read_text())
    assert s0 == run and (out / "s1/model.pt").exists()
    assert s1["results"]["0.80"]["metrics"]["A"]["pearson"] != run["results"]["0.80"]["metrics"]["A"]["pearson"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"]["0"] != summary["seeds"]["1"]
    rows = [r for r in summary["rows"] if r["b"] == "ridge@T0.80"]
    assert rows and all(r["seeds_a"] == 2 and r["seeds_b"] == 1 and r["ci_low"] <= r["delta_rho"] <= r["ci_high"]
                        for r in rows)
    again = subprocess.run(script, cwd=tiny_run, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0 and "training …" not in again.stdout
    refused = subprocess.run(script + ["--set", "training.epochs=3"], cwd=tiny_run, env=env, capture_output=True,
                             text=True, timeout=900)
    assert refused.returncode != 0 and "--tag" in refused.stderr
