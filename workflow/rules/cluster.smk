# How jobs run: the shell prefix that makes the package importable, the environments, the
# local rules, and every job's cluster request (walltime, memory, CPUs, GPUs, retries) from the
# cost model in equiglass.plan.


# ----------------------------------------------------------- how rules call the package
# PYTHONPATH makes the package importable in the conda environments of `--sdm conda` too; it is a
# shell prefix (not part of any rule's params), so moving the project re-runs nothing.
shell.prefix(
    "set -euo pipefail; export PYTHONPATH="
    + shlex.quote(os.path.join(workflow.basedir, "src"))
    + "${{PYTHONPATH:+:$PYTHONPATH}}; "
)
ENVS = {
    name: os.path.join(workflow.basedir, "envs", f"{name}.yaml")
    for name in ("md", "learn", "analysis")
}


def _check_python_on_path():
    """Without --sdm (conda/apptainer), jobs run the `python` on PATH: fail now, with the fix,
    if it cannot import the pipeline's dependencies, instead of in every job's log."""
    if getattr(
        getattr(workflow, "deployment_settings", None), "deployment_method", None
    ):
        return  # the deployed environments bring their own python
    import shutil
    import subprocess

    exe = shutil.which("python")
    probe = (
        None
        if exe is None
        else subprocess.run(
            [exe, "-c", "import numpy, gsd, freud"], capture_output=True, text=True
        )
    )
    if probe is None or probe.returncode != 0:
        why = (
            "no `python` on PATH"
            if probe is None
            else (
                probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"]
            )[-1]
        )
        raise WorkflowError(
            f"the rules run `python -m equiglass`, but the `python` on PATH ({exe}) cannot run them: {why}. "
            "Activate the environment that has the dependencies (`source .venv/bin/activate` after "
            "`make install`), use `make run`, or run with `--sdm conda`."
        )


if not os.environ.get(
    "EQUIGLASS_SKIP_PYTHON_CHECK"
):  # set on login nodes that only plan
    _check_python_on_path()


localrules:
    split,
    dataset,


# ---------------------------------------------------------------- cluster resources
# Every request comes from the cost model in equiglass.plan (`equiglass plan` prints it):
# walltime = estimate x cluster.runtime_margin x attempt, capped at cluster.max_runtime (longer
# jobs run in segments: they stop at a checkpoint before their walltime, exit 75, and the rule's
# retries resubmit them); threads == cpus_per_task; memory is what the processes running at
# once need. Account and CPU partition come from the profile (default-resources); a rule sets a
# partition only when it needs a GPU (cluster.gpu_partition or $EQUIGLASS_GPU_PARTITION).
CL = config["cluster"]
GPU_PARTITION = CL["gpu_partition"] or os.environ.get("EQUIGLASS_GPU_PARTITION", "")
# device auto asks for GPUs only where there are some; the decision is exported
# ($EQUIGLASS_GPUS) so that the jobs (sbatch --export=ALL) size themselves the same way
GPUS = P.gpus_requestable(config, export=True)
MD_GPU = P.md_uses_gpu(config, GPUS)
TRAIN_GPU = P.train_uses_gpu(config, None, GPUS)
# rule-level retries (one per extra segment) only in the submitting process: a job's own
# Snakemake must not retry in place
SUBMITTING = not workflow.remote_exec


def gpu_request(n):
    """Resources of a job that uses ``n`` GPUs (none for n = 0)."""
    if not n:
        return {}
    return {"gpu": n, **({"slurm_partition": GPU_PARTITION} if GPU_PARTITION else {})}


def md_threads(step):
    """CPUs of one MD job: md.threads per process (iso: one process per replica worker)."""
    return config["md"]["threads"] * (
        P.iso_workers(config, MD_GPU) if step == "isoconfigurational" else 1
    )


def md_estimate(step, T, s):
    return P.md_minutes(config, step, float(T), int(s), gpu=MD_GPU)


def md_resources(step):
    """An MD job: walltime from its steps and the GPU model, its processes' memory, its GPUs."""
    res = {
        "runtime": lambda wc, attempt: P.request_minutes(
            md_estimate(step, wc.T, wc.s), config, attempt
        ),
        "mem_mb": P.md_mem_mb(config, step, MD_GPU),
        "cpus_per_task": md_threads(step),
        **gpu_request(P.md_gpus(config, step, MD_GPU)),
    }
    if step == "isoconfigurational":
        # replica workers: a constant, as the CPUs asked (a function of threads would see the
        # submitting Snakemake's capped threads, not the allocation's)
        res["workers"] = P.iso_workers(config, MD_GPU)
    return res


