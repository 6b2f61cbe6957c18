"""A real SLURM on this machine (scripts/slurm/local-slurm.sh): sbatch, sacct, scancel, time
limits, GPU GRES, a small workflow through snakemake-executor-plugin-slurm, the job arrays the
profile uses, and a training job that stops at its time budget (exit 75) and is resubmitted by
Snakemake's retries until it finishes.

`make test` runs the fast ones (pytest -m "slurm and not slow" -p no:xdist, ~4 min), `make
test-slurm` all of them (pytest -m slurm -p no:xdist): the session fixture installs SLURM
(apt-get, root) and starts munged, MariaDB, slurmdbd, slurmctld and slurmd, and stops them at the
end; without -m slurm these tests are skipped (tests/conftest.py). Also: a training cancelled
with scancel and one SLURM ends at its walltime (TIMEOUT), each resubmitted by the SLURM profile's
retries and resumed from its epoch checkpoint, and the tiny preset through `--profile
profiles/slurm` with results equal to a local run (the last two marked slow). All of them: about
20 minutes on 2 cores.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_checkpoints import run_cli, train_files  # noqa: F401  (fixture)

from conftest import REPO

pytestmark = pytest.mark.slurm

SCRIPT = REPO / "scripts" / "slurm" / "local-slurm.sh"
ACCOUNT = os.environ.get("EQUIGLASS_SLURM_ACCOUNT", "testacct")
UNFINISHED = {"", "PENDING", "RUNNING", "REQUEUED", "RESIZING", "SUSPENDED", "COMPLETING"}


def local_slurm_script(command: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), command], capture_output=True, text=True,
                          timeout=timeout)


def script_message(res: subprocess.CompletedProcess) -> str:
    lines = [line for line in res.stderr.splitlines() if line.startswith("local-slurm:")]
    return lines[-1] if lines else res.stderr.strip()[-500:]


@dataclass
class LocalSlurm:
    """The client side of the local cluster: the environment (SLURM_CONF, PATH) and helpers."""

    env: dict[str, str]

    def run(self, *cmd: str, cwd: Path | None = None, timeout: int = 60) -> str:
        res = subprocess.run(list(cmd), env=self.env, cwd=cwd, capture_output=True, text=True,
                             timeout=timeout)
        assert res.returncode == 0, f"{' '.join(cmd)}: {res.stderr}"
        return res.stdout

    def sbatch(self, *args: str, cwd: Path) -> str:
        return self.run("sbatch", "--parsable", *args, cwd=cwd).strip().split(";")[0]

    def sacct(self, *args: str, fields: str = "JobID,State,Elapsed") -> list[dict[str, str]]:
        out = self.run("sacct", *args, f"--format={fields}", "-P")
        return list(csv.DictReader(out.splitlines(), delimiter="|"))

    def squeue_state(self, job: str) -> str:
        return self.run("squeue", "-h", "-j", job, "-o", "%T").strip()

    def wait_finished(self, job: str, timeout: float = 60,
                      fields: str = "JobID,State,Elapsed") -> dict[str, dict[str, str]]:
        """sacct rows of a finished job (the job and its steps, by JobID), once the database has
        its final state and all the fields of the job's row (slurmctld reports to slurmdbd
        asynchronously: a short job can be COMPLETED in sacct before its Partition is)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = {r["JobID"]: r for r in self.sacct("-j", job, fields=fields)}
            row = rows.get(job, {})
            if row.get("State", "").split(" ")[0] not in UNFINISHED and all(row.values()):
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job} not finished after {timeout} s: {rows}")
            time.sleep(1)

    def wait_running(self, job: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.squeue_state(job) != "RUNNING":
            assert time.monotonic() < deadline, f"job {job} not running after {timeout} s"
            time.sleep(0.5)


def seconds(elapsed: str) -> int:
    """sacct's [D-]HH:MM:SS."""
    days, _, hms = elapsed.rpartition("-")
    h, m, s = (int(x) for x in hms.split(":"))
    return int(days or 0) * 86400 + h * 3600 + m * 60 + s


@pytest.fixture(scope="session")
def local_slurm():
    """Install (if needed) and start the local cluster for the session, stop it afterwards
    (unless it was already running before). Skips where it cannot be installed here."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.skip("the local SLURM cluster is one per machine: run these tests without xdist "
                    "(make test-slurm, or pytest -m slurm -p no:xdist)")
    res = local_slurm_script("install", timeout=1800)
    if res.returncode != 0:
        pytest.skip(script_message(res))
    was_running = local_slurm_script("status").returncode == 0
    res = local_slurm_script("start")
    if res.returncode == 3:
        pytest.skip(script_message(res))
    assert res.returncode == 0, f"local-slurm.sh start failed:\n{res.stderr}"
    # the client environment exactly as `eval "$(local-slurm.sh env)"` makes it
    env_dump = subprocess.run(["bash", "-c", 'eval "$(bash "$0" env)" && env -0', str(SCRIPT)],
                              capture_output=True, text=True, check=True).stdout
    env = dict(item.split("=", 1) for item in env_dump.split("\0") if "=" in item)
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"  # snakemake in the jobs too
    try:
        yield LocalSlurm(env)
    finally:
        if not was_running:
            res = local_slurm_script("stop")
            assert res.returncode == 0, f"local-slurm.sh stop failed:\n{res.stderr}"


def test_sbatch_wrap_completes_and_sacct_has_it(local_slurm, tmp_path):
    job = local_slurm.sbatch("--wrap", "sleep 5", cwd=tmp_path)
    rows = local_slurm.wait_finished(job)
    assert rows[job]["State"] == "COMPLETED", rows
    assert rows[f"{job}.batch"]["State"] == "COMPLETED", rows
    assert 5 <= seconds(rows[job]["Elapsed"]) <= 30, rows


def test_time_limit_is_accounted(local_slurm, tmp_path):
    """sbatch --time (the plugin passes `runtime` as -t minutes) shows as sacct's Timelimit;
    without it the partition's (MaxTime=INFINITE, no DefaultTime) applies."""
    fields = "JobID,State,Timelimit"
    timed = local_slurm.sbatch("--time=3", "--wrap", "true", cwd=tmp_path)
    untimed = local_slurm.sbatch("--wrap", "true", cwd=tmp_path)
    assert local_slurm.wait_finished(timed, fields=fields)[timed]["Timelimit"] == "00:03:00"
    assert local_slurm.wait_finished(untimed, fields=fields)[untimed]["Timelimit"] == "UNLIMITED"


@pytest.mark.parametrize("request_gpu", [["--gpus=1"], ["--gres=gpu:1"]])
def test_gpu_job_on_a_machine_without_gpus(local_slurm, tmp_path, request_gpu):
    out = tmp_path / "gpu.out"
    job = local_slurm.sbatch(*request_gpu, "-p", "gpu", "-A", ACCOUNT, "-o", str(out), "--wrap",
                             "echo $CUDA_VISIBLE_DEVICES", cwd=tmp_path)
    rows = local_slurm.wait_finished(job, fields="JobID,State,Partition,Account,AllocTRES")
    assert rows[job]["State"] == "COMPLETED", rows
    assert rows[job]["Partition"] == "gpu" and rows[job]["Account"] == ACCOUNT, rows
    assert "gres/gpu=1" in rows[job]["AllocTRES"], rows
    # one of the two dummy devices
    assert out.read_text().strip() in {"0", "1"}


def test_scancel_gives_cancelled(local_slurm, tmp_path):
    job = local_slurm.sbatch("--wrap", "sleep 300", cwd=tmp_path)
    local_slurm.wait_running(job)
    local_slurm.run("scancel", job)
    rows = local_slurm.wait_finished(job)
    assert rows[job]["State"].startswith("CANCELLED"), rows  # "CANCELLED by 0"
    assert seconds(rows[job]["Elapsed"]) < 60, rows


def test_time_limit_gives_timeout(local_slurm, tmp_path):
    """-t 1: killed about a minute later (OverTimeLimit=0; slurmctld checks limits every ~30 s)."""
    job = local_slurm.sbatch("-t", "1", "--wrap", "sleep 120", cwd=tmp_path)
    rows = local_slurm.wait_finished(job, timeout=150, fields="JobID,State,Elapsed,Timelimit")
    assert rows[job]["State"] == "TIMEOUT", rows
    assert rows[job]["Timelimit"] == "00:01:00", rows
    assert 60 <= seconds(rows[job]["Elapsed"]) < 120, rows


SNAKEFILE = f"""
CPU = dict(runtime=2, mem_mb=100, slurm_partition="cpu", slurm_account="{ACCOUNT}")


rule all:
    input:
        "b.txt",
        "gpu.txt",


rule a:
    output:
        "a.txt",
    resources:
        **CPU,
    shell:
        "echo $SLURM_JOB_ID $SLURM_JOB_PARTITION > {{output}}"


rule b:
    input:
        "a.txt",
    output:
        "b.txt",
    resources:
        **CPU,
    shell:
        "cat {{input}} > {{output}}; echo $SLURM_JOB_ID $SLURM_JOB_PARTITION >> {{output}}"


rule gpu:
    output:
        "gpu.txt",
    resources:
        runtime=2,
        mem_mb=100,
        gpu=1,
        slurm_partition="gpu",
        slurm_account="{ACCOUNT}",
    shell:
        "echo $SLURM_JOB_ID $SLURM_JOB_PARTITION $CUDA_VISIBLE_DEVICES > {{output}}"
"""


def test_snakemake_slurm_executor(local_slurm, tmp_path):
    """Three jobs (two CPU, one GPU) through the real plugin; every one is in sacct."""
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    # the plugin waits 40 s before its first status check and 10 s more at each check that
    # sees nothing finished: 1 s makes this ~30 s instead of ~2 min
    res = subprocess.run([sys.executable, "-m", "snakemake", "--executor", "slurm", "--jobs", "2",
                          "--latency-wait", "5", "--slurm-init-seconds-before-status-checks", "1",
                          "--seconds-between-status-checks", "1"],
                         cwd=tmp_path, env=local_slurm.env, capture_output=True, text=True,
                         timeout=600)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-5000:]
    submitted = set(re.findall(r"submitted with SLURM jobid (\d+)", log))
    assert len(submitted) == 3, log[-5000:]
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    rows = local_slurm.sacct("-X", "--name", run_id,
                             fields="JobID,JobName,Partition,Account,State,Timelimit,AllocTRES")
    assert {r["JobID"] for r in rows} == submitted, rows
    assert all(r["State"] == "COMPLETED" and r["Account"] == ACCOUNT for r in rows), rows
    assert all(r["Timelimit"] == "00:02:00" for r in rows), rows  # runtime=2
    assert sorted(r["Partition"] for r in rows) == ["cpu", "cpu", "gpu"], rows
    gpu = [r for r in rows if r["Partition"] == "gpu"]
    assert "gres/gpu=1" in gpu[0]["AllocTRES"], rows
    # the rules ran inside those jobs
    a_job, a_part = (tmp_path / "a.txt").read_text().split()
    assert a_job in submitted and a_part == "cpu"
    gpu_job, gpu_part, cuda = (tmp_path / "gpu.txt").read_text().split()
    assert gpu_job in submitted and gpu_part == "gpu" and cuda in {"0", "1"}


