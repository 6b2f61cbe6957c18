"""The table ``equiglass plan`` prints: per rule, jobs, minutes per job, GPUs, segments, GPU- and
CPU-hours, from the cost model of :mod:`equiglass.plan` (or from the measured rates of a finished
run's Snakemake benchmark files).

Pure Python, like the cost model: it runs on a login node.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Any

from .config import samples_at, temperature_key
from .plan import (
    HOOMD_LJ_BENCHMARK,
    MD_RULES,
    gpu_process_rate,
    gpus_requestable,
    infer_seconds,
    interpret_seconds,
    ka_neighbour_factor,
    md_gpus,
    md_minutes,
    md_steps,
    md_uses_gpu,
    segments,
    train_seconds,
    train_uses_gpu,
    transfer_seconds,
)
from .settings import n_seeds


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
         rates: dict[str, float] | None = None, gpus: bool | None = None,
         n_test_graphs: int = 0) -> list[dict[str, Any]]:
    """Per-rule rows: jobs, minutes per job (mean over temperatures), GPUs per job, segments
    (most of any job), GPU-hours and CPU-hours in total.

    ``counts`` are job counts per rule (from the DAG), ``n_train_graphs`` training graphs per set,
    ``gpus``: whether GPUs can be asked for (default: :func:`gpus_requestable`).
    """
    rates = rates or {}
    gpus = gpus_requestable(cfg) if gpus is None else gpus
    temps = [float(t) for t in cfg["temperatures"]]
    rows = []
    md_gpu = md_uses_gpu(cfg, gpus)
    families = list(cfg["training"]["models"])
    for rule, jobs in sorted(counts.items()):
        # per kind of job in the rule: (share of its jobs, minutes per job, GPUs per job)
        if rule in MD_RULES:
            per_t, longest = [], 0.0
            for t in temps:
                samples = range(samples_at(cfg, t)) if rule == "equilibrate" else [0]
                mins = [md_minutes(cfg, rule, t, s, rates.get(rule), md_gpu) for s in samples]
                per_t.append(sum(mins) / len(mins))
                longest = max(longest, *mins)
            kinds = [(1.0, sum(per_t) / len(per_t), md_gpus(cfg, rule, md_gpu))]
        elif rule in ("train", "evaluate", "train_seed", "evaluate_seed"):
            graphs = list(n_train_graphs.values()) or [0]
            # seed replicates (training.seeds): n_seeds - 1 jobs per model of each family
            weights = {f: n_seeds(cfg, f) - 1 if rule.endswith("_seed") else 1 for f in families}
            kinds = []
            for f in (f for f in families if weights[f]):
                if rule.startswith("train"):
                    mins = sum(train_seconds(cfg, g, 0, f) for g in graphs) / len(graphs) / 60
                else:
                    mins = infer_seconds(cfg, n_test_graphs, f) / 60
                kinds.append((weights[f] / sum(weights.values()), mins, int(train_uses_gpu(cfg, f, gpus))))
            longest = max(k[1] for k in kinds)
        elif rule == "transfer":
            longest = transfer_seconds(cfg, n_test_graphs // max(len(temps), 1)) / 60
            kinds = [(1.0, longest, int(train_uses_gpu(cfg, "se3gnn", gpus)))]
        elif rule == "interpret":
            longest = interpret_seconds(cfg) / 60
            kinds = [(1.0, longest, int(train_uses_gpu(cfg, "se3gnn", gpus)))]
        elif rule in ("ablation_train", "ablation_evaluate", "ablation_train_seed", "ablation_evaluate_seed"):
            kinds = ablation_kinds(cfg, rule, gpus)
            longest = max(k[1] for k in kinds)
        else:
            longest = 0.5
            kinds = [(1.0, longest, 0)]
        minutes = sum(share * mins for share, mins, _ in kinds)
        gpu_h = sum(jobs * share * mins / 60 * g for share, mins, g in kinds)
        cpu_h = sum(jobs * share * mins / 60 for share, mins, g in kinds if not g)
        n_gpus = max(g for _, _, g in kinds)
        rows.append({"rule": rule, "jobs": jobs, "minutes_per_job": minutes, "gpu": n_gpus > 0,
                     "gpus_per_job": n_gpus, "segments": segments(longest, cfg),
                     "gpu_hours": gpu_h, "cpu_hours": cpu_h})
    return rows


def ablation_kinds(cfg: dict[str, Any], rule: str, gpus: bool) -> list[tuple[float, float, int]]:
    """(share, minutes, GPUs) of each ablation model's training or evaluation job (``*_seed``: its
    replicates r >= 1): its variant's resolved settings (epochs, family, models per job), training
    configurations and temperatures, and test temperatures; variants that are main models
    (ablations.reuse_main_models) have no jobs."""
    from .ablations import variants
    from .settings import ablation_reuses, ablation_seeds, ablation_train

    ab, sp = cfg["ablations"], cfg["split"]
    t = temperature_key(ab["train_set"][0] if ab["train_set"]
                        else next(s[0] for s in cfg["training"]["sets"] if len(s) == 1))
    tests = ab["test_temperatures"]
    n_test_t = len(cfg["temperatures"]) if tests == "all" else 1 if tests == "train" else \
        len({t} | {temperature_key(x) for x in tests})
    rows = []
    for key, v in variants(cfg).items():
        jobs = (ablation_seeds(cfg, key) - 1) if rule.endswith("_seed") else 1
        if not jobs or ablation_reuses(cfg, key, t):
            continue
        if rule.startswith("ablation_train"):
            temps = [temperature_key(x) for x in v.train_set] if v.train_set else [t]
            n_all = {T: samples_at(cfg, T) - sp["validation"] - sp["test"] for T in temps}
            n = sum(min(v.n_train or ab["n_train"] or n_all[T], n_all[T]) for T in temps)
            training = ablation_train(cfg, key, temps)["training"]
            mins = train_seconds(cfg, n, sp["validation"] * len(temps), v.family, training=training) / 60
        else:
            mins = infer_seconds(cfg, sp["test"] * n_test_t, v.family) / 60
        rows.append((jobs, mins, int(train_uses_gpu(cfg, v.family, gpus))))
    total = sum(r[0] for r in rows)
    return [(jobs / total, mins, g) for jobs, mins, g in rows] or [(1.0, 0.0, 0)]


def format_plan(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'rule':<20}{'jobs':>8}{'min/job':>10}{'GPUs':>6}{'segm.':>7}{'GPU-h':>10}{'CPU-h':>10}"]
    for r in rows:
        gpus = str(r["gpus_per_job"]) if r["gpu"] else "-"
        lines.append(f"{r['rule']:<20}{r['jobs']:>8}{r['minutes_per_job']:>10.2f}{gpus:>6}{r['segments']:>7}"
                     f"{r['gpu_hours']:>10.1f}{r['cpu_hours']:>10.1f}")
    lines.append(f"{'total':<20}{sum(r['jobs'] for r in rows):>8}{'':>23}"
                 f"{sum(r['gpu_hours'] for r in rows):>10.1f}{sum(r['cpu_hours'] for r in rows):>10.1f}")
    return "\n".join(lines)


def describe_rates(cfg: dict[str, Any], gpus: bool) -> str:
    """How MD was costed, for the plan's header."""
    if not md_uses_gpu(cfg, gpus):
        return f"MD on CPUs at {cfg['cluster']['md_throughput']:.3g} particle-steps/s per job"
    k = cfg["cluster"]["jobs_per_gpu"]
    alone, shared = gpu_process_rate(cfg, 1), gpu_process_rate(cfg, k)
    n = cfg["system"]["n_particles"]
    return (f"MD on GPUs: {cfg['cluster']['gpu_throughput']:.3g} particle-steps/s per GPU "
            f"({HOOMD_LJ_BENCHMARK['source']}), x {ka_neighbour_factor(cfg):.2f} for the KA pair density, "
            f"step latency {cfg['cluster']['gpu_step_latency_s']:g} s: one N = {n} process alone "
            f"{alone / n:.0f} steps/s, {k} per GPU {shared / n:.0f} steps/s each")


__all__ = ["ablation_kinds", "describe_rates", "format_plan", "measured_rates", "plan"]