def md_retries(step):
    """Retries of an MD step: one per extra segment of its longest job (None: the profile's)."""
    temps = TEMPS if SOURCE == "simulate" else []
    longest = max(
        (
            md_estimate(step, T, s)
            for T in temps
            for s in (0, config["equilibration"]["chains"])
        ),
        default=0.0,
    )
    return segment_retries(longest)


N_TEST = sum(n_split(T, "test") for T in TEMPS)  # graphs one evaluate job predicts


def train_estimate(model, trainset):
    """Minutes of one train job (its resolved settings: epochs, per-timescale models, ensemble)."""
    temps = SETS[trainset]
    n_train = sum(n_split(T, "train") for T in temps)
    n_val = sum(n_split(T, "validation") for T in temps)
    training = S.train(config, model, trainset, temps)["training"]
    return P.train_seconds(config, n_train, n_val, model, training=training) / 60.0


def segment_retries(longest):
    """Retries for jobs of at most ``longest`` minutes when they need segments (one per
    extra segment, plus cluster.retries for failures); otherwise None (the profile's).
    """
    if SUBMITTING and P.segments(longest, config) > 1:
        return P.retries(config, longest)
    return None


def train_retries():
    return segment_retries(
        max((train_estimate(m, ts) for m, ts in TRAIN_JOBS), default=0.0)
    )


def ablation_train_estimate(key):
    """Minutes of one ablation training job (its variant's resolved settings)."""
    temps = ablation_train_temps(key)
    n_val = sum(n_split(T, "validation") for T in temps)
    n_train = sum(len(ablation_train_ids(key, T)) for T in temps)
    training = S.ablation_train(config, key, temps)["training"]
    family = ABL_VARIANTS[key].family
    return P.train_seconds(config, n_train, n_val, family, training=training) / 60.0


def ablation_train_retries():
    return segment_retries(
        max((ablation_train_estimate(k) for k in ABL_TRAINED), default=0.0)
    )


def transfer_estimate():
    return P.transfer_seconds(config, n_split(TRANSFER_TARGET, "test")) / 60.0


def learn_gpu(family):
    return int(P.train_uses_gpu(config, family, GPUS))


def learn_resources(estimate, family, n_graphs):
    """A learning job (train, evaluate, transfer, interpret): walltime from ``estimate(wc)``
    [min], growing on retries; memory for the graphs it holds; a GPU (and the GPU partition)
    for torch families (``family(wc)``)."""
    res = {
        "runtime": lambda wc, attempt: P.request_minutes(estimate(wc), config, attempt),
        "mem_mb": lambda wc, attempt: int(
            P.learn_mem_mb(config, n_graphs(wc)) * min(attempt, 2)
        ),
        "cpus_per_task": config["training"]["threads"],
        "gpu": lambda wc: learn_gpu(family(wc)),
    }
    if GPU_PARTITION:  # CPU jobs (ridge): no rule-level partition, as in the profile
        res["slurm_partition"] = lambda wc: (
            GPU_PARTITION
            if learn_gpu(family(wc))
            else os.environ.get("EQUIGLASS_CPU_PARTITION", "")
        )
    return res


def learn_device(family):
    """``--device`` of a learning step: auto (its GPU) when it asked for one, else cpu."""
    return "auto" if learn_gpu(family) else "cpu"


def light_resources(mem_mb=2000, runtime=30):
    """A short CPU job (minutes at most): the profile's account and partition; constants, as
    thousands of such jobs are planned (a callable costs Snakemake a signature per job).
    """
    return {"runtime": runtime, "mem_mb": mem_mb}


def predict_resources():
    gpu = PREDICT["device"] != "cpu" and learn_gpu(PREDICT["model"])
    return {
        "runtime": lambda wc, attempt: P.request_minutes(
            P.infer_seconds(config, 1, PREDICT["model"]) / 60.0, config, attempt
        ),
        "mem_mb": lambda wc, attempt: P.learn_mem_mb(config, 1) * min(attempt, 2),
        "cpus_per_task": config["training"]["threads"],
        **gpu_request(int(gpu)),
    }
