# Paths of the workflow's files, the wildcards in them, and the samples each job reads (the names
# they use come from config.smk).


wildcard_constraints:
    T=r"\d+\.\d\d",
    s=r"\d{3}",
    b=r"\d{2}",
    model="|".join(registry.names()),
    trainset=r"T[0-9.+]+",
    r=r"[1-9]\d*",


# ------------------------------------------------------------------------------ paths
def md_dir(T, s):
    return f"results/md/T{T}/s{s}"


def equilibrated(T, s):
    return f"{md_dir(T, s)}/equilibrated.gsd"


def iso_batches(T, s):
    """Replica batch files of sample s at T (test configurations: test_replicas)."""
    return [f"{md_dir(T, s)}/iso_b{b}.npz" for b in S.replica_batches(config, T, s)]


def base_iso_batches(T, s):
    """The batch files of the first `replicas` replicas of sample s at T (every configuration
    has them; test configurations may have more)."""
    return [
        f"{md_dir(T, s)}/iso_b{b}.npz"
        for b in S.replica_batches(config, T, s, base_only=True)
    ]


def imported_file(T, s):
    return IMPORT_FILES[T][int(s)]


def replicate(w):
    """The training replicate of a train/evaluate job: its {r} wildcard (train_seed), else 0."""
    return int(w.get("r", 0))


def model_dir(model, trainset, r=0):
    """Folder of a trained model: replicate 0 (the model) and its seed replicates r >= 1 inside it."""
    base = f"results/models/{model}/{trainset}"
    return base if r == 0 else f"{base}/seed{r}"


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
    reps = f"{ISO['replicas']} replicas"
    if ISO["test_replicas"] and ISO["test_replicas"] != ISO["replicas"]:
        reps += f" ({ISO['test_replicas']} on test configurations)"
    held_out = f", test only at T={', '.join(TEST_ONLY)}" if TEST_ONLY else ""
    return (
        f"preset {config['preset']}: N={config['system']['n_particles']}, T={', '.join(TEMPS)}, "
        f"{config['samples']} configurations per T, {reps}{held_out}"
    )


# ------------------------------------------------- samples of the experiments and ablations
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


def ablation_train_temps(key):
    """The temperatures an ablation variant trains at (a lever's own train_set, else ABL_T)."""
    v = ABL_VARIANTS[key]
    return [temperature_key(t) for t in v.train_set] if v.train_set else [ABL_T]


def ablation_train_ids(key, T=None):
    """The first n training configurations at T (default ABL_T) an ablation variant trains on."""
    n = ABL_VARIANTS[key].n_train or ABL["n_train"]
    return ids(T or ABL_T, "train")[:n] if n else ids(T or ABL_T, "train")


def ablation_train_part(key, T=None):
    """The dataset part an ablation trains on at T (its first n training configurations)."""
    n = len(ablation_train_ids(key, T))
    return "train" if n == n_split(T or ABL_T, "train") else f"train-first{n}"


def ablation_model_dir(key, r=0):
    """Folder of an ablation model: replicate 0 and its seed replicates r >= 1 inside it."""
    base = f"results/ablations/models/{key}"
    return base if r == 0 else f"{base}/seed{r}"


def ablation_evals(key):
    """Evaluations of an ablation variant's seeds, replicate 0 first: its own, or those of the
    main model it is (ABL_MAIN)."""
    seeds = range(1, ABL_SEEDS[key])
    if key in ABL_MAIN:
        base = f"results/eval/{ABL_VARIANTS[key].family}/{ABL_MAIN[key]}"
    else:
        base = f"results/ablations/eval/{key}"
    return [f"{base}.json"] + [f"{base}/seed{r}.json" for r in seeds]


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


def ablation_pairs(key, samples, T=None):
    """'graph:propensity' arguments of an ablation variant's samples at T (default ABL_T)."""
    at = T or ABL_T
    return [f"{ablation_graph(key, at, s)}:{propensity_file(at, s)}" for s in samples]
