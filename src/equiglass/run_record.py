"""What a finished run measured about itself: Snakemake's job records (start and end of every job
whose outputs are still there), the benchmark files of the rules that have them, the provenance
recorded with the result files and the training times. Read by ``equiglass findings``."""

from __future__ import annotations

import base64
import csv
import datetime as _dt
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# rule name -> the group its times are summed in (a rule not named here is its own group)
RULE_GROUPS = {
    "equilibrate": "MD", "isoconfigurational": "MD", "long_nve": "MD", "dynamics": "MD", "propensity": "MD",
    "validate": "MD", "import_sample": "data import", "import_dynamics": "data import",
    "glassbench_download": "data import", "glassbench_unpack": "data import",
    "published_predictions": "data import", "inherent": "model inputs", "cage": "model inputs",
    "graphs": "model inputs", "split": "model inputs", "dataset": "model inputs", "table": "evaluation",
    "compare": "evaluation", "generalization": "experiments", "transfer": "experiments",
    "interpret": "experiments", "summary": "experiments", "predict": "prediction",
}
GROUP_PREFIXES = (("ablation_", "ablations"), ("figure_", "figures"), ("train", "training"),
                  ("evaluate", "evaluation"))


def rule_group(rule: str) -> str:
    """The group of a rule's jobs in the cost table (MD, model inputs, training, ...)."""
    for prefix, group in GROUP_PREFIXES:
        if rule.startswith(prefix):
            return group
    return RULE_GROUPS.get(rule, rule)


@dataclass(frozen=True)
class Job:
    """One Snakemake job as its metadata records it: rule, start and end [s since the epoch]."""

    rule: str
    start: float
    end: float


def _record_output(metadata: Path, record: Path) -> str:
    """The output path a Snakemake metadata record is kept for (url-safe base64, long names split
    into folders whose names start with '@')."""
    parts = [p.lstrip("@") for p in record.relative_to(metadata).parts]
    return base64.urlsafe_b64decode("".join(parts)).decode()


def snakemake_jobs(workdir: Path) -> list[Job]:
    """The jobs of the run in ``workdir`` whose outputs still exist, from Snakemake's own records
    (``.snakemake/metadata``: start = when the job was marked incomplete, end = its output's
    modification time); empty when Snakemake kept none (``--drop-metadata``, another backend)."""
    metadata = workdir / ".snakemake" / "metadata"
    if not metadata.is_dir():
        return []
    # one job writes several outputs, one record each: merged by rule, job hash, command and log
    merged: dict[tuple[Any, ...], Job] = {}
    for record in metadata.rglob("*"):
        if not record.is_file():
            continue
        try:
            output = _record_output(metadata, record)
            data = json.loads(record.read_text())
        except (ValueError, OSError, UnicodeDecodeError):
            continue
        if not isinstance(data, dict) or data.get("incomplete") or not (workdir / output).exists():
            continue
        start, end, rule = data.get("starttime"), data.get("endtime"), data.get("rule")
        if not (isinstance(start, (int, float)) and isinstance(end, (int, float)) and rule):
            continue
        key = (rule, data.get("job_hash"), data.get("shellcmd"), tuple(data.get("log") or ()))
        if data.get("job_hash") is None:
            key = (rule, output)
        old = merged.get(key)
        merged[key] = Job(rule, float(start), float(end)) if old is None else Job(
            rule, min(old.start, float(start)), max(old.end, float(end)))
    return sorted(merged.values(), key=lambda j: (j.start, j.rule))


def busy_seconds(jobs: list[Job]) -> float:
    """Length of the union of the jobs' intervals: the wall time in which some job ran."""
    total, cur_start, cur_end = 0.0, None, None
    for job in sorted(jobs, key=lambda j: j.start):
        if cur_end is None or job.start > cur_end:
            total += (cur_end - cur_start) if cur_end is not None else 0.0
            cur_start, cur_end = job.start, job.end
        else:
            cur_end = max(cur_end, job.end)
    return total + ((cur_end - cur_start) if cur_end is not None else 0.0)


def snakemake_cores(workdir: Path, start: float, end: float) -> list[str]:
    """What the Snakemake invocations that ran between ``start`` and ``end`` were given ("2 cores",
    "100 remote nodes"), from their logs (``.snakemake/log/<start time>.snakemake.log``)."""
    found: list[str] = []
    for log in sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log")):
        try:
            began = _dt.datetime.strptime(log.name.split(".snakemake")[0], "%Y-%m-%dT%H%M%S.%f").timestamp()
            text = log.read_text(errors="replace")
        except (ValueError, OSError):
            continue
        if not (start - 600 <= began <= end):  # the log of an invocation that ran a job of the run
            continue
        for kind, pattern in (("cores", r"Provided cores: (\d+)"), ("remote nodes", r"Provided remote nodes: (\d+)")):
            m = re.search(pattern, text)
            if m and f"{m.group(1)} {kind}" not in found:
                found.append(f"{m.group(1)} {kind}")
    return found


