"""Cost model of a configuration: MD steps, runtimes and GPU-hours per rule, for cluster requests.

Runtimes are sized from the work each job does (particle-steps for MD, graphs × epochs for
training) and a throughput (``cluster.md_throughput`` particle-steps/s, ``cluster.
train_seconds_per_graph`` at N = 1000), or from Snakemake ``benchmark:`` files of an earlier
run when given (measured seconds per particle-step), times ``cluster.runtime_margin`` and the
attempt number (retries get more time).
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from .config import samples_at, tau_alpha_guess, temperature_key

MD_RULES = ("equilibrate", "isoconfigurational", "long_nve", "inherent", "cage")
FIRE_STEPS = 20_000  # typical FIRE iterations to an inherent structure


def md_steps(cfg: dict[str, Any], rule: str, temperature: float, sample: int = 0) -> int:
    """Time steps of one job of an MD rule at temperature T (sample index for chains)."""
    dt = cfg["md"]["dt"]
    tau = tau_alpha_guess(cfg, temperature)
    eq = cfg["equilibration"]
    if rule == "equilibrate":
        if sample < eq["chains"]:
            duration = eq["melt_time"] + max(eq["min_duration"], eq["duration_tau_alpha"] * tau)
        else:
            duration = eq["spacing_tau_alpha"] * tau
        return math.ceil(duration / dt)
    if rule == "isoconfigurational":
        iso = cfg["isoconfigurational"]
        return math.ceil(iso["replicas_per_job"] * iso["duration_tau_alpha"] * tau / dt)
    if rule == "long_nve":
        return math.ceil(cfg["validation"]["duration_tau_alpha"] * tau / dt)
    if rule == "inherent":
        return FIRE_STEPS
    if rule == "cage":
        inp = cfg["inputs"]
        return math.ceil(inp["cage_replicas"] * inp["cage_time"] / dt)
    raise ValueError(f"{rule} is not an MD rule")


def md_minutes(cfg: dict[str, Any], rule: str, temperature: float, sample: int = 0,
               seconds_per_particle_step: float | None = None) -> float:
    """Estimated wall time [min] of one MD job (without margin)."""
    n = cfg["system"]["n_particles"]
    rate = 1.0 / seconds_per_particle_step if seconds_per_particle_step else cfg["cluster"]["md_throughput"]
    return n * md_steps(cfg, rule, temperature, sample) / rate / 60.0


def train_minutes(cfg: dict[str, Any], n_train_graphs: int, seconds_per_graph: float | None = None) -> float:
    """Estimated wall time [min] of one training job (without margin), linear in N."""
    per = seconds_per_graph or cfg["cluster"]["train_seconds_per_graph"]
    n = cfg["system"]["n_particles"]
    return cfg["training"]["epochs"] * n_train_graphs * per * n / 1000.0 / 60.0


def request_minutes(estimate: float, cfg: dict[str, Any], attempt: int = 1, floor: float = 10.0) -> int:
    """Runtime request [min]: estimate × margin × attempt, at least ``floor``."""
    return int(math.ceil(max(floor, estimate * cfg["cluster"]["runtime_margin"]) * attempt))


def md_uses_gpu(cfg: dict[str, Any]) -> bool:
    md = cfg["md"]
    return bool(cfg["cluster"]["md_gpu"] and md["engine"] in ("hoomd", "openmm", "auto")
                and md["device"] in ("gpu", "auto"))


def train_uses_gpu(cfg: dict[str, Any]) -> bool:
    return bool(cfg["cluster"]["train_gpu"] and cfg["training"]["device"] in ("gpu", "auto"))


def measured_rates(benchmark_dir: str | Path | None, cfg: dict[str, Any]) -> dict[str, float]:
    """Seconds per particle-step per MD rule from Snakemake benchmark files of a finished run.

    Files are ``{rule}/T{T}_s{s}*.tsv`` (Snakemake's benchmark format, column ``s``).
    """
    rates: dict[str, list[float]] = defaultdict(list)
    if benchmark_dir is None or not Path(benchmark_dir).exists():
        return {}
    n = cfg["system"]["n_particles"]
    for rule in MD_RULES:
        for f in Path(benchmark_dir, rule).glob("T*_s*.tsv"):
            parts = f.stem.split("_")
            temp, sample = float(parts[0][1:]), int(parts[1][1:])
            with open(f) as fh:
                rows = list(csv.DictReader(fh, delimiter="\t"))
            if rows:
                secs = float(rows[-1]["s"])
                rates[rule].append(secs / (n * md_steps(cfg, rule, temp, sample)))
    return {rule: sorted(v)[len(v) // 2] for rule, v in rates.items() if v}


def plan(cfg: dict[str, Any], counts: dict[str, int], n_train_graphs: dict[str, int],
         rates: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Per-rule rows: jobs, hours per job (mean over temperatures), GPU-hours and CPU-hours in total.

    ``counts`` are job counts per rule (from the DAG), ``n_train_graphs`` training graphs per set.
    """
    rates = rates or {}
    temps = [float(t) for t in cfg["temperatures"]]
    rows = []
    md_gpu, tr_gpu = md_uses_gpu(cfg), train_uses_gpu(cfg)
    for rule, jobs in sorted(counts.items()):
        if rule in MD_RULES:
            if rule == "equilibrate":
                per_t = []
                for t in temps:
                    mins = [md_minutes(cfg, rule, t, s, rates.get(rule)) for s in range(samples_at(cfg, t))]
                    per_t.append(sum(mins) / len(mins))
                minutes = sum(per_t) / len(per_t)
            else:
                minutes = sum(md_minutes(cfg, rule, t, 0, rates.get(rule)) for t in temps) / len(temps)
            gpu = md_gpu
        elif rule == "train":
            graphs = list(n_train_graphs.values()) or [0]
            minutes = sum(train_minutes(cfg, g) for g in graphs) / len(graphs)
            gpu = tr_gpu
        else:
            minutes, gpu = 0.5, False
        hours = jobs * minutes / 60.0
        rows.append({"rule": rule, "jobs": jobs, "minutes_per_job": minutes, "gpu": gpu,
                     "gpu_hours": hours if gpu else 0.0, "cpu_hours": 0.0 if gpu else hours})
    return rows


def format_plan(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'rule':<20}{'jobs':>8}{'min/job':>10}{'GPU':>5}{'GPU-h':>10}{'CPU-h':>10}"]
    for r in rows:
        lines.append(f"{r['rule']:<20}{r['jobs']:>8}{r['minutes_per_job']:>10.2f}{'yes' if r['gpu'] else 'no':>5}"
                     f"{r['gpu_hours']:>10.1f}{r['cpu_hours']:>10.1f}")
    lines.append(f"{'total':<20}{sum(r['jobs'] for r in rows):>8}{'':>15}"
                 f"{sum(r['gpu_hours'] for r in rows):>10.1f}{sum(r['cpu_hours'] for r in rows):>10.1f}")
    return "\n".join(lines)


__all__ = ["MD_RULES", "format_plan", "md_steps", "md_uses_gpu", "plan", "request_minutes", "temperature_key"]