def test_segment_done_is_resubmitted_and_resumes(local_slurm, tmp_path, train_files):  # noqa: F811
    """A job whose time budget runs out stops at its checkpoint with exit 75; Snakemake's retries
    run it again and it continues from there, to the same model as one straight run.
    (A budget of 0 s stops after every epoch: three epochs, three submissions.)"""
    _, args = train_files
    work = tmp_path / "work"
    work.mkdir()
    # the command in a script: its JSON settings need neither Snakefile nor format escaping
    command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "equiglass", *args, "--out-dir", "m"])
    (work / "train.sh").write_text(f"EQUIGLASS_TIME_BUDGET_S=0 exec {command} 2>> train.log\n")
    (work / "Snakefile").write_text(f"""
rule train:
    output:
        "m/model.pt",
    retries: 2
    resources:
        runtime=5,
        mem_mb=2000,
        slurm_partition="cpu",
        slurm_account="{ACCOUNT}",
    shell:
        "bash train.sh"
""")
    env = {**local_slurm.env, "PYTHONPATH": str(REPO / "src")}
    res = subprocess.run([sys.executable, "-m", "snakemake", "--executor", "slurm", "--jobs", "1",
                          "--latency-wait", "5", "--slurm-init-seconds-before-status-checks", "1",
                          "--seconds-between-status-checks", "1"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=900)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-5000:]
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    rows = local_slurm.sacct("-X", "--name", run_id, fields="JobID,State,ExitCode")
    # the rule's retries are applied by the Snakemake inside the allocation (snakemake-executor-plugin-
    # slurm 2.x passes them to the job step): the segments run one after another in one SLURM job
    # here (a job SLURM itself ends, TIMEOUT, is left to the submitting Snakemake: not tested here)
    assert rows and rows[-1]["State"] == "COMPLETED", rows
    train_log = (work / "train.log").read_text()
    assert train_log.count("segment done, resubmit to continue") == 2
    assert "resuming after epoch 1" in train_log and "resuming after epoch 2" in train_log
    ref = tmp_path / "ref"
    assert run_cli(*args, "--out-dir", str(ref)).returncode == 0
    assert (work / "m/model.pt").read_bytes() == (ref / "model.pt").read_bytes()


