"""Which rules re-run when a configuration key changes, read from the rules themselves.

Snakemake re-runs a job when its ``params`` or the set of its input files change. The rules
(``workflow/rules/*.smk``) put into their params and input lists either a step's settings from
:mod:`equiglass.settings` (``S.<builder>(...)``), a configuration value (``config["a"]["b"]``, or
through an alias such as ``ISO = config[...]``), or a workflow helper (captions, sample lists,
paths, comparison plans). This module finds each rule's ``params:`` and ``input:`` blocks and:

- for the settings builders, changes one key at a time in a full configuration and compares
  what every builder returns (exact: the builders are pure functions of the configuration);
- for config subscripts, reads the key from the subscript;
- for the workflow helpers, uses :data:`WORKFLOW_READS` (the keys each helper reads), which is
  kept complete: a workflow name in a rule's params or input missing from it is an error.

Every job downstream of a re-run job re-runs as well (its inputs change; not listed here).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from . import settings as S
from .config import samples_at, set_name, temperature_key

# the configuration keys that decide the samples (SAMPLES), and their split (SPLITS, ids, pair paths)
POOL_KEYS = ("temperatures", "samples", "samples_by_temperature", "data.source", "data.path")
SAMPLE_KEYS = (*POOL_KEYS, "split.validation", "split.test", "split.test_only", "seeds.split")
ABLATION_SET_KEYS = ("ablations.train_set", "training.sets")
ABLATION_TRAIN_KEYS = (*SAMPLE_KEYS, *ABLATION_SET_KEYS, "ablations.n_train", "ablations.learning_curve", "ablations.levers")
TRAINED = ("training.models", "training.sets", "training.model_sets")
REPLICATED = (*TRAINED, "training.seeds", "training.per_model")  # the seed replicates (SEED_JOBS)
STUDY_KEYS = ("ablations.enabled", "ablations.lmax", "ablations.depth", "ablations.inputs",
              "ablations.learning_curve", "ablations.learning_curve_models", "ablations.levers",
              "ablations.n_train", "models.se3gnn.l_max", "models.se3gnn.n_layers", "inputs.positions",
              "inputs.local_energy")
# the evaluation files of the ablation variants' seeds (ablation_evals): theirs, or a main model's
# (a reused main model: ablations.reuse_main_models, when its settings equal the variant's)
ABLATION_EVALS = (*STUDY_KEYS, *TRAINED, *ABLATION_SET_KEYS, "ablations.seeds", "ablations.reuse_main_models")

# workflow helpers (config.smk, paths.smk, targets.smk) that rules put into params -> the keys
# they read ("S.<builder>": the keys that builder reads). Keep in step with the helpers.
WORKFLOW_READS: dict[str, tuple[str, ...]] = {
    "what_was_run": ("preset", "data.source", "data.path", "inputs.positions", "temperatures", "samples",
                     "samples_by_temperature", "system.n_particles", "isoconfigurational.replicas",
                     "isoconfigurational.test_replicas", "split.test_only"),
    "TEMPS": ("temperatures",),
    "SETS": ("training.sets",),
    "SPLITS": SAMPLE_KEYS,
    "ids": SAMPLE_KEYS,
    "pair_args": SAMPLE_KEYS,
    "transfer_pool": SAMPLE_KEYS,
    "interpret_ids": (*SAMPLE_KEYS, "experiments.interpret.n_configs"),
    "ablation_pairs": (*ABLATION_TRAIN_KEYS, "inputs.positions", "inputs.local_energy", "ablations.inputs"),
    "ablation_train_ids": ABLATION_TRAIN_KEYS,
    "ablation_train_temps": (*ABLATION_SET_KEYS, "ablations.levers"),
    "ABL_TEST_T": (*ABLATION_SET_KEYS, "ablations.test_temperatures", "temperatures"),
    "ablation_study_inputs": ABLATION_EVALS,
    "ablation_study_plan": (*ABLATION_EVALS, "ablations.test_temperatures", "temperatures"),
    "ablation_graph_settings": ("S.graphs", "ablations.inputs"),
    "ABL_T": ABLATION_SET_KEYS,
    "ABL_STUDIES": STUDY_KEYS,
    "STUDY_OF": STUDY_KEYS,
    "TRANSFER_TARGET": ("experiments.transfer.target", "experiments.transfer.source", "training.sets",
                        "temperatures", "split.test_only"),
    "INTERPRET_T": ("experiments.interpret.temperature", "temperatures"),
    "comparison_plan": (*REPLICATED, *ABLATION_EVALS, "seeds.split", "ablations.n_train", "ablations.epochs",
                        "data.source", "data.predictions"),
    "FETCH": ("data.fetch.url", "data.fetch.md5", "data.fetch.size", "data.fetch.member"),
    "ONLINE": ("data.fetch.url",),
    "PUBLISHED_KEYS": ("data.source", "data.predictions"),
    "PUBLISHED_EVALS": ("data.source", "data.predictions"),
    "PUBLISHED_MODEL_EVALS": ("data.source", "temperatures", "samples", "split.test", "split.validation"),
    "PUBLISHED_MODEL_EVAL_FILES": ("data.source", "temperatures"),
    "ARCHIVE": ("data.path", "data.fetch.url"),
    "FETCH_FILES": ("data.path", "data.fetch.member", "temperatures", "samples", "split.test"),
    "PREDICT_SET": ("training.sets",),
    "PREDICT_INPUTS": ("predict.inputs",),
    "GLASSBENCH_EXTRA": ("data.source",),
    # names in input lists
    "SAMPLES": POOL_KEYS,
    "dataset_files": SAMPLE_KEYS,
    "imported_file": POOL_KEYS,
    "EVAL_FILES": TRAINED,
    "TRAIN_JOBS": TRAINED,
    "SEED_JOBS": REPLICATED,
    "SEED_EVAL_FILES": REPLICATED,
    "FIRST_MODEL": TRAINED,
    "FIRST_SET": TRAINED,
    "INTERPRET_SET": ("experiments.interpret.model_set", "training.sets"),
    "TRANSFER_SOURCE": ("experiments.transfer.source", "training.sets"),
    "VALIDATION_SAMPLES": (*POOL_KEYS, "validation.samples"),
    "ablation_figures": STUDY_KEYS,
    "ablation_inputs": STUDY_KEYS,
    "ablation_train_part": ABLATION_TRAIN_KEYS,
    "comparison_inputs": (*REPLICATED, *ABLATION_EVALS, "ablations.n_train", "ablations.epochs"),
    "base_iso_batches": ("isoconfigurational.replicas", "isoconfigurational.replicas_per_job"),
    "iso_batches": ("isoconfigurational.replicas", "isoconfigurational.replicas_per_job",
                    "isoconfigurational.test_replicas", *SAMPLE_KEYS),
    "model_input_configuration": ("inputs.positions",),
    "previous_sample": ("equilibration.chains",),
}
# names defined in the workflow that read no configuration (paths, the settings module)
READS_NOTHING = {"S", "MAIN_INPUTS", "ENVS", "POSITION_FILES", "variant_graph", "graph_file", "propensity_file",
                 "md_dir", "dataset", "equilibrated", "pair_inputs", "replicate", "model_dir", "ablation_model_dir"}


# --------------------------------------------------------------------------- the rule files
def rule_blocks(workflow_dir: Path) -> dict[str, str]:
    """Rule name -> the text of its ``params:`` and ``input:`` blocks, for every rule of
    ``workflow_dir/rules`` that writes files (in the Snakefile's include order when there is one);
    ``use rule A as B with:`` gives B the blocks of A that it does not replace."""
    files = sorted((workflow_dir / "rules").glob("*.smk"))
    snakefile = workflow_dir.parent / "Snakefile"
    if snakefile.exists():
        order = re.findall(r'include:\s*"workflow/rules/(\w+)\.smk"', snakefile.read_text())
        files.sort(key=lambda f: order.index(f.stem) if f.stem in order else len(order))
    found: dict[str, dict[str, str]] = {}
    for f in files:
        lines = f.read_text().splitlines()
        for i, line in enumerate(lines):
            m = re.match(r"^(\s*)(?:rule (\w+)|use rule (\w+) as (\w+) with):", line)
            if not m:
                continue
            block = _indented_block(lines, i, len(m.group(1)))
            sections = {text.strip()[:-1]: j for j, text in enumerate(block) if re.fullmatch(r"\s*\w+:", text)}
            texts = {name: "\n".join(_indented_block(block, j, len(block[j]) - len(block[j].lstrip())))
                     for name, j in sections.items()}
            if m.group(2):
                found[m.group(2)] = texts
            elif m.group(3) in found:
                found[m.group(4)] = {**found[m.group(3)], **texts}
    return {rule: "\n".join(texts[name] for name in ("input", "params") if name in texts)
            for rule, texts in found.items() if "output" in texts}  # no output: a target list


def _indented_block(lines: list[str], start: int, indent: int) -> list[str]:
    """The lines after ``lines[start]`` indented deeper than ``indent`` (blank lines included)."""
    out = []
    for text in lines[start + 1:]:
        if text.strip() and len(text) - len(text.lstrip()) <= indent:
            break
        out.append(text)
    return out


def workflow_names(workflow_dir: Path) -> tuple[set[str], dict[str, str]]:
    """Names the workflow's files define (functions, UPPER_CASE globals) and the aliases of
    configuration sections (``ISO = config["isoconfigurational"]`` -> ISO: isoconfigurational)."""
    names: set[str] = set()
    aliases: dict[str, str] = {}
    for f in (workflow_dir / "rules").glob("*.smk"):
        text = f.read_text()
        names |= set(re.findall(r"^\s*def (\w+)\(", text, re.M))
        names |= set(re.findall(r"^\s*([A-Z][A-Z0-9_]*) =", text, re.M))
        aliases.update(re.findall(r'^([A-Z][A-Z0-9_]*) = config\["(\w+)"\]\s*$', text, re.M))
    return names, aliases


def _subscripts(text: str, start: str) -> Iterable[str]:
    for m in re.finditer(rf"\b{start}((?:\[[\"']\w+[\"']\])+)", text):
        yield ".".join(re.findall(r"[\"'](\w+)[\"']", m.group(1)))


def params_reads(text: str, names: set[str], aliases: dict[str, str]) -> tuple[set[str], set[str]]:
    """(settings builders, configuration keys) that a rule's params and input blocks read."""
    builders = set(re.findall(r"\bS\.(\w+)\(", text)) - {"dumps"}
    keys = set(_subscripts(text, "config"))
    for alias, section in aliases.items():
        keys |= {f"{section}.{k}" for k in _subscripts(text, alias)}
    used = set(re.findall(r"\b([A-Za-z_]\w*)\b", text)) & names
    unknown = used - set(WORKFLOW_READS) - READS_NOTHING - set(aliases)
    if unknown:
        raise ValueError(f"the rules' params or inputs use workflow names {sorted(unknown)} that "
                       "equiglass.rerun_map.WORKFLOW_READS does not describe: add the configuration keys "
                       "they read (or add them to READS_NOTHING)")
    for name in used & set(WORKFLOW_READS):
        for key in WORKFLOW_READS[name]:
            (builders.add(key[2:]) if key.startswith("S.") else keys.add(key))
    return builders, keys


# ---------------------------------------------------------------------- the settings builders
def _temps(cfg: dict[str, Any]) -> list[str]:
    return [temperature_key(t) for t in cfg["temperatures"]]


def _samples(cfg: dict[str, Any], T: str) -> list[str]:
    return [f"{i:03d}" for i in range(samples_at(cfg, T))]


def _sets(cfg: dict[str, Any]) -> dict[str, list[str]]:
    return {set_name(s): [temperature_key(t) for t in s] for s in cfg["training"]["sets"]}


def _ablation_train(cfg: dict[str, Any]) -> Any:
    from .ablations import variants

    ab = cfg["ablations"]
    t = ab["train_set"][0] if ab["train_set"] else next(s[0] for s in cfg["training"]["sets"] if len(s) == 1)
    return {key: S.ablation_train(cfg, key, [temperature_key(x) for x in v.train_set or [t]])
            for key, v in variants(cfg).items()}


# builder -> every value it gives for the wildcards of the jobs of a configuration
BUILDERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "equilibrate": lambda c: [S.equilibrate(c, T, s) for T in _temps(c) for s in _samples(c, T)],
    "isoconfigurational": lambda c: [S.isoconfigurational(c, T, s, b) for T in _temps(c) for s in _samples(c, T)
                                     for b in S.replica_batches(c, T, s)],
    "long_nve": lambda c: [S.long_nve(c, T, s) for T in _temps(c) for s in _samples(c, T)],
    "dynamics": lambda c: [S.dynamics(c, T) for T in _temps(c)],
    "propensity": lambda c: [S.propensity(c, T) for T in _temps(c)],
    "graphs": lambda c: [S.graphs(c, T) for T in _temps(c)],
    "inherent": lambda c: [S.inherent(c, T, s) for T in _temps(c) for s in _samples(c, T)],
    "train": lambda c: [S.train(c, m, name, temps) for m in c["training"]["models"]
                        for name, temps in _sets(c).items()],
    "ablation_train": _ablation_train,
    "evaluate": lambda c: [S.evaluate(c, name) for name in _sets(c)],
    "transfer": lambda c: [S.transfer(c, T) for T in _temps(c)],
    "interpret": S.interpret,
    "published_predictions": S.published_predictions,
    "import_sample": lambda c: [S.import_sample(c, T) for T in _temps(c)],
    "import_dynamics": lambda c: [S.import_dynamics(c, T) for T in _temps(c)],
}


