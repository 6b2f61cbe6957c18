"""Cluster execution without a cluster: SLURM profile dry runs, a fake sbatch, conda env files, plan."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from test_workflow import copy_workflow, fake_python, job_counts

from conftest import REPO

FAKE_COMMANDS = ("sacct", "squeue", "sinfo", "sacctmgr", "scontrol", "sshare")


def slurm_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SLURM_ACCOUNT="myacct", EQUIGLASS_GPU_PARTITION="gpuq", EQUIGLASS_CPU_PARTITION="cpuq")
    return env


def test_paper_dry_run_on_slurm_profile(tmp_path):
    work = copy_workflow(tmp_path)
    env = slurm_env(tmp_path)
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    res = subprocess.run([sys.executable, "-m", "snakemake", "--dry-run", "--profile", "profiles/slurm",
                          "--configfile", "presets/paper.yaml"], cwd=work, env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    counts = job_counts(res.stdout)
    assert counts["equilibrate"] == 2000 and counts["isoconfigurational"] == 2000 and counts["train"] == 20
    eq = re.search(r"rule equilibrate:.*?resources: ([^\n]*)", res.stdout, re.S).group(1)
    assert "slurm_account=myacct" in eq and "slurm_partition=gpuq" in eq and "gpu=1" in eq
    runtime = int(re.search(r"runtime=(\d+)", eq).group(1))
    assert runtime >= 10
    tr = re.search(r"rule train:.*?resources: ([^\n]*)", res.stdout, re.S).group(1)
    assert "gpu=1" in tr and "mem_mb=8000" in tr
    dyn = re.search(r"rule dynamics:.*?resources: ([^\n]*)", res.stdout, re.S).group(1)
    assert "slurm_partition=cpuq" in dyn and "gpu" not in dyn


def test_fake_sbatch_receives_resources(tmp_path):
    """Submissions through the SLURM plugin carry account, partition, runtime, memory, CPUs and GPUs."""
    work = copy_workflow(tmp_path / "w")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls.txt"
    (bindir / "sbatch").write_text(f'#!/usr/bin/env bash\necho "sbatch $*" >> {log}\necho $((RANDOM + 1000))\n')
    for name in FAKE_COMMANDS:
        (bindir / name).write_text(f'#!/usr/bin/env bash\necho "{name} $*" >> {log}\n')
    for f in bindir.iterdir():
        f.chmod(0o755)
    env = slurm_env(tmp_path)
    env["PATH"] = f"{bindir}:{Path(sys.executable).parent}:{env['PATH']}"
    (work / "gpu.yaml").write_text("md: {engine: auto, device: auto}\n")
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--profile", "profiles/slurm", "--configfile",
                             "presets/tiny.yaml", "gpu.yaml", "--jobs", "2"], cwd=work, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if log.exists() and "rule_equilibrate" in log.read_text():
                break
            time.sleep(1)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
    calls = [line for line in log.read_text().splitlines() if line.startswith("sbatch ")]
    assert calls, "no job was submitted"
    assert not any("rule_split" in c for c in calls), "the trivial split rule must run locally"
    first = next(c for c in calls if "rule_equilibrate" in c)
    assert "-A myacct" in first and "-p gpuq" in first
    assert re.search(r" -t \d+", first) and "--mem 2000" in first and "--cpus-per-task=1" in first
    assert "--gpus=1" in first
    assert "rule_equilibrate" in first


@pytest.mark.parametrize("name", ["md", "learn", "analysis"])
def test_conda_env_files_parse_and_pin(name):
    env = yaml.safe_load((REPO / "envs" / f"{name}.yaml").read_text())
    assert "conda-forge" in env["channels"]
    deps = env["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    for d in conda:
        assert re.match(r"^[\w.-]+=[\w.*=-]+$", d), f"{name}.yaml: conda dependency {d!r} is not pinned"
    for d in pip:
        assert "==" in d, f"{name}.yaml: pip dependency {d!r} is not pinned"
    if name == "md":
        assert any(d.startswith("hoomd=") and "gpu" in d for d in conda)
    if name == "learn":
        assert any(d.startswith("torch==") for d in pip) and any(d.startswith("e3nn==") for d in pip)


def test_every_rule_declares_a_conda_env():
    text = "".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    rules = re.findall(r"^rule (\w+):", text, re.M)
    for rule in rules:
        block = text.split(f"rule {rule}:")[1].split("\nrule ")[0]
        if "shell:" in block:
            assert "conda:" in block, f"rule {rule} runs software but declares no conda env"


def test_plan_prints_gpu_hours(tmp_path):
    """`equiglass plan` only dry-runs: it works on a login node whose `python` lacks the science
    stack (here a `python` on PATH that fails), and an error would show Snakemake's message."""
    work = copy_workflow(tmp_path / "work")
    fake = fake_python(tmp_path / "bin")
    env = dict(os.environ)
    env["PATH"] = f"{fake}:{env['PATH']}"
    res = subprocess.run([sys.executable, "-m", "equiglass", "plan", "--configfile", "presets/paper.yaml"], cwd=work,
                         env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    total = next(line for line in res.stdout.splitlines() if line.startswith("total"))
    gpu_hours = float(total.split()[-2])
    assert 100 < gpu_hours < 1e6
    assert re.search(r"^isoconfigurational\s+2000\s", res.stdout, re.M)


def test_plan_of_the_glassbench_preset_without_data(tmp_path):
    """The GlassBench preset with nothing on disk: the plan has the download (offline too: it is planned
    and would fail with the fix), no MD, and a line of training-only GPU-hours."""
    work = copy_workflow(tmp_path / "work")
    res = subprocess.run([sys.executable, "-m", "equiglass", "plan", "--configfile", "presets/glassbench.yaml",
                          "--profile", "profiles/slurm"], cwd=work, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert re.search(r"^glassbench_download\s+1\s", res.stdout, re.M)
    assert re.search(r"^train\s+16\s", res.stdout, re.M) and "isoconfigurational" not in res.stdout
    m = re.search(r"^training only \(train\): ([\d.]+) GPU-hours in 16 jobs$", res.stdout, re.M)
    assert m and 100 < float(m.group(1)) < 1e5, res.stdout[-1500:]


@pytest.mark.gpu
def test_gpu_smoke():
    """On a CUDA machine: one SE(3) GNN training step on the GPU, and HOOMD on the GPU if installed."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from test_models import sample_of

    from equiglass.dataset import to_batch
    from equiglass.md import initial_state
    from equiglass.models.se3 import SE3GNN

    st = initial_state(512, 1.2, 1)
    model = SE3GNN(n_outputs=2, mul=4, l_max=2, n_layers=2).cuda()
    batch = to_batch([sample_of(st)]).to("cuda")
    out = model(batch)
    out.sum().backward()
    assert out.shape == (512, 2) and out.is_cuda
    try:
        import hoomd  # noqa: F401
    except ImportError:
        return
    from equiglass.engines import make_engine

    with make_engine("hoomd", st, device="gpu") as eng:
        eng.set_integrator("nve")
        eng.run(100)