def test_array_jobs_as_the_profile_submits_them(local_slurm, tmp_path):
    """profiles/slurm sends its many short CPU rules as SLURM job arrays (slurm-array-jobs): three
    jobs of one rule go out in one sbatch and all complete."""
    (tmp_path / "Snakefile").write_text(f"""
rule all:
    input:
        expand("out/{{i}}.txt", i=range(3)),


rule graphs:
    output:
        "out/{{i}}.txt",
    resources:
        runtime=2,
        mem_mb=100,
        slurm_partition="cpu",
        slurm_account="{ACCOUNT}",
    shell:
        "echo {{wildcards.i}} > {{output}}"
""")
    res = subprocess.run([sys.executable, "-m", "snakemake", "--executor", "slurm", "--jobs", "3",
                          "--latency-wait", "5", "--slurm-init-seconds-before-status-checks", "1",
                          "--seconds-between-status-checks", "1", "--slurm-array-jobs", "graphs"],
                         cwd=tmp_path, env=local_slurm.env, capture_output=True, text=True, timeout=600)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-5000:]
    assert [(tmp_path / f"out/{i}.txt").read_text().strip() for i in range(3)] == ["0", "1", "2"]
    # the plugin names each task's log <array job>_<task>.log (the job step's environment does not
    # carry SLURM_ARRAY_JOB_ID, so the array is read from sacct): one array job, three tasks
    logs = sorted((tmp_path / ".snakemake/slurm_logs/rule_graphs").glob("*_*.log"))
    arrays = {p.stem.split("_")[0] for p in logs}
    assert len(arrays) == 1 and len(logs) == 3, logs
    rows = local_slurm.sacct("-X", "-j", arrays.pop())
    assert sorted(r["State"] for r in rows) == ["COMPLETED"] * 3, rows