def _outputs(build: Callable[[dict[str, Any]], Any], cfg: dict[str, Any]) -> Any:
    try:
        return S.dumps(build(cfg))
    except Exception as err:  # a changed key the builder cannot take: it reads that key
        return f"error: {type(err).__name__}"


def builder_reads(cfg: dict[str, Any], changed: dict[str, list[dict[str, Any]]]) -> dict[str, set[str]]:
    """Builder -> the keys (of ``changed``: key -> configurations with that key changed) whose
    change changes what the builder returns."""
    out: dict[str, set[str]] = {}
    for name, build in BUILDERS.items():
        base = _outputs(build, cfg)
        out[name] = {key for key, cfgs in changed.items() if any(_outputs(build, c) != base for c in cfgs)}
    return out


def rules_by_key(cfg: dict[str, Any], changed: dict[str, list[dict[str, Any]]],
                 workflow_dir: Path) -> dict[str, list[str]]:
    """Configuration key (of ``changed``) -> the rules whose params or inputs it changes, in
    workflow order."""
    names, aliases = workflow_names(workflow_dir)
    by_builder = builder_reads(cfg, changed)
    out: dict[str, list[str]] = {key: [] for key in changed}
    for rule, text in rule_blocks(workflow_dir).items():
        builders, keys = params_reads(text, names, aliases)
        missing = builders - set(BUILDERS)
        if missing:
            raise ValueError(f"rule {rule} passes settings of {sorted(missing)}: add them to "
                             "equiglass.rerun_map.BUILDERS")
        read = set().union(*(by_builder[b] for b in builders)) if builders else set()
        for key in changed:
            if key in read or any(key == k or key.startswith(k + ".") for k in keys):
                out[key].append(rule)
    return out


def with_value(cfg: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """A copy of ``cfg`` with the dotted ``key`` set to ``value``."""
    out = copy.deepcopy(cfg)
    node = out
    *parents, last = key.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = value
    return out


__all__ = ["BUILDERS", "WORKFLOW_READS", "builder_reads", "params_reads", "rule_blocks", "rules_by_key",
           "with_value", "workflow_names"]
