# Figures (PNG + PDF) and the report; captions in workflow/report/*.rst.
FIRST_MODEL = "se3gnn" if "se3gnn" in MODELS else MODELS[0]
FIRST_SET = next(ts for m, ts in TRAIN_JOBS if m == FIRST_MODEL)


rule figure_dynamics:
    input:
        json=[f"results/dynamics/T{T}.json" for T in TEMPS],
        npz=[f"results/dynamics/T{T}.npz" for T in TEMPS],
    output:
        png=report(
            "results/figures/dynamics.png",
            category="Dynamics",
            caption="../report/dynamics.rst",
        ),
        pdf="results/figures/dynamics.pdf",
    log:
        "logs/figures/dynamics.log",
    conda:
        ENVS["analysis"]
    resources:
        **light_resources(),
    params:
        caption=what_was_run(),
    shell:
        "python -m equiglass figure dynamics {input.json} --output {output.png} --caption {params.caption:q} 2> {log}"


rule figure_rho:
    input:
        # GlassBench's deposited predictions and the training seeds' evaluations too
        EVAL_FILES + SEED_EVAL_FILES + list(PUBLISHED_EVALS.values()),
    output:
        png=report(
            "results/figures/rho_vs_time.png",
            category="Prediction",
            caption="../report/rho.rst",
        ),
        pdf="results/figures/rho_vs_time.pdf",
    log:
        "logs/figures/rho.log",
    conda:
        ENVS["analysis"]
    resources:
        **light_resources(),
    params:
        caption=what_was_run(),
    shell:
        "python -m equiglass figure rho {input} --output {output.png} --caption {params.caption:q} 2> {log}"


rule figure_scatter:
    input:
        json="results/eval/{model}/{trainset}.json",
        npz="results/eval/{model}/{trainset}.npz",
    output:
        png=report(
            "results/figures/scatter_{model}_{trainset}.png",
            category="Prediction",
            subcategory="Predicted vs true",
            caption="../report/scatter.rst",
        ),
        pdf="results/figures/scatter_{model}_{trainset}.pdf",
    log:
        "logs/figures/scatter_{model}_{trainset}.log",
    conda:
        ENVS["analysis"]
    resources:
        **light_resources(),
    params:
        caption=what_was_run(),
    shell:
        "python -m equiglass figure scatter {input.json} --output {output.png} --caption {params.caption:q} 2> {log}"


rule figure_snapshot:
    input:
        prop=lambda w: propensity_file(w.T, f"{SPLITS[w.T]['test'][0]:03d}"),
        graph=lambda w: graph_file(w.T, f"{SPLITS[w.T]['test'][0]:03d}"),
        eval=f"results/eval/{FIRST_MODEL}/{FIRST_SET}.json",
        predictions=f"results/eval/{FIRST_MODEL}/{FIRST_SET}.npz",
    output:
        png=report(
            "results/figures/snapshot_T{T}.png",
            category="Propensity field",
            caption="../report/snapshot.rst",
        ),
        pdf="results/figures/snapshot_T{T}.pdf",
    log:
        "logs/figures/snapshot_T{T}.log",
    conda:
        ENVS["analysis"]
    resources:
        **light_resources(),
    params:
        caption=what_was_run(),
    shell:
        "python -m equiglass figure snapshot {input.prop} {input.graph} {input.eval} --output {output.png} "
        "--caption {params.caption:q} 2> {log}"


rule figure_training:
    input:
        [f"results/models/{m}/{ts}/history.csv" for m, ts in TRAIN_JOBS],
    output:
        png=report(
            "results/figures/training_curves.png",
            category="Training",
            caption="../report/training.rst",
        ),
        pdf="results/figures/training_curves.pdf",
    log:
        "logs/figures/training.log",
    conda:
        ENVS["analysis"]
    resources:
        **light_resources(),
    params:
        caption=what_was_run(),
    shell:
        "python -m equiglass figure training {input} --output {output.png} --caption {params.caption:q} 2> {log}"


rule figures:
    input:
        FIGURE_TARGETS,