def in_window(path: Path, window: tuple[float, float] | None) -> bool:
    """Whether ``path`` was last written within ``window`` (Unix times; None: always)."""
    if window is None:
        return True
    try:
        return window[0] <= path.stat().st_mtime <= window[1]
    except OSError:
        return False


def benchmark_totals(results: Path, window: tuple[float, float] | None = None) -> dict[str, dict[str, float]]:
    """Per rule with benchmark files (``results/benchmarks/<rule>/*.tsv``): jobs, summed wall and
    CPU seconds, the largest resident memory [MB]; ``window``: only files written within it."""
    out: dict[str, dict[str, float]] = {}
    for tsv in sorted((results / "benchmarks").glob("*/*.tsv")):
        if not in_window(tsv, window):
            continue
        try:
            rows = list(csv.DictReader(tsv.open(), delimiter="\t"))
        except OSError:
            continue
        for row in rows[-1:]:  # a repeated benchmark keeps one row per repeat; the last is the latest
            tot = out.setdefault(tsv.parent.name, {"jobs": 0, "wall_s": 0.0, "cpu_s": 0.0, "max_rss_mb": 0.0})
            tot["jobs"] += 1
            tot["wall_s"] += _float(row.get("s"))
            tot["cpu_s"] += _float(row.get("cpu_time"))
            tot["max_rss_mb"] = max(tot["max_rss_mb"], _float(row.get("max_rss")))
    return out


def _float(value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return 0.0
    return x if x == x else 0.0


def provenance_summary(results: Path, max_bytes: int = 2_000_000,
                       window: tuple[float, float] | None = None) -> dict[str, Any]:
    """Commits, machines (host, CPU model, cores) and package versions recorded with the run's
    result files (``*.json`` with a ``provenance`` record), with how many files name each;
    ``window``: only the files written within it."""
    commits: Counter[str] = Counter()
    machines: Counter[str] = Counter()
    versions: dict[str, str] = {}
    python = ""
    created: list[str] = []
    for path in sorted(results.rglob("*.json")):
        try:
            if path.stat().st_size > max_bytes or path.name.startswith(".") or not in_window(path, window):
                continue
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        prov = data.get("provenance") if isinstance(data, dict) else None
        if not isinstance(prov, dict) or "git_commit" not in prov:
            continue
        commits[str(prov["git_commit"])] += 1
        cpu = prov.get("cpu") or {}
        machine = (f"{cpu.get('model', 'CPU model not recorded')}, {cpu['cores']} logical cores"
                   if cpu.get("cores") else "CPU model and cores not recorded")
        machines[f"{machine} (host {prov.get('machine', '?')}, {prov.get('platform', '?')})"] += 1
        versions = versions or dict(prov.get("versions") or {})
        python = python or str(prov.get("python", ""))
        if prov.get("created_utc"):
            created.append(str(prov["created_utc"]))
    return {"commits": commits, "machines": machines, "versions": versions, "python": python,
            "created_utc": (min(created), max(created)) if created else None, "files": sum(commits.values())}


def training_times(results: Path, window: tuple[float, float] | None = None) -> list[dict[str, Any]]:
    """The training times the run's trainings recorded (``timing.json`` next to each model under
    ``models/`` and ``ablations/``; retrainings by scripts elsewhere in ``results/`` are not the run's);
    ``window``: only those written within it."""
    rows = []
    for path in sorted([*(results / "models").rglob("timing.json"), *(results / "ablations").rglob("timing.json")]):
        if not in_window(path, window):
            continue
        try:
            t = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        rel = path.parent.relative_to(results)
        rows.append({"model": str(rel), "ablation": rel.parts[0] == "ablations", "family": t.get("family", "?"),
                     "device": t.get("device", "?"), "train_s": _float(t.get("train_time_s")),
                     "epochs": t.get("epochs_timed")})
    return rows


def run_costs(jobs: list[Job], benchmarks: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per rule group: jobs and summed job wall time (Snakemake's records), summed CPU time of the
    benchmarked rules and how many of the group's jobs that covers."""
    groups: dict[str, dict[str, float]] = defaultdict(lambda: {"jobs": 0, "wall_s": 0.0, "cpu_s": 0.0,
                                                               "cpu_jobs": 0, "bench_wall_s": 0.0})
    for job in jobs:
        g = groups[rule_group(job.rule)]
        g["jobs"] += 1
        g["wall_s"] += job.end - job.start
    for rule, tot in benchmarks.items():
        g = groups[rule_group(rule)]
        g["cpu_s"] += tot["cpu_s"]
        g["cpu_jobs"] += tot["jobs"]
        g["bench_wall_s"] += tot["wall_s"]
        if not jobs:  # no job records: the benchmark files still count their jobs
            g["jobs"] += tot["jobs"]
            g["wall_s"] += tot["wall_s"]
    return dict(groups)