# --------------------------------------------------------------------------- jobs SLURM ends
def _long_training(work: Path, train_cli, epochs: int) -> list[str]:
    """A training of ``epochs`` epochs (patience = epochs: no early stop) as a shell script in
    ``work``, and its arguments; it logs to train.log and checkpoints every epoch."""
    work.mkdir(exist_ok=True)
    args = train_cli(epochs=epochs, n_layers=2)
    settings = json.loads(args[2])
    settings["training"]["patience"] = epochs
    args[2] = json.dumps(settings)
    command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "equiglass", *args, "--out-dir", "m"])
    # blind to its allocation (no SLURM_JOB_ID to ask squeue for the time left), the job does not
    # see its end coming, as when an epoch takes longer than the cost model said: SLURM ends it
    # (a job that sees it stops at a checkpoint by itself: test_segment_done_is_resubmitted...)
    (work / "train.sh").write_text(f"exec env -u SLURM_JOB_ID -u EQUIGLASS_TIME_BUDGET_S {command} 2>> train.log\n")
    return args


def _train_snakefile(runtime: str) -> str:
    return f"""
rule train:
    output:
        "m/model.pt",
    retries: 2
    resources:
        runtime={runtime},
        mem_mb=2000,
        slurm_partition="cpu",
        slurm_account="{ACCOUNT}",
    shell:
        "bash train.sh"
"""


def _assert_resumed_and_equal(work: Path, args: list[str], ref: Path) -> None:
    """The log shows the second job resuming after at least one epoch (not starting over), and
    the final model equals a straight run's byte for byte."""
    log = (work / "train.log").read_text()
    resumed = [int(k) for k in re.findall(r"resuming after epoch (\d+)", log)]
    assert len(resumed) == 1 and resumed[0] >= 1, log[-3000:]
    assert run_cli(*args, "--out-dir", str(ref), timeout=900).returncode == 0
    assert (work / "m/model.pt").read_bytes() == (ref / "model.pt").read_bytes()


