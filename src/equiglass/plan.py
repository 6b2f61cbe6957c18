"""Cost model of a configuration: work, walltimes, segments, memory and GPU-hours per job.

Pure Python: the workflow sizes every cluster request with it at parse time (login node) and
``equiglass plan`` prints the totals (:mod:`equiglass.plan_totals`).

**MD on a GPU.** The throughput of a GPU comes from HOOMD-blue's published Lennard-Jones liquid
benchmark (:data:`HOOMD_LJ_BENCHMARK`: joaander/hoomd-benchmarks, ``lj-liquid.ipynb`` at commit
1a4af92 (2018), its newest row: 2018-01-15, HOOMD-blue 2.2.2, double precision, one Tesla
P100-PCIE-16GB: 1.25 h for 10⁷ steps of N = 64 000, ρ = 0.382, r_c = 3.0 σ, r_buff = 0.6 σ, NVT,
i.e. 2 222 steps/s = 1.42 × 10⁸ particle-steps/s; ``cluster.gpu_throughput``). The work per
particle-step grows with the pairs inside the neighbour-list radius, ρ (r_c + r_buff)³, so the KA
mixture (ρ = 1.2, r_c = 2.5 σ_AA, skin 0.3) runs at 0.68 × that rate. A small system alone cannot
fill a GPU: each step also costs a fixed launch latency (``cluster.gpu_step_latency_s``, 10⁻⁴ s:
at most ~10⁴ steps/s however small the system; an assumption, not a published number). ``k``
processes sharing a GPU (``cluster.jobs_per_gpu``, the replica workers of one
``isoconfigurational`` job) overlap their latencies, so each advances at
``1 / max(t0 + N/R, k N/R)`` steps/s. Measured rates of an earlier run
(``equiglass plan --benchmarks results/benchmarks``) replace all of this.

**MD on the CPU** (LAMMPS): ``cluster.md_throughput`` particle-steps/s per job.

**Learning**: ``cluster.train_seconds_per_graph`` (one forward + backward pass of a graph of
N = 1000 on the job's device, linear in N) × graphs × epochs; ``cluster.infer_seconds_per_graph``
for predictions (evaluate, transfer, interpret, predict).

**Requests**: walltime = estimate × ``cluster.runtime_margin`` × attempt, capped at
``cluster.max_runtime``; a job whose estimate (with margin) exceeds the cap runs in segments,
each stopping at a checkpoint before its walltime (:mod:`equiglass.devices`) and resubmitted by
Snakemake's retries, which are sized from the segment count.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from .config import tau_alpha_guess, temperature_key

MD_RULES = ("equilibrate", "isoconfigurational", "long_nve", "inherent", "cage")
FIRE_STEPS = 20_000  # typical FIRE iterations to an inherent structure
HOOMD_LJ_BENCHMARK = {
    "particle_steps_per_s": 64_000 * 1e7 / (1.25 * 3600),  # 1.42e8
    "n_particles": 64_000, "density": 0.382, "r_cut": 3.0, "r_buff": 0.6,
    "source": "HOOMD-blue lj-liquid benchmark (github.com/joaander/hoomd-benchmarks, lj-liquid.ipynb, "
              "2018-01-15: HOOMD 2.2.2, double precision, Tesla P100-PCIE-16GB, N = 64000, rho = 0.382, "
              "r_c = 3.0, r_buff = 0.6: 1.25 h per 1e7 steps)",
}
KA_DENSITY_DEFAULT, KA_RCUT = 1.2, 2.5
MIN_REQUEST_MIN = 10.0  # shortest walltime asked [min]


# ------------------------------------------------------------------------------ GPU or not
def gpus_requestable(cfg: dict[str, Any], export: bool = False) -> bool:
    """Whether jobs with device ``auto`` should ask the scheduler for GPUs.

    ``$EQUIGLASS_GPUS`` (1/0) decides if set; else yes when a GPU partition is named
    (``cluster.gpu_partition``, ``$EQUIGLASS_GPU_PARTITION``), when ``sinfo`` lists GPU GRES,
    or (no SLURM) when this machine has an NVIDIA device. A CPU-only machine never asks.
    ``export``: set ``$EQUIGLASS_GPUS`` to the answer (processes started later agree).
    """
    found = _gpus_requestable(cfg)
    if export:
        os.environ.setdefault("EQUIGLASS_GPUS", "1" if found else "0")
    return found


def _gpus_requestable(cfg: dict[str, Any]) -> bool:
    env = os.environ.get("EQUIGLASS_GPUS", "").strip().lower()
    if env in ("1", "yes", "true"):
        return True
    if env in ("0", "no", "false"):
        return False
    if cfg["cluster"].get("gpu_partition") or os.environ.get("EQUIGLASS_GPU_PARTITION"):
        return True
    if shutil.which("sinfo"):
        try:
            res = subprocess.run(["sinfo", "-h", "-o", "%G"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            res = None
        if res is not None and res.returncode == 0:
            return "gpu" in res.stdout
    return Path("/dev/nvidia0").exists() or shutil.which("nvidia-smi") is not None


def md_uses_gpu(cfg: dict[str, Any], gpus: bool | None = None) -> bool:
    """MD jobs ask for a GPU: an engine that can use one, device gpu, or auto when GPUs exist."""
    md = cfg["md"]
    if not (cfg["cluster"]["md_gpu"] and md["engine"] in ("hoomd", "openmm", "auto")):
        return False
    if md["device"] == "gpu":
        return True
    return md["device"] == "auto" and (gpus if gpus is not None else gpus_requestable(cfg))


def gradient_family(family: str) -> bool:
    """Families trained by gradient descent (torch: GPU-class); ridge is fitted in closed form."""
    from .models import registry

    return registry.family(family).gradient


def train_uses_gpu(cfg: dict[str, Any], family: str | None = None, gpus: bool | None = None) -> bool:
    """Training (and evaluation) of ``family`` asks for a GPU: torch families, device gpu or auto."""
    if not cfg["cluster"]["train_gpu"] or (family is not None and not gradient_family(family)):
        return False
    device = cfg["training"].get("device", "auto")
    if device == "gpu":
        return True
    return device == "auto" and (gpus if gpus is not None else gpus_requestable(cfg))


# ---------------------------------------------------------------------------------- MD work
def md_steps(cfg: dict[str, Any], rule: str, temperature: float, sample: int = 0) -> int:
    """Time steps of one job of an MD rule at temperature T (all its replicas for iso jobs)."""
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
        return iso_replicas_per_job(cfg) * replica_steps(cfg, temperature)
    if rule == "long_nve":
        return math.ceil(cfg["validation"]["duration_tau_alpha"] * tau / dt)
    if rule == "inherent":
        return FIRE_STEPS
    if rule == "cage":
        inp = cfg["inputs"]
        return math.ceil(inp["cage_replicas"] * inp["cage_time"] / dt)
    raise ValueError(f"{rule} is not an MD rule")


def replica_steps(cfg: dict[str, Any], temperature: float) -> int:
    """Time steps of one iso-configurational replica at T."""
    return math.ceil(cfg["isoconfigurational"]["duration_tau_alpha"] * tau_alpha_guess(cfg, temperature)
                     / cfg["md"]["dt"])


def iso_replicas_per_job(cfg: dict[str, Any]) -> int:
    iso = cfg["isoconfigurational"]
    return min(iso["replicas_per_job"], iso["replicas"])


def iso_workers(cfg: dict[str, Any], gpu: bool) -> int:
    """Replica worker processes of one iso job: jobs_per_gpu × gpus_per_group on GPUs, else 1."""
    if not gpu:
        return 1
    cl = cfg["cluster"]
    return max(1, min(cl["jobs_per_gpu"] * cl["gpus_per_group"], iso_replicas_per_job(cfg)))


def md_gpus(cfg: dict[str, Any], rule: str, gpu: bool) -> int:
    """GPUs one job of ``rule`` asks for."""
    if not gpu:
        return 0
    return cfg["cluster"]["gpus_per_group"] if rule == "isoconfigurational" else 1


def ka_neighbour_factor(cfg: dict[str, Any]) -> float:
    """Cost per particle-step of the KA mixture relative to the benchmark's LJ liquid."""
    b = HOOMD_LJ_BENCHMARK
    rho = cfg["system"].get("density", KA_DENSITY_DEFAULT)
    return (b["density"] * (b["r_cut"] + b["r_buff"]) ** 3) / (rho * (KA_RCUT + cfg["md"]["skin"]) ** 3)


