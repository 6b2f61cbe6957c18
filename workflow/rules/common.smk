# Derives targets, paths, seeds and per-rule settings from the validated config. No science here.
import json
import os
import shlex
from types import SimpleNamespace

from snakemake.exceptions import WorkflowError

from equiglass.config import ConfigError, check_config, set_name, tau_alpha_guess, temperature_key
from equiglass.files import InputError
from equiglass.plan import md_minutes, md_uses_gpu, request_minutes, train_minutes, train_uses_gpu
from equiglass.provenance import derive_seed
from equiglass.formats.published import scan_dataset
from equiglass.models import registry
from equiglass.split import split_samples

try:
    _checked = check_config(dict(config), source="config.yaml and --configfile/--config overrides")
except ConfigError as _err:
    raise WorkflowError(str(_err)) from None
config.clear()
config.update(_checked)  # validated against the schema (families from the model registry), defaults filled

TEMPS = [temperature_key(t) for t in config["temperatures"]]
SOURCE = config["data"]["source"]
ISO = config["isoconfigurational"]
N_BATCHES = -(-ISO["replicas"] // ISO["replicas_per_job"])
BATCHES = [f"{b:02d}" for b in range(N_BATCHES)]
MODELS = list(config["training"]["models"])
SETS = {set_name(s): [temperature_key(t) for t in s] for s in config["training"]["sets"]}
_MODEL_SETS = {m: [set_name(s) for s in v] for m, v in config["training"]["model_sets"].items()}
# (model family, training set) pairs to train and evaluate
TRAIN_JOBS = [(m, ts) for m in MODELS for ts in SETS if ts in _MODEL_SETS.get(m, list(SETS))]
EVAL_FILES = [f"results/eval/{m}/{ts}.json" for m, ts in TRAIN_JOBS]
SPLIT = config["split"]


def _imported_samples():
    """Published data: files per temperature, sample ids and the split (GlassBench: its train/test folders)."""
    try:
        found = scan_dataset(SOURCE, config["data"]["path"])
    except InputError as err:
        raise WorkflowError(str(err)) from None
    missing = [T for T in TEMPS if T not in found]
    if missing:
        raise WorkflowError(f"temperatures {missing} not in the {SOURCE} data at {config['data']['path']} "
                            f"(it has {sorted(found)}): change `temperatures`")
    files, splits = {}, {}
    for T in TEMPS:
        train_part = found[T]["train"][: config["samples"]]
        test_part = found[T]["test"][: SPLIT["test"]]
        if not test_part:  # no test folder (Bapst): hold configurations out with the seeded split
            sp = split_samples(len(train_part), SPLIT["validation"], SPLIT["test"], config["seeds"]["split"], T)
            files[T], splits[T] = train_part, sp
            continue
        n_val = SPLIT["validation"]
        if len(train_part) <= n_val:
            raise WorkflowError(f"T={T}: {len(train_part)} training files cannot spare {n_val} for validation")
        files[T] = train_part + test_part
        k = len(train_part)
        splits[T] = {"train": list(range(k - n_val)), "validation": list(range(k - n_val, k)),
                     "test": list(range(k, k + len(test_part)))}
    return files, splits


if SOURCE == "simulate":
    IMPORT_FILES = {}
    SAMPLES = {T: [f"{i:03d}" for i in range(config["samples"])] for T in TEMPS}
    SPLITS = {T: split_samples(config["samples"], SPLIT["validation"], SPLIT["test"], config["seeds"]["split"], T)
              for T in TEMPS}
else:
    IMPORT_FILES, SPLITS = _imported_samples()
    SAMPLES = {T: [f"{i:03d}" for i in range(len(IMPORT_FILES[T]))] for T in TEMPS}


# ----------------------------------------------------------- how rules call the package
# PYTHONPATH makes the package importable in the conda environments of `--sdm conda` too.
EQUIGLASS = (f"PYTHONPATH={shlex.quote(os.path.join(workflow.basedir, 'src'))}${{PYTHONPATH:+:$PYTHONPATH}} "
             "python -m equiglass")
ENVS = {name: os.path.join(workflow.basedir, "envs", f"{name}.yaml") for name in ("md", "learn", "analysis")}


def _check_python_on_path():
    """Without --sdm (conda/apptainer), jobs run the `python` on PATH: fail now, with the fix,
    if it cannot import the pipeline's dependencies, instead of in every job's log."""
    if getattr(getattr(workflow, "deployment_settings", None), "deployment_method", None):
        return  # the deployed environments bring their own python
    import shutil
    import subprocess

    exe = shutil.which("python")
    probe = None if exe is None else subprocess.run(
        [exe, "-c", "import numpy, gsd, freud"], capture_output=True, text=True)
    if probe is None or probe.returncode != 0:
        why = "no `python` on PATH" if probe is None else (
            probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1]
        raise WorkflowError(
            f"the rules run `python -m equiglass`, but the `python` on PATH ({exe}) cannot run them: {why}. "
            "Activate the environment that has the dependencies (`source .venv/bin/activate` after "
            "`make install`), use `make run`, or run with `--sdm conda`.")


_check_python_on_path()

# ---------------------------------------------------------------- cluster resources
CL = config["cluster"]
ACCOUNT = CL["account"] or os.environ.get("SLURM_ACCOUNT", "")
CPU_PARTITION = CL["cpu_partition"] or os.environ.get("EQUIGLASS_CPU_PARTITION", "")
GPU_PARTITION = CL["gpu_partition"] or os.environ.get("EQUIGLASS_GPU_PARTITION", "")
MD_GPU = md_uses_gpu(config)
TRAIN_GPU = train_uses_gpu(config)


def md_resources(rule):
    """Per-job requests of an MD rule: runtime from the steps it runs (scaled by attempt), a GPU if used."""

    def runtime(wc, attempt):
        return request_minutes(md_minutes(config, rule, float(wc.T), int(wc.s)), config, attempt)

    res = {"runtime": runtime, "mem_mb": lambda wc, attempt: 2000 * attempt,
           "cpus_per_task": config["md"]["threads"], "slurm_account": ACCOUNT,
           "slurm_partition": GPU_PARTITION if MD_GPU else CPU_PARTITION}
    if MD_GPU:
        res["gpu"] = 1
    return res


def train_resources():
    def runtime(wc, attempt):
        n = sum(len(SPLITS[T]["train"]) for T in SETS[wc.trainset])
        return request_minutes(train_minutes(config, n), config, attempt)

    res = {"runtime": runtime, "mem_mb": lambda wc, attempt: 8000 * attempt,
           "cpus_per_task": config["training"]["threads"], "slurm_account": ACCOUNT,
           "slurm_partition": GPU_PARTITION if TRAIN_GPU else CPU_PARTITION}
    if TRAIN_GPU:
        res["gpu"] = 1
    return res


def light_resources(mem_mb=2000, runtime=30):
    return {"runtime": runtime, "mem_mb": mem_mb, "slurm_account": ACCOUNT, "slurm_partition": CPU_PARTITION}


localrules:
    split,


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


def graph_file(T, s):
    return f"results/graphs/T{T}/s{s}.npz"


def propensity_file(T, s):
    return f"results/propensity/T{T}/s{s}.npz"


def pairs(T, part):
    """'graph:propensity' arguments of the samples of one split part at temperature T."""
    return [f"{graph_file(T, f'{i:03d}')}:{propensity_file(T, f'{i:03d}')}" for i in SPLITS[T][part]]


def pair_files(T, part):
    out = []
    for i in SPLITS[T][part]:
        out += [graph_file(T, f"{i:03d}"), propensity_file(T, f"{i:03d}")]
    return out


def settings_json(d):
    return json.dumps(d, sort_keys=True)


# --------------------------------------------------------------------------- settings
def _system():
    return {"n_particles": config["system"]["n_particles"], "density": config["system"]["density"]}


def equilibrate_settings(w):
    s_idx = int(w.s)
    return settings_json({
        **_system(),
        "temperature": float(w.T),
        "sample": s_idx,
        "chain": s_idx % config["equilibration"]["chains"],
        "seed": derive_seed(config["seeds"]["md"], "equilibrate", w.T, w.s),
        "tau_alpha_estimate": tau_alpha_guess(config, float(w.T)),
        "md": config["md"],
        "equilibration": config["equilibration"],
    })


def previous_sample(w):
    """Samples beyond the first `chains` continue the chain of sample s - chains."""
    chains = config["equilibration"]["chains"]
    s_idx = int(w.s)
    return [equilibrated(w.T, f"{s_idx - chains:03d}")] if s_idx >= chains else []


def iso_settings(w):
    b = int(w.b)
    per = ISO["replicas_per_job"]
    reps = list(range(b * per, min((b + 1) * per, ISO["replicas"])))
    return settings_json({
        "temperature": float(w.T),
        "sample": int(w.s),
        "batch": b,
        "replicas": reps,
        "seed": derive_seed(config["seeds"]["replicas"], "iso", w.T, w.s),
        "tau_alpha_estimate": tau_alpha_guess(config, float(w.T)),
        "md": config["md"],
        "isoconfigurational": {k: ISO[k] for k in ("duration_tau_alpha", "points_per_decade")},
    })


def dynamics_settings(w):
    return settings_json({"temperature": float(w.T), "propensity": config["propensity"]})


def graph_settings(w):
    return settings_json({"temperature": float(w.T), "graphs": config["graphs"],
                          "descriptors": config["descriptors"], "inputs": config["inputs"], "md": config["md"]})


POSITION_FILES = {"thermal": "equilibrated.gsd", "inherent": "inherent.gsd", "cage": "cage.gsd"}


def model_input_configuration(w):
    """The configuration the models see: thermal, inherent or cage positions (inputs.positions)."""
    return f"{md_dir(w.T, w.s)}/{POSITION_FILES[config['inputs']['positions']]}"


def inputs_settings(w):
    return settings_json({"temperature": float(w.T), "md": config["md"], "inputs": config["inputs"],
                          "seed": derive_seed(config["seeds"]["md"], "inputs", w.T, w.s)})


def train_settings(w):
    hp = dict(config["models"].get(w.model, {}))
    return settings_json({
        "family": w.model,
        "set_name": w.trainset,
        "temperatures": [float(t) for t in SETS[w.trainset]],
        "hparams": hp,
        "seed": derive_seed(config["seeds"]["model"], w.model, w.trainset),
        "training": {**{k: v for k, v in config["training"].items()
                        if k not in ("models", "sets", "model_sets", "per_model")},
                     **config["training"]["per_model"].get(w.model, {})},
        "graphs": config["graphs"],
        "descriptors": config["descriptors"],
        "propensity": config["propensity"],
        "inputs": config["inputs"],
        "md": config["md"],
    })


def caption_context():
    return {
        "preset": config["preset"],
        "n": config["system"]["n_particles"],
        "temps": ", ".join(TEMPS),
        "samples": config["samples"],
        "replicas": ISO["replicas"],
    }


def what_was_run():
    c = caption_context()
    if SOURCE != "simulate":
        n = sum(len(v) for v in SAMPLES.values())
        return (f"preset {c['preset']}: {SOURCE} data ({config['inputs']['positions']} positions), T={c['temps']}, "
                f"{n} configurations")
    return (f"preset {c['preset']}: N={c['n']}, T={c['temps']}, {c['samples']} configurations per T, "
            f"{c['replicas']} replicas")


# ---------------------------------------------------------------------------- targets
SIMULATION_TARGETS = (
    [equilibrated(T, s) for T in TEMPS for s in SAMPLES[T]]
    + [f"results/dynamics/T{T}.json" for T in TEMPS]
    + [propensity_file(T, s) for T in TEMPS for s in SAMPLES[T]]
)
LEARN_TARGETS = EVAL_FILES + ["results/tables/metrics.csv"]
FIGURE_TARGETS = (
    (["results/figures/dynamics.png"] if SOURCE == "simulate" else [])
    + ["results/figures/rho_vs_time.png", "results/figures/learning_curves.png"]
    + [f"results/figures/scatter_{m}_{ts}.png" for m, ts in TRAIN_JOBS]
    + [f"results/figures/snapshot_T{T}.png" for T in TEMPS]
)
ALL_TARGETS = SIMULATION_TARGETS + LEARN_TARGETS + FIGURE_TARGETS + ["results/split.json"]
