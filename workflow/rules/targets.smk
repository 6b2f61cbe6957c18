# The targets of `all` (the default target): the files of every part of the pipeline, and the
# comparisons made.


def ablation_figures():
    names = {
        "lmax": "ablation_lmax",
        "depth": "ablation_depth",
        "inputs": "ablation_inputs",
        "curve": "learning_curves",
        "levers": "levers",
    }
    return {study: names[study] for study in ABL_STUDIES} if ABL["enabled"] else {}


def ablation_study_inputs(study):
    """Evaluations of a study: replicate 0 of each setting in order, then the other seeds'."""
    evs = [ablation_evals(v.key) for _, v in ABL_STUDIES[study]]
    return [e[0] for e in evs] + [f for e in evs for f in e[1:]]


def ablation_study_plan(study):
    """The settings' labels, and (only where they differ from one seed per setting tested at
    ABL_T) the seeds' evaluations, the test temperatures and the variant keys."""
    rows = ABL_STUDIES[study]
    plan = {"labels": [label for label, _ in rows]}
    reps = {str(i): ablation_evals(v.key)[1:] for i, (_, v) in enumerate(rows)}
    if any(reps.values()):
        plan["replicates"] = {i: f for i, f in reps.items() if f}
    reused = any(v.key in ABL_MAIN for _, v in rows)
    if len(ABL_TEST_T) > 1 or reused:
        plan["temperatures"] = ABL_TEST_T
    if reused:
        plan["keys"] = [v.key for _, v in rows]
    return plan


# ---------------------------------------------------------------------------- targets
SIMULATION_TARGETS = (  # (every propensity job reads its equilibrated configuration: not listed again)
    [f"results/dynamics/T{T}.json" for T in TEMPS]
    + [propensity_file(T, s) for T in TEMPS for s in SAMPLES[T]]
)
LEARN_TARGETS = (
    EVAL_FILES
    + SEED_EVAL_FILES
    + PUBLISHED_MODEL_EVAL_FILES
    + [
        "results/tables/metrics.csv",
        "results/tables/comparisons.csv",
    ]
)


def comparison_plan():
    """Models (family@set -> evaluation file) and the pairs compared: SE(3) against every other
    family trained on the same set; with ablations, l_max = 0 against the best l_max. With
    training.seeds > 1, "replicates": family@set -> the evaluations of its replicates r >= 1.
    """
    models = {f"{m}@{ts}": f"results/eval/{m}/{ts}.json" for m, ts in TRAIN_JOBS}
    pairs = [
        [f"se3gnn@{ts}", f"{m}@{ts}"]
        for m, ts in TRAIN_JOBS
        if m != "se3gnn" and ("se3gnn", ts) in TRAIN_JOBS
    ]
    plan = {"models": models, "pairs": pairs, "seed": config["seeds"]["split"]}
    # ours against the predictions deposited in GlassBench's test files (glassbench.smk)
    models.update(PUBLISHED_EVALS)
    pairs += [[f"{m}@{ts}", name] for m, ts in TRAIN_JOBS for name in PUBLISHED_EVALS]
    # absent with one seed each: the plan (so the job) is as before seeds existed
    replicates = {}
    for (m, ts, r), path in zip(SEED_JOBS, SEED_EVAL_FILES):
        replicates.setdefault(f"{m}@{ts}", []).append(path)
    if replicates:
        plan["replicates"] = replicates
    if ABL["enabled"] and "lmax" in ABL_STUDIES:
        plan.update(
            ablations={"lmax": "results/ablations/ablation_lmax.json"},
            ablation_T=float(ABL_T),
            ablation_set=set_name([ABL_T]),
        )
        _invariant_pairs(plan)
    return plan


def _invariant_pairs(plan):
    """l_max = 0 against the descriptor models trained on the same set, when the ablations train
    on the main models' data with their budget (ablations.n_train and epochs null)."""
    zero = next((v for lab, v in ABL_STUDIES["lmax"] if lab == "l_max = 0"), None)
    ts = set_name([ABL_T])
    if zero is None or ABL["n_train"] is not None or ABL["epochs"] is not None:
        return
    files = ablation_evals(zero.key)
    plan["models"]["se3gnn l_max = 0"] = files[0]
    if files[1:]:
        plan.setdefault("replicates", {})["se3gnn l_max = 0"] = files[1:]
    plan["pairs"] += [
        ["se3gnn l_max = 0", f"{m}@{ts}"]
        for m in ("ridge", "descriptor_mlp")
        if (m, ts) in TRAIN_JOBS
    ]


def comparison_inputs(w):
    plan = comparison_plan()
    return [
        *plan["models"].values(),
        *(f for files in plan.get("replicates", {}).values() for f in files),
        *plan.get("ablations", {}).values(),
    ]


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