def gpu_process_rate(cfg: dict[str, Any], sharing: int) -> float:
    """Particle-steps/s of one MD process on a GPU shared by ``sharing`` such processes."""
    n = cfg["system"]["n_particles"]
    r = cfg["cluster"]["gpu_throughput"] * ka_neighbour_factor(cfg)
    t0 = cfg["cluster"]["gpu_step_latency_s"]
    step_s = max(t0 + n / r, sharing * n / r)
    return n / step_s


def md_process_rate(cfg: dict[str, Any], gpu: bool, sharing: int = 1) -> float:
    """Particle-steps/s of one MD process (GPU model, or ``cluster.md_throughput`` on a CPU)."""
    return gpu_process_rate(cfg, sharing) if gpu else cfg["cluster"]["md_throughput"]


def md_seconds(cfg: dict[str, Any], rule: str, temperature: float, sample: int = 0, gpu: bool = False,
               seconds_per_particle_step: float | None = None) -> float:
    """Estimated wall time [s] of one MD job (without margin).

    ``seconds_per_particle_step``: measured for this rule (benchmark files of an earlier run).
    """
    n = cfg["system"]["n_particles"]
    if seconds_per_particle_step:
        return n * md_steps(cfg, rule, temperature, sample) * seconds_per_particle_step
    if rule == "isoconfigurational":
        workers = iso_workers(cfg, gpu)
        per_gpu = math.ceil(workers / max(md_gpus(cfg, rule, gpu), 1))
        rounds = math.ceil(iso_replicas_per_job(cfg) / workers)
        return rounds * n * replica_steps(cfg, temperature) / md_process_rate(cfg, gpu, per_gpu)
    return n * md_steps(cfg, rule, temperature, sample) / md_process_rate(cfg, gpu, 1)


