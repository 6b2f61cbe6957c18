"""What the workflow asks a SLURM cluster for (tiny preset, SLURM profile, dry run): GPUs only
where there are GPUs, an explicit device for learning steps, threads equal to the CPUs asked."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_workflow import copy_workflow

from conftest import REPO


def dry_run(tmp_path: Path, gpus: str, extra: str = "") -> dict[str, list[dict[str, str]]]:
    """rule -> the resources of each of its jobs, from a dry run with ``EQUIGLASS_GPUS=gpus``
    (``--cores 64``: threads as an allocation would give them, not capped by this machine)."""
    work = copy_workflow(tmp_path / "w")
    (work / "overlay.yaml").write_text("md: {engine: auto, device: auto}\n" + extra)
    env = dict(os.environ)
    env.update(EQUIGLASS_GPUS=gpus, SLURM_ACCOUNT="myacct", EQUIGLASS_CPU_PARTITION="cpuq",
               PATH=f"{Path(sys.executable).parent}:{env['PATH']}",
               PYTHONPATH=f"{REPO / 'src'}:{env.get('PYTHONPATH', '')}")
    if gpus == "1":
        env["EQUIGLASS_GPU_PARTITION"] = "gpuq"
    else:
        env.pop("EQUIGLASS_GPU_PARTITION", None)
    res = subprocess.run([sys.executable, "-m", "snakemake", "--dry-run", "--profile", "profiles/slurm",
                          "--cores", "64", "--configfile", "presets/tiny.yaml", "overlay.yaml"], cwd=work, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    jobs: dict[str, list[dict[str, str]]] = {}
    for block in res.stdout.split("\nrule ")[1:]:
        name = block.split(":", 1)[0]
        m = re.search(r"resources: ([^\n]*)", block)
        res_ = dict(kv.split("=", 1) for kv in m.group(1).split(", ")) if m else {}
        t = re.search(r"threads: (\d+)", block)
        res_["threads"] = t.group(1) if t else "1"
        jobs.setdefault(name, []).append(res_)
    return jobs


@pytest.mark.parametrize("gpus", ["1", "0"])
def test_gpus_only_where_there_are_gpus(tmp_path, gpus):
    jobs = dry_run(tmp_path, gpus)
    for rule in ("equilibrate", "isoconfigurational", "train", "evaluate", "transfer", "interpret"):
        assert rule in jobs, sorted(jobs)
    for rule, rows in jobs.items():
        for r in rows:
            assert r["slurm_account"] == "myacct", (rule, r)
            assert r["cpus_per_task"] == r["threads"], (rule, r)  # threads == CPUs asked
            if gpus == "0":  # a CPU-only cluster (or machine): no GPU anywhere, the CPU partition
                assert r.get("gpu", "0") == "0" and r["slurm_partition"] in ("cpuq", ""), (rule, r)
                assert r.get("torch_device", "cpu") == "cpu", (rule, r)
    if gpus == "1":
        for rule in ("equilibrate", "isoconfigurational", "transfer", "interpret"):
            assert all(r["gpu"] == "1" and r["slurm_partition"] == "gpuq" for r in jobs[rule]), rule
        for rule in ("train", "evaluate"):
            for r in jobs[rule]:
                torch = r["gpu"] == "1"  # ridge (closed form) never asks for a GPU
                assert r["slurm_partition"] == ("gpuq" if torch else "cpuq"), (rule, r)
                if rule == "evaluate":
                    assert r["torch_device"] == ("auto" if torch else "cpu"), r
            assert {r["gpu"] for r in jobs[rule]} == {"0", "1"}, rule
        assert all(r["slurm_partition"] == "cpuq" and "gpu" not in r for r in jobs["dynamics"])