def _submitting_snakemake(local_slurm: LocalSlurm, work: Path, *extra: str) -> subprocess.Popen:
    """Snakemake with the workflow's SLURM profile (its status command, retries, account from
    $SLURM_ACCOUNT), polling every 2 s instead of every minute."""
    env = {**local_slurm.env, "PYTHONPATH": str(REPO / "src"), "SLURM_ACCOUNT": ACCOUNT,
           "EQUIGLASS_CPU_PARTITION": "cpu"}
    return subprocess.Popen([sys.executable, "-m", "snakemake", "--profile", str(REPO / "profiles/slurm"),
                             "--jobs", "1", "--latency-wait", "5", "--slurm-init-seconds-before-status-checks", "1",
                             "--seconds-between-status-checks", "2", *extra],
                            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _sacct_of_run(local_slurm: LocalSlurm, log: str, fields: str) -> list[dict[str, str]]:
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    return local_slurm.sacct("-X", "--name", run_id, fields=fields)


def test_scancel_is_resubmitted_and_resumes_from_the_checkpoint(local_slurm, tmp_path, train_cli):
    """A running training cancelled with scancel (a preemption, an admin) fails in the submitting
    Snakemake, whose retries submit it again; the new job resumes from the last epoch checkpoint
    and ends with the model of one straight run. (With the plugin's default status command, sacct,
    the submitting Snakemake waited for the cancelled job forever: sacct's "CANCELLED by 0" is not
    in the plugin's failure states; the profile uses squeue.)"""
    work = tmp_path / "work"
    work.mkdir()
    args = _long_training(work, train_cli, epochs=100)
    (work / "Snakefile").write_text(_train_snakefile("10"))
    proc = _submitting_snakemake(local_slurm, work)
    try:
        deadline = time.monotonic() + 300
        while not (work / "m/checkpoint.pt").exists():  # at least one epoch is safe
            assert proc.poll() is None and time.monotonic() < deadline, _read(work / "train.log")[-3000:]
            time.sleep(0.5)
        running = local_slurm.run("squeue", "-h", "-t", "RUNNING", "-o", "%i").split()
        assert len(running) == 1, running
        local_slurm.run("scancel", running[0])
        out, _ = proc.communicate(timeout=900)
    finally:
        proc.kill()
    assert proc.returncode == 0, out[-5000:]
    rows = _sacct_of_run(local_slurm, out, "JobID,State")
    assert [r["State"].split(" ")[0] for r in rows] == ["CANCELLED", "COMPLETED"], rows
    print(f"scancel: sacct saw {len(rows)} jobs: {[(r['JobID'], r['State']) for r in rows]}")
    _assert_resumed_and_equal(work, args, tmp_path / "ref")


@pytest.mark.slow  # minutes: make test-slurm, not make test
def test_timeout_is_resubmitted_with_more_time_and_resumes(local_slurm, tmp_path, train_cli):
    """A training that outlives its walltime (1 min on the first attempt) is ended by SLURM
    (TIMEOUT); the retry asks for more time (runtime grows with the attempt, as in the
    workflow's rules) and resumes from the last epoch checkpoint: nothing is recomputed from zero."""
    work = tmp_path / "work"
    work.mkdir()
    # an epoch takes 0.07-0.3 s depending on the machine: size the training to ~150 s from a
    # measured one, so that it surely outlives the first minute and fits the second attempt's 10
    calibration = _long_training(tmp_path / "calibration", train_cli, epochs=30)
    assert run_cli(*calibration, "--out-dir", str(tmp_path / "calibration/m"), timeout=600).returncode == 0
    epoch_s = statistics.median(json.loads((tmp_path / "calibration/m/timing.json").read_text())["epoch_times_s"])
    epochs = max(300, math.ceil(150 / epoch_s))
    args = _long_training(work, train_cli, epochs=epochs)
    (work / "Snakefile").write_text(_train_snakefile("lambda wc, attempt: 1 if attempt == 1 else 10"))
    res = _submitting_snakemake(local_slurm, work)
    out, _ = res.communicate(timeout=1200)
    assert res.returncode == 0, out[-5000:]
    rows = _sacct_of_run(local_slurm, out, "JobID,State,Timelimit")
    assert [(r["State"], r["Timelimit"]) for r in rows] == [("TIMEOUT", "00:01:00"), ("COMPLETED", "00:10:00")], rows
    print(f"TIMEOUT: {epochs} epochs of ~{epoch_s:.2f} s; sacct saw "
          f"{len(rows)} jobs: {[(r['JobID'], r['State'], r['Timelimit']) for r in rows]}")
    _assert_resumed_and_equal(work, args, tmp_path / "ref")


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


# --------------------------------------------------------------------------- the tiny DAG
LEAN = "ablations: {enabled: false}\nexperiments: {enabled: false}\n"
COMPARED = ["results/md/*/*/equilibrated.gsd", "results/md/*/*/iso_b*.npz", "results/propensity/*/*.npz",
            "results/graphs/*/*.npz", "results/dynamics/*.npz"]


@pytest.mark.slow  # minutes: make test-slurm, not make test
def test_tiny_preset_through_the_slurm_profile(local_slurm, tmp_path):
    """The tiny preset's main DAG (simulation, propensities, graphs, training, evaluation, tables,
    figures; ablations and experiments off) through `--profile profiles/slurm` as a cluster user
    runs it (account and partitions from the environment, GPU jobs on the `gpu` partition):
    every non-local job is a SLURM job in sacct, and data arrays, model weights and evaluations
    equal those of a local run (`--cores 2`)."""
    import numpy as np
    from test_workflow import _arrays, copy_workflow, job_counts, snakemake

    local = copy_workflow(tmp_path / "local")
    (local / "lean.yaml").write_text(LEAN)
    res = snakemake(local, "--cores", "2", "--configfile", "presets/tiny.yaml", "lean.yaml", timeout=1800)
    assert res.returncode == 0, res.stderr[-4000:]

    cluster = copy_workflow(tmp_path / "cluster")
    (cluster / "lean.yaml").write_text(LEAN)
    env = {**local_slurm.env, "SLURM_ACCOUNT": ACCOUNT, "EQUIGLASS_CPU_PARTITION": "cpu",
           "EQUIGLASS_GPU_PARTITION": "gpu"}
    start = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "profiles/slurm",
                          "--configfile", "presets/tiny.yaml", "lean.yaml", "--latency-wait", "5",
                          "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "2"],
                         cwd=cluster, env=env, capture_output=True, text=True, timeout=3600)
    wall = time.monotonic() - start
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-5000:]
    rows = _sacct_of_run(local_slurm, log, "JobID,JobName,Partition,Account,State,AllocTRES")
    states = {r["State"] for r in rows}
    gpu_jobs = [r for r in rows if r["Partition"] == "gpu"]
    print(f"tiny preset through profiles/slurm: {wall:.0f} s, sacct saw {len(rows)} jobs "
          f"({len(gpu_jobs)} on the gpu partition), states {sorted(states)}")
    assert states == {"COMPLETED"} and {r["Account"] for r in rows} == {ACCOUNT}, rows
    assert gpu_jobs and all("gres/gpu=1" in r["AllocTRES"] for r in gpu_jobs), gpu_jobs
    # every job Snakemake ran, except its local rules, went through sbatch
    local_rules = {"all", "split", "dataset"}
    stats = job_counts(log)
    assert len(rows) == sum(n for rule, n in stats.items() if rule not in local_rules), (stats, len(rows))

    compared = 0
    for pattern in COMPARED:
        for a in sorted(local.glob(pattern)):
            xa, xb = _arrays(a), _arrays(cluster / a.relative_to(local))
            assert xa.keys() == xb.keys()
            for k in xa:
                if xa[k] is not None:
                    np.testing.assert_array_equal(xa[k], xb[k], err_msg=f"{a.relative_to(local)}:{k}")
            compared += 1
    assert compared >= 40
    models = sorted(local.glob("results/models/*/*/model.pt"))
    assert len(models) == 4
    for a in models:
        assert a.read_bytes() == (cluster / a.relative_to(local)).read_bytes(), a.relative_to(local)
    for a in sorted(local.glob("results/eval/*/*.json")):
        b = cluster / a.relative_to(local)
        assert json.loads(a.read_text())["results"] == json.loads(b.read_text())["results"], a