def md_minutes(cfg: dict[str, Any], rule: str, temperature: float, sample: int = 0,
               seconds_per_particle_step: float | None = None, gpu: bool = False) -> float:
    """Estimated wall time [min] of one MD job (without margin)."""
    return md_seconds(cfg, rule, temperature, sample, gpu, seconds_per_particle_step) / 60.0


def md_mem_mb(cfg: dict[str, Any], rule: str, gpu: bool) -> int:
    """Memory [MB] of one MD job: the processes it runs at once (a CUDA context costs ~0.5 GB)."""
    n = cfg["system"]["n_particles"]
    per_process = (1500 if gpu else 1000) + n // 10
    processes = iso_workers(cfg, gpu) if rule == "isoconfigurational" else 1
    driver = 500 if processes > 1 else 0
    return whole_gb(per_process * processes + driver + iso_array_mb(cfg) * (rule == "isoconfigurational"))


def whole_gb(mb: float) -> int:
    """A memory request [MB] rounded up to whole GB (1000 MB), as schedulers are asked."""
    return int(math.ceil(mb / 1000.0)) * 1000


def time_points(cfg: dict[str, Any], temperature: float) -> int:
    """Upper bound of the log-spaced time grid of a replica (iso.log_time_steps)."""
    n_max = max(replica_steps(cfg, temperature), 10)
    return math.ceil(cfg["isoconfigurational"]["points_per_decade"] * math.log10(n_max)) + 1


def iso_array_mb(cfg: dict[str, Any]) -> int:
    """Replica sums of one configuration (|Δr|, |Δr|², |Δr|⁴ per time and particle) [MB]."""
    t_low = min(float(t) for t in cfg["temperatures"])
    return math.ceil(3 * 8 * time_points(cfg, t_low) * cfg["system"]["n_particles"] / 1e6)


def dynamics_mem_mb(cfg: dict[str, Any], n_configurations: int) -> int:
    """The dynamics job holds the merged replica sums of every configuration of a temperature."""
    return whole_gb(1500 + 2 * n_configurations * iso_array_mb(cfg))


# ---------------------------------------------------------------------------- learning work
def _per_graph(cfg: dict[str, Any], key: str) -> float:
    return cfg["cluster"][key] * cfg["system"]["n_particles"] / 1000.0


