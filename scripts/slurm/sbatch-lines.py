#!/usr/bin/env python3
"""Print the `sbatch` lines the SLURM profile sends for a preset, without a cluster.

    python scripts/slurm/sbatch-lines.py [--configfile presets/paper.yaml] [--repo DIR]

The workflow (from --repo, default this checkout) is copied to a scratch directory in which
every upstream file of three kinds of jobs is made up (empty files, older first):

* one replica group: the `isoconfigurational` jobs of the first configurations at the lowest
  temperature (as many as the profile puts in one allocation);
* one `train` job: the first model family on the first training set;
* one `evaluate` job: the same model, evaluated.

For each, Snakemake runs with `--profile profiles/slurm` (the real snakemake-executor-plugin-
slurm) against a fake `sbatch` that records its arguments and returns a job id; the first
submission is printed without the `--wrap=...` payload. Account and partitions come from the
environment as on a cluster (SLURM_ACCOUNT, EQUIGLASS_CPU_PARTITION, EQUIGLASS_GPU_PARTITION;
defaults myacct, cpu, gpu here).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WORKFLOW_FILES = ["Snakefile", "config.yaml", "workflow", "presets", "profiles", "envs"]
FAKE = ("sacct", "squeue", "sinfo", "sacctmgr", "scontrol", "sshare", "srun")


def load_cfg(repo: Path, configfiles: list[str]) -> dict:
    sys.path.insert(0, str(repo / "src"))
    from equiglass.config import load_config

    return load_config(repo / "config.yaml", *[repo / c for c in configfiles])


def touch(path: Path, when: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    os.utime(path, (when, when))


def make_upstream(work: Path, cfg: dict, model: str, trainset: str, skip_iso: set[tuple[str, str]]) -> None:
    """Empty files for every simulation and graph output (iso files in skip_iso left out), and
    the trained model of (model, trainset); mtimes in DAG order (the model newer than the dataset
    manifests an earlier Snakemake run wrote)."""
    from equiglass.config import temperature_key
    from equiglass.settings import replica_batches

    temps = [temperature_key(t) for t in cfg["temperatures"]]
    t0 = time.time() - 10_000
    for T in temps:
        for i in range(cfg["samples"]):
            s = f"{i:03d}"
            md = work / f"results/md/T{T}/s{s}"
            for name in ("equilibrated.gsd", "equilibrated.json", "thermo.csv"):
                touch(md / name, t0 + i)  # chains: later samples after earlier ones
            for b in replica_batches(cfg, T, s):
                if (T, s) not in skip_iso:
                    touch(md / f"iso_b{b}.npz", t0 + 1000)
        touch(work / f"results/dynamics/T{T}.json", t0 + 2000)
        touch(work / f"results/dynamics/T{T}.npz", t0 + 2000)
        for i in range(cfg["samples"]):
            for f in (f"results/propensity/T{T}/s{i:03d}.npz", f"results/propensity/T{T}/s{i:03d}.gsd",
                      f"results/graphs/T{T}/s{i:03d}.npz"):
                touch(work / f, t0 + 3000)
    touch(work / "results/split.json", t0 + 3000)
    # newest of all: the dataset manifests (a local rule) are written when Snakemake first runs
    for name in ("model.pt", "model.json", "history.csv"):
        touch(work / f"results/models/{model}/{trainset}/{name}", time.time() + 60)


def fake_bin(where: Path, log: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    (where / "sbatch").write_text(f'#!/usr/bin/env bash\nprintf "%s\\0" sbatch "$@" >> {log}\n'
                                  f'printf "\\n" >> {log}\necho $((RANDOM + 1000))\n')
    for name in FAKE:
        (where / name).write_text("#!/usr/bin/env bash\nexit 0\n")
    for f in where.iterdir():
        f.chmod(0o755)
    return where


def submissions(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    out = []
    for record in log.read_text().split("\n"):
        args = [a for a in record.split("\0") if a]
        if args:
            out.append(args)
    return out


def first_sbatch(work: Path, configfiles: list[str], targets: list[str], env: dict[str, str],
                 timeout: float) -> tuple[str, float]:
    """The first sbatch line Snakemake sends for ``targets`` (without --wrap) and the seconds it took."""
    log = work / "sbatch-calls.txt"
    log.unlink(missing_ok=True)
    shutil.rmtree(work / ".snakemake", ignore_errors=True)  # locks, incomplete marks of the killed run
    env = {**env, "PATH": f"{fake_bin(work / 'fakebin', log)}:{env['PATH']}"}
    cmd = [sys.executable, "-m", "snakemake", "--profile", "profiles/slurm", "--configfile", *configfiles,
           "--slurm-init-seconds-before-status-checks", "600", "--", *targets]
    t0 = time.monotonic()
    out_file = work / "snakemake-output.txt"  # a file, not a pipe: a long job listing must not block it
    with open(out_file, "w") as out:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, text=True)
    try:
        while time.monotonic() - t0 < timeout and proc.poll() is None and not submissions(log):
            time.sleep(0.5)
        time.sleep(1.0)  # a group's or a rule's other submissions in the same round
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    calls = submissions(log)
    if not calls:
        out = out_file.read_text()
        raise SystemExit(f"no sbatch call for {targets[:2]}...:\n{out[-3000:]}")
    args = [a for a in calls[0] if not a.startswith("--wrap")]
    line = " ".join(args)
    line = re.sub(r"--job-name \S+", "--job-name <uuid>", line)
    line = re.sub(r"--output \S+", "--output <log>", line)
    line = re.sub(r" -D \S+", "", line)
    return line, time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", type=Path, default=REPO, help="checkout whose workflow is used")
    ap.add_argument("--configfile", nargs="*", default=["presets/paper.yaml"])
    ap.add_argument("--group-size", type=int, default=None,
                    help="isoconfigurational jobs targeted for the replica group (default: the profile's)")
    ap.add_argument("--timeout", type=float, default=900)
    a = ap.parse_args()
    repo = a.repo.resolve()
    cfg = load_cfg(repo, a.configfile)
    import yaml

    from equiglass.config import set_name, temperature_key
    from equiglass.settings import replica_batches

    profile = yaml.safe_load((repo / "profiles/slurm/config.v8+.yaml").read_text())
    comps = profile.get("group-components", {}) or {}
    size = a.group_size or max([v for k, v in comps.items() if k.startswith("replicas")] or [1])
    T0 = temperature_key(min(cfg["temperatures"]))
    model = cfg["training"]["models"][0]
    trainset = set_name(cfg["training"]["sets"][0])
    env = dict(os.environ)
    env.setdefault("SLURM_ACCOUNT", "myacct")
    env.setdefault("EQUIGLASS_CPU_PARTITION", "cpu")
    env.setdefault("EQUIGLASS_GPU_PARTITION", "gpu")
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    env["PYTHONPATH"] = str(repo / "src") + (f":{env['PYTHONPATH']}" if env.get("PYTHONPATH") else "")
    with tempfile.TemporaryDirectory(prefix="sbatch-lines-") as tmp:
        work = Path(tmp)
        for name in WORKFLOW_FILES:
            src = repo / name
            (shutil.copytree if src.is_dir() else shutil.copy)(src, work / name)
        for c in a.configfile:
            if not (work / c).exists():
                shutil.copy(repo / c, work / c)
        group = [(T0, f"{i:03d}") for i in range(size)]
        make_upstream(work, cfg, model, trainset, skip_iso=set(group))
        iso_targets = [f"results/md/T{T}/s{s}/iso_b{b}.npz" for T, s in group for b in replica_batches(cfg, T, s)]
        rows = [("replica group", f"{len(iso_targets)} isoconfigurational jobs, T={T0}", iso_targets)]
        model_dir = work / f"results/models/{model}/{trainset}"
        rows.append(("train", f"{model} {trainset}", [f"results/models/{model}/{trainset}/model.pt"]))
        rows.append(("evaluate", f"{model} {trainset}", [f"results/eval/{model}/{trainset}.json"]))
        for kind, what, targets in rows:
            if kind == "train":
                make_upstream(work, cfg, model, trainset, skip_iso=set())
                shutil.rmtree(model_dir)
            if kind == "evaluate":
                make_upstream(work, cfg, model, trainset, skip_iso=set())
            line, secs = first_sbatch(work, a.configfile, targets, env, a.timeout)
            print(f"{kind} ({what}; {secs:.0f} s to submit):\n  {line}\n", flush=True)


if __name__ == "__main__":
    main()
