"""The Snakemake workflow: the tiny DAG end to end, dry runs of quick and paper, caching."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO

WORKFLOW_FILES = ["Snakefile", "config.yaml", "workflow", "presets", "profiles", "envs"]
# the tests that read the tiny run (the session fixture `tiny_run` of conftest.py): one xdist worker
# (`make test`: --dist loadgroup), so that the run is made once
TINY = pytest.mark.xdist_group("tiny_run")


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


@TINY
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
    # the noise ceiling of the test labels (4 replicas in 2 batches), with its split-half check, everywhere
    import csv

    for r in csv.DictReader(open(work / "results/tables/metrics.csv")):
        ceil, split = float(r["ceiling"]), float(r["ceiling_split_half"])
        assert 0 < ceil < 1 and 0 <= split <= 1 and r["n_replicas"] == "4", r
        assert float(r["ceiling_32_replicas"]) > float(r["ceiling_16_replicas"]) > ceil
        if r["pearson"] not in ("", "nan"):
            assert float(r["rho_over_ceiling"]) == pytest.approx(float(r["pearson"]) / ceil)
    assert "## Noise ceiling" in summary and "**Replicas needed**" in summary
    with np.load(next(work.glob("results/propensity/T0.80/*.npz"))) as p:
        assert p["halves"].shape == (2, *p["propensity"].shape) and p["half_replicas"].tolist() == [2, 2]
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


@TINY
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


@TINY
def test_config_reference_names_the_rules_snakemake_reruns(tiny_run, tmp_path):
    """docs/configuration.md's re-runs against Snakemake's own: after changing a key, every job
    Snakemake re-runs because its params or input files changed belongs to a listed rule, and every
    listed rule of the tiny DAG re-runs (directly, or downstream of one that does)."""
    from equiglass import config_reference

    changes = {"training.epochs": "training: {epochs: 3}", "figures.snapshot_slab": "figures: {snapshot_slab: 3.0}",
               "experiments.transfer.lr": "experiments: {transfer: {lr: 0.002}}", "seeds.model": "seeds: {model: 5}",
               "propensity.kind": "propensity: {kind: squared_displacement}"}
    keys = [e for e in config_reference.entries(config_reference.schema()) if e.key in changes]
    listed = config_reference.reruns(REPO, keys)
    res = snakemake(tiny_run, "--dry-run", "--forceall", "--quiet", "rules", "--configfile", "presets/tiny.yaml")
    in_dag = set(job_counts(res.stdout))
    for key, overlay in changes.items():
        (tmp_path / "change.yaml").write_text(overlay + "\n")
        res = snakemake(tiny_run, "--dry-run", "--configfile", "presets/tiny.yaml", str(tmp_path / "change.yaml"))
        assert res.returncode == 0, res.stderr[-3000:]
        direct, rule = set(), None
        for line in res.stdout.splitlines():
            if m := re.match(r"^(?:local)?rule (\w+):", line):
                rule = m.group(1)
            elif "reason:" in line and ("Params have changed" in line or "Set of input files has changed" in line):
                direct.add(rule)
        assert direct, f"{key}: nothing re-runs"
        assert direct <= set(listed[key]), f"{key}: Snakemake re-runs {sorted(direct - set(listed[key]))} too"
        assert set(listed[key]) & in_dag <= set(job_counts(res.stdout)), key


@TINY
def test_report_is_generated(tiny_report):
    html = tiny_report.read_text(errors="ignore")
    assert "dynamics.png" in html and "metrics.csv" in html


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("quick", {"equilibrate": 30, "isoconfigurational": 30, "propensity": 30, "dynamics": 3, "train": 6, "compare": 1,
                   "transfer": 1, "interpret": 1, "generalization": 1, "train_seed": None}),  # one seed per model
        # 3 training seeds of se3gnn, bapst and descriptor_mlp (one set, T = 0.6); ridge (closed form) once
        # 40 + 9 + 9 configurations at T = 0.6, 0.7, 0.8 and 6 at the test-only 0.56; every test configuration
        # (6 per temperature) gets a second batch of replicas (test_replicas 16)
        ("study", {"train": 4, "evaluate": 4, "train_seed": 6, "evaluate_seed": 6, "compare": 1, "table": 1,
                   "equilibrate": 64, "isoconfigurational": 64 + 4 * 6, "dynamics": 4}),
        ("paper", {"equilibrate": 2000, "isoconfigurational": 2000, "propensity": 2000, "graphs": 2000,
                   "dynamics": 5, "train": 20, "evaluate": 20, "train_seed": None}),
        # no GlassBench on disk: the download is planned (offline too), the files named by its layout
        ("glassbench", {"glassbench_download": 1, "glassbench_unpack": 1, "import_sample": 2000, "graphs": 2000,
                        "import_dynamics": 4, "train": 16, "evaluate": 16, "published_predictions": 1,
                        "equilibrate": None}),
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


@pytest.fixture
def http_folder(tmp_path):
    """A local HTTP server (HEAD and GET, as Snakemake's http storage plugin asks) over a folder:
    yields (folder, base URL)."""
    import functools
    import http.server
    import threading

    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_glassbench_preset_downloads_and_compares_with_deposited_predictions(tmp_path, http_folder):
    """The glassbench preset's rules, scaled down by an overlay, on a tiny archive in GlassBench's
    layout (tests/glassbench_fixture.py) served over HTTP: planned download, Snakemake's http storage
    plugin, md5 checked, unpacked, imported, four model families trained and evaluated, the three
    experiments, and ours compared paired with the test files' deposited predictions. (The overlay
    drops the descriptor MLP, trained like the others, to keep the test near 4 min on 2 cores.)"""
    import hashlib

    from glassbench_fixture import make_glassbench_zip

    served, url = http_folder
    archive = make_glassbench_zip(served / "GlassBench.zip")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    work = copy_workflow(tmp_path / "w")
    (work / "tiny_glassbench.yaml").write_text(
        "# the glassbench preset scaled down to the fixture (N = 256, two temperatures, 4 + 3 files each)\n"
        "system: {n_particles: 256}\ntemperatures: [0.44, 0.64]\nsamples: 4\nsplit: {validation: 1, test: 3}\n"
        f"data: {{path: gb, fetch: {{url: '{url}/GlassBench.zip', md5: '{md5}', size: {archive.stat().st_size}}}}}\n"
        "descriptors: {l_values: [4, 6], radial_max: 2.0, coarse_grain_cutoff: 1.5}\n"
        "training: {models: [se3gnn, bapst, ridge], sets: [[0.44], [0.64]], epochs: 2, patience: 2, threads: 1,\n"
        "           model_sets: {se3gnn: [[0.44]], bapst: [[0.44]]}, per_model: {bapst: {epochs: 1, patience: 1}}}\n"
        "models: {se3gnn: {mul: 4, l_max: 1, n_layers: 2, radial_hidden: 8, readout_hidden: 8, checkpoint: false},\n"
        "         bapst: {mlp_sizes: [8, 8], n_recurrences: 2}}\n"
        "experiments: {transfer: {source: [0.44], target: 0.64, n_configs: [1, 2], readout_epochs: 30,\n"
        "              fine_tune_epochs: 1, scratch_epochs: 1}, interpret: {model_set: [0.44], temperature: 0.44,\n"
        "              n_configs: 2}}\n"
    )
    args = ["--configfile", "presets/glassbench.yaml", "tiny_glassbench.yaml"]
    res = snakemake(work, "--cores", "2", *args, "--dry-run", "--quiet", "rules", timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    counts = job_counts(res.stdout)
    assert counts["glassbench_download"] == 1 and counts["glassbench_unpack"] == 1
    assert counts["import_sample"] == 2 * (4 + 3) and counts["published_predictions"] == 1
    res = snakemake(work, "--cores", "2", *args, timeout=1200)
    assert res.returncode == 0, res.stderr[-4000:]

    record = json.loads((work / "results/glassbench/archive.json").read_text())
    assert record["md5"] == md5 and record["md5_checked"]
    assert (work / "gb/T0.64/test/N256T0.64_403.npz").exists()  # GlassBench's names, unpacked
    ev = json.loads((work / "results/eval/se3gnn/T0.44.json").read_text())
    assert ev["results"]["0.44"]["times"][6] == 4120.0 and ev["results"]["0.44"]["timescale_labels"][6] == "1tau_a"
    assert ev["results"]["0.64"]["times"][0] == 0.032 and ev["results"]["0.64"]["timescale_labels"][6] == "1tau_a"
    assert ev["results"]["0.44"]["configurations"] == ["T0.44/s004", "T0.44/s005", "T0.44/s006"]  # its own test/ files
    assert not (work / "results/md/T0.44/s000/iso_b00.npz").exists()  # nothing simulated
    # the deposited predictions, scored over the same test configurations and compared paired
    dep = json.loads((work / "results/published/SE3.json").read_text())
    assert dep["results"]["0.44"]["configurations"] == ev["results"]["0.44"]["configurations"]
    rho = dep["results"]["0.44"]["metrics"]["A"]["pearson"]
    assert 0.5 < rho[0] < 1.0  # md_prop plus noise of half its spread: rho ~ 0.9
    rows = list(csv.DictReader(open(work / "results/tables/comparisons.csv")))
    ours_vs = {(r["model_a"], r["model_b"]) for r in rows if r["source"].startswith("GlassBench test files")}
    assert {("se3gnn@T0.44", "GlassBench:SE3"), ("ridge@T0.64", "GlassBench:BOTAN")} <= ours_vs
    assert all(int(r["n_configurations"]) == 3 for r in rows if r["model_b"].startswith("GlassBench:"))
    summary = (work / "results/summary.md").read_text()
    assert "## Paired against the predictions deposited with the data" in summary
    assert "− GlassBench:SE3" in summary and "| se3gnn@T0.44 | 0.44 | 1tau_a | 3 |" in summary
    assert "Like for like" in summary
    assert (work / "results/figures/rho_vs_time.png").stat().st_size > 10_000
    # the data are on disk now: the same command plans nothing, no download
    res = snakemake(work, "--cores", "1", *args, "--dry-run", timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Nothing to be done" in res.stdout + res.stderr
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


@TINY
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


@TINY
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


def test_training_seeds_train_evaluate_and_compare_each_seed(tiny_run, tmp_path):
    """training.seeds = 2 for se3gnn (an overlay on a copy of the finished tiny run): replicate 0 is the
    run's own model (nothing retrained: same bytes), replicate 1 trains from its own seed into seed1/
    and is evaluated; metrics.csv, comparisons.csv and summary.md are seed-aware; and
    scripts/seed_replicates.py reuses the workflow's seeds and gives comparisons.csv's numbers."""
    from equiglass.settings import replicate_seed

    work = tmp_path / "seeds"
    shutil.copytree(tiny_run, work, symlinks=True)
    shutil.rmtree(work / "results/seed_replicates", ignore_errors=True)  # (another test's)
    (work / "seeds.yaml").write_text("training: {per_model: {se3gnn: {seeds: 2}}}\n")
    args = ["--cores", "2", "--configfile", "presets/tiny.yaml", "seeds.yaml"]
    plan = snakemake(work, *args, "--dry-run", "--quiet", "rules")
    assert plan.returncode == 0, plan.stderr[-3000:]
    counts = job_counts(plan.stdout)
    assert counts.get("train_seed") == 2 and counts.get("evaluate_seed") == 2, counts
    assert not {"train", "evaluate", "ablation_train", "transfer", "interpret"} & set(counts)
    assert counts.get("generalization") == 1  # its paired Δρ resample the seeds too
    before = {p: p.read_bytes() for p in work.glob("results/models/*/*/model.pt")}
    old = {(r["model"], r["train_set"], r["test_T"], r["type"], r["timescale"]): r
           for r in csv.DictReader(open(work / "results/tables/metrics.csv"))}
    res = snakemake(work, *args, timeout=1800)
    assert res.returncode == 0, res.stderr[-4000:]
    assert len(before) == 4 and all(p.read_bytes() == b for p, b in before.items())
    evals = {}
    for ts in ("T0.80", "T0.80+1.00"):
        first = json.loads((work / f"results/models/se3gnn/{ts}/model.json").read_text())["info"]["training"]["seed"]
        second = json.loads((work / f"results/models/se3gnn/{ts}/seed1/model.json").read_text())
        assert second["info"]["training"]["seed"] == replicate_seed(first, 1) != first
        evals[ts] = [json.loads((work / f"results/eval/se3gnn/{ts}{part}.json").read_text()) for part in ("", "/seed1")]
        assert evals[ts][1]["training_seed"] == replicate_seed(first, 1)
    rows = list(csv.DictReader(open(work / "results/tables/metrics.csv")))
    assert len(rows) == len(old)
    for r in rows:
        key = (r["model"], r["train_set"], r["test_T"], r["type"], r["timescale"])
        if r["model"] == "ridge":  # one seed: the same numbers as before
            assert r["n_seeds"] == "1" and r["pearson_seed_std"] == "" and r["pearson"] == old[key]["pearson"]
            continue
        results = [e["results"][f"{float(r['test_T']):.2f}"] for e in evals[r["train_set"]]]
        k = results[0]["timescale_labels"].index(r["timescale"])
        per_seed = [x["metrics"][r["type"]]["pearson"][k] for x in results]
        assert r["n_seeds"] == "2" and float(r["pearson"]) == pytest.approx(np.mean(per_seed))
        assert float(r["pearson_seed_std"]) == pytest.approx(np.std(per_seed, ddof=1))
    comp = json.loads((work / "results/tables/comparisons.json").read_text())["rows"]
    ours = {(r["test_T"], r["timescale"]): r for r in comp if r["model_a"] == "se3gnn@T0.80"
            and r["model_b"] == "ridge@T0.80" and r["species"] == "A"}
    assert ours and all((r["seeds_a"], r["seeds_b"]) == (2, 1) for r in ours.values())
    assert all((r["seeds_a"], r["seeds_b"]) == (1, 1) for r in comp if "l_max" in r["model_a"])
    gen = {(d["test_T"], d["timescale"]): d for d in json.loads((work / "results/experiments/generalization.json")
                                                                .read_text())["deltas"]
           if d["model_a"] == "se3gnn@T0.80" and d["model_b"] == "ridge@T0.80" and d["species"] == "A"}
    assert gen.keys() == ours.keys()
    for key, d in gen.items():  # the generalization experiment's Δρ are the comparisons', seeds resampled
        assert (d["delta_rho"], d["ci_low"], d["ci_high"], d["seeds_a"]) == (
            ours[key]["delta_rho"], ours[key]["ci_low"], ours[key]["ci_high"], 2)
    summary = (work / "results/summary.md").read_text()
    assert "(2 vs 1 seeds)" in summary and "| seeds a/b |" in summary and "2: se3gnn@T0.80, se3gnn@T0.80+1.00" in summary
    script = [sys.executable, str(REPO / "scripts/seed_replicates.py"), "--configfile", "presets/tiny.yaml",
              "seeds.yaml", "--model", "se3gnn", "--trainset", "T0.80", "--seeds", "2", "--jobs", "1"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    res = subprocess.run(script, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert "training …" not in res.stdout  # both seeds are the workflow's
    summary = json.loads((work / "results/seed_replicates/se3gnn/T0.80/default/summary.json").read_text())
    mine = [r for r in summary["rows"] if r["b"] == "ridge@T0.80"]
    assert mine
    for r in mine:
        w = ours[(float(r["test_T"]), r["timescale"])]
        assert (r["delta_rho"], r["ci_low"], r["ci_high"], r["seeds_a"]) == (w["delta_rho"], w["ci_low"], w["ci_high"], 2)


@pytest.mark.parametrize(
    ("overlay", "expected"),
    [
        # l_max 0, 1, 3 x 3 seeds at the main scale; l_max = 2 is the main SE(3) model and its seeds (reused)
        ("equivariance", {"ablation_train": 3, "ablation_train_seed": 6, "ablation_evaluate": 3,
                          "ablation_evaluate_seed": 6, "ablation_study": 1, "train": 4, "train_seed": 6,
                          "ablation_graphs": None}),
        # reference + 7 levers x 3 seeds; inherent, cage and energy inputs of what they read
        ("cold-levers", {"ablation_train": 8, "ablation_train_seed": 16, "ablation_evaluate": 8,
                         "ablation_evaluate_seed": 16, "ablation_study": 1, "inherent": 34, "cage": 34,
                         "ablation_graphs": 102}),
    ],
)
def test_dry_run_of_study_overlays(tmp_path, overlay, expected):
    work = copy_workflow(tmp_path)
    res = snakemake(work, "--cores", "2", "--dry-run", "--quiet", "rules", "--configfile", "presets/study.yaml",
                    f"presets/{overlay}.yaml", timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    counts = job_counts(res.stdout)
    assert {k: counts.get(k) for k in expected} == expected


@TINY
def test_ablation_seeds_train_evaluate_and_compare_each_seed(tiny_run, tmp_path):
    """ablations.seeds = 2 with every test temperature (an overlay on a copy of the finished tiny run, the
    l_max study and a lever trained on both temperatures): replicate 0 of each variant is the run's own
    model (not retrained), replicate 1 trains from its own seed into seed1/; the l_max study, the
    comparisons (the control at every timescale and temperature, l_max = 0 − ridge) and summary.md's
    control row are seed-aware."""
    from equiglass.settings import replicate_seed

    work = tmp_path / "abl"
    shutil.copytree(tiny_run, work, symlinks=True)
    (work / "abl.yaml").write_text("ablations: {seeds: 2, depth: [], inputs: [], learning_curve: [], "
                                   "test_temperatures: all, levers: {both_T: {ablations: {train_set: [0.8, 1.0]}}}}\n")
    args = ["--cores", "2", "--configfile", "presets/tiny.yaml", "abl.yaml"]
    plan = snakemake(work, *args, "--dry-run", "--quiet", "rules")
    assert plan.returncode == 0, plan.stderr[-3000:]
    counts = job_counts(plan.stdout)
    # the lever once; replicate 1 of l_max = 0, the reference (l_max = 1) and the lever; replicate 0 re-evaluated
    # at every temperature
    assert (counts.get("ablation_train"), counts.get("ablation_train_seed")) == (1, 3), counts
    assert (counts.get("ablation_evaluate"), counts.get("ablation_evaluate_seed")) == (3, 3), counts
    assert not {"train", "evaluate", "train_seed", "transfer", "interpret"} & set(counts)
    before = {p: p.read_bytes() for p in work.glob("results/ablations/models/*/model.pt")}
    res = snakemake(work, *args, timeout=1800)
    assert res.returncode == 0, res.stderr[-4000:]
    assert all(p.read_bytes() == b for p, b in before.items())
    for key in ("se3-lmax0", "se3-reference"):
        first = json.loads((work / f"results/ablations/models/{key}/model.json").read_text())["info"]["training"]
        second = json.loads((work / f"results/ablations/models/{key}/seed1/model.json").read_text())["info"]
        assert second["training"]["seed"] == replicate_seed(first["seed"], 1) != first["seed"]
        ev = json.loads((work / f"results/ablations/eval/{key}/seed1.json").read_text())
        assert set(ev["results"]) == {"0.80", "1.00"}
    lever = json.loads((work / "results/ablations/models/lever-both_T/model.json").read_text())
    assert lever["info"]["temperatures"] == [0.8, 1.0]
    lmax = json.loads((work / "results/ablations/ablation_lmax.json").read_text())
    assert [(r["setting"], r["seeds"], list(r["by_temperature"])) for r in lmax["rows"]] == [
        ("l_max = 0", 2, ["0.80", "1.00"]), ("l_max = 1", 2, ["0.80", "1.00"])]
    comp = json.loads((work / "results/tables/comparisons.json").read_text())["rows"]
    control = [r for r in comp if r["model_b"] == "se3gnn l_max = 0" and r["species"] == "A"]
    assert {(r["test_T"], r["timescale"]) for r in control} == {(t, s) for t in (0.8, 1.0)
                                                                for s in ("Fs=0.9", "Fs=0.5", "Fs=0.368")}
    assert all((r["model_a"], r["seeds_a"], r["seeds_b"]) == ("se3gnn l_max = 1", 2, 2) for r in control)
    ridge = [r for r in comp if r["model_a"] == "se3gnn l_max = 0" and r["model_b"] == "ridge@T0.80"]
    assert ridge and all((r["seeds_a"], r["seeds_b"]) == (2, 1) for r in ridge)
    summary = (work / "results/summary.md").read_text()
    row = next(line for line in summary.splitlines() if line.startswith("| Control: equivariant messages")
               and "at τ_α" in line)
    assert "l_max = 1 − l_max = 0 at T = 0.80" in row and "(2 vs 2 seeds)" in row and "T = 1.00 (unseen hotter)" in row
    assert "| Invariant messages (l_max = 0) already beat ridge on descriptors at τ_α |" in summary
    assert "## Ablation lmax at every test temperature" in summary
    assert "## Ablation levers at every test temperature" in summary and "| both_T | 1.00 (hotter) | 2 |" in summary