def train_seconds(cfg: dict[str, Any], n_train: int, n_val: int = 0, family: str | None = None,
                  seconds_per_graph: float | None = None, training: dict[str, Any] | None = None) -> float:
    """Estimated wall time [s] of one training job: models × epochs × (train + validation passes).

    ``training``: the job's resolved training settings (:func:`equiglass.settings.train`; built
    here from ``family`` when omitted): ``epochs``, and the models one job trains, one per
    timescale (``per_timescale``, Bapst et al.'s recipe) or ``ensemble`` members.
    """
    if family is not None and not gradient_family(family):
        return 60.0 + (n_train + n_val) * 1.0  # closed form: reading the graphs dominates
    per = (seconds_per_graph * cfg["system"]["n_particles"] / 1000.0 if seconds_per_graph
           else _per_graph(cfg, "train_seconds_per_graph"))
    if training is None and family is not None:
        from .settings import train as train_settings

        training = train_settings(cfg, family, "", [])["training"]
    training = training or cfg["training"]
    infer = _per_graph(cfg, "infer_seconds_per_graph")
    return models_per_job(cfg, training) * training["epochs"] * (n_train * per + n_val * infer)


def models_per_job(cfg: dict[str, Any], training: dict[str, Any]) -> int:
    """Models one training job fits: one per timescale (``per_timescale``), else ``ensemble``."""
    if training.get("per_timescale"):
        return len(training.get("timescales") or ()) or len(cfg["propensity"]["values"])
    return int(training.get("ensemble", 1))


def train_minutes(cfg: dict[str, Any], n_train_graphs: int, seconds_per_graph: float | None = None) -> float:
    """Estimated wall time [min] of one training job (without margin), linear in N."""
    return train_seconds(cfg, n_train_graphs, 0, None, seconds_per_graph) / 60.0


def infer_seconds(cfg: dict[str, Any], n_graphs: int, family: str | None = None) -> float:
    """Predictions on ``n_graphs`` configurations (reading them included)."""
    per = _per_graph(cfg, "infer_seconds_per_graph")
    if family is not None and not gradient_family(family):
        per = 0.0
    return 30.0 + n_graphs * (per + 0.5)


def transfer_seconds(cfg: dict[str, Any], n_test: int) -> float:
    """Transfer experiment: per size n, features once, fine-tuning and from-scratch epochs on n
    graphs, and four methods evaluated on the test configurations."""
    tr = cfg["experiments"]["transfer"]
    train = _per_graph(cfg, "train_seconds_per_graph")
    infer = _per_graph(cfg, "infer_seconds_per_graph")
    total = 0.0
    for n in tr["n_configs"]:
        total += n * infer + tr["readout_epochs"] * 0.01
        total += n * train * (tr["fine_tune_epochs"] * tr["fine_tune"] + tr["scratch_epochs"] * tr["scratch"])
        total += 4 * n_test * (infer + 0.5)
    return total


def interpret_seconds(cfg: dict[str, Any]) -> float:
    n = cfg["experiments"]["interpret"]["n_configs"]
    return 60.0 + 3 * infer_seconds(cfg, n)


def learn_mem_mb(cfg: dict[str, Any], n_graphs: int, base: int = 4000) -> int:
    """Memory [MB] of a learning job: the model's working set plus its graphs held in memory."""
    n = cfg["system"]["n_particles"]
    per_graph_mb = n * 60 * 8 * 6 / 1e6  # ~60 edges per particle (r_c = 2 σ), a few arrays each
    return whole_gb(base + n_graphs * per_graph_mb)


# ------------------------------------------------------------------------------- requests
def request_minutes(estimate: float, cfg: dict[str, Any], attempt: int = 1, floor: float = MIN_REQUEST_MIN) -> int:
    """Walltime request [min]: estimate × margin × attempt (at least ``floor``), at most
    ``cluster.max_runtime`` (longer jobs run in segments)."""
    want = max(floor, estimate * cfg["cluster"]["runtime_margin"]) * attempt
    return int(math.ceil(min(want, cfg["cluster"]["max_runtime"])))


def segments(estimate: float, cfg: dict[str, Any]) -> int:
    """Segments (submissions) a job of ``estimate`` minutes needs under ``cluster.max_runtime``."""
    budget = cfg["cluster"]["max_runtime"]
    return max(1, math.ceil(estimate * cfg["cluster"]["runtime_margin"] / budget))


def retries(cfg: dict[str, Any], max_estimate: float) -> int:
    """Snakemake retries of a rule whose longest job takes ``max_estimate`` minutes: one per
    extra segment, plus ``cluster.retries`` for failures."""
    return segments(max_estimate, cfg) - 1 + cfg["cluster"]["retries"]


__all__ = ["HOOMD_LJ_BENCHMARK", "MD_RULES", "gpus_requestable", "md_seconds", "md_steps", "md_uses_gpu",
           "request_minutes", "retries", "segments", "temperature_key", "train_seconds", "train_uses_gpu"]
