# The paper's experiments: generalization, transfer learning, interpretability; results/summary.md.
# Rules exist only with experiments.enabled (targets in targets.smk, helpers in config.smk and paths.smk).


if EXP["enabled"]:

    rule generalization:
        input:
            evals=EVAL_FILES,
            seeds=SEED_EVAL_FILES,
        output:
            json="results/experiments/generalization.json",
            csv="results/experiments/generalization.csv",
            matrix=report(
                "results/figures/generalization_matrix.png",
                category="Experiments",
                subcategory="1 Generalization",
                caption="../report/generalization.rst",
            ),
            curves=report(
                "results/figures/generalization_curves.png",
                category="Experiments",
                subcategory="1 Generalization",
                caption="../report/generalization.rst",
            ),
        log:
            "logs/experiments/generalization.log",
        conda:
            ENVS["learn"]
        resources:
            **light_resources(),
        params:
            caption=what_was_run(),
            seed=config["seeds"]["split"],
        shell:
            "python -m equiglass experiment generalization {input.evals} --replicates {input.seeds} "
            "--output {output.json} --figures {output.matrix} {output.curves} --caption {params.caption:q} "
            "--seed {params.seed} 2> {log}"

    rule transfer:
        input:
            model=f"results/models/se3gnn/{TRANSFER_SOURCE}/model.pt",
            pool=lambda w: pair_inputs(TRANSFER_TARGET, transfer_pool()),
            test=lambda w: pair_inputs(TRANSFER_TARGET, ids(TRANSFER_TARGET, "test")),
        output:
            json="results/experiments/transfer.json",
            csv="results/experiments/transfer.csv",
            png=report(
                "results/figures/transfer.png",
                category="Experiments",
                subcategory="2 Transfer learning",
                caption="../report/transfer.rst",
            ),
        log:
            "logs/experiments/transfer.log",
        retries: segment_retries(transfer_estimate())
        conda:
            ENVS["learn"]
        threads: config["training"]["threads"]
        resources:
            **learn_resources(
                lambda wc: transfer_estimate(),
                lambda wc: "se3gnn",
                lambda wc: len(transfer_pool()) + n_split(TRANSFER_TARGET, "test"),
            ),
            torch_device=learn_device("se3gnn"),
        params:
            settings=lambda w: S.dumps(S.transfer(config, TRANSFER_TARGET)),
            pool=lambda w: pair_args(TRANSFER_TARGET, transfer_pool()),
            test=lambda w: pair_args(TRANSFER_TARGET, ids(TRANSFER_TARGET, "test")),
            caption=what_was_run(),
        shell:
            "OMP_NUM_THREADS={threads} python -m equiglass experiment transfer --settings {params.settings:q} "
            "--model {input.model} --pool {params.pool} --test {params.test} --output {output.json} "
            "--figures {output.png} --caption {params.caption:q} --device {resources.torch_device} 2> {log}"

    rule interpret:
        input:
            model=f"results/models/se3gnn/{INTERPRET_SET}/model.pt",
            pairs=lambda w: pair_inputs(INTERPRET_T, interpret_ids()),
            configurations=lambda w: [
                model_input_configuration(SimpleNamespace(T=INTERPRET_T, s=s))
                for s in interpret_ids()
            ],
        output:
            json="results/experiments/interpretability.json",
            npz="results/experiments/interpretability.npz",
            corr=report(
                "results/figures/interpretability.png",
                category="Experiments",
                subcategory="3 Interpretability",
                caption="../report/interpretability.rst",
            ),
            map=report(
                "results/figures/interpretability_map.png",
                category="Experiments",
                subcategory="3 Interpretability",
                caption="../report/interpretability.rst",
            ),
        log:
            "logs/experiments/interpret.log",
        conda:
            ENVS["learn"]
        threads: config["training"]["threads"]
        resources:
            **learn_resources(
                lambda wc: P.interpret_seconds(config) / 60.0,
                lambda wc: "se3gnn",
                lambda wc: len(interpret_ids()),
            ),
            torch_device=learn_device("se3gnn"),
        params:
            settings=lambda w: S.dumps(S.interpret(config)),
            pairs=lambda w: pair_args(INTERPRET_T, interpret_ids()),
            caption=what_was_run(),
        shell:
            "python -m equiglass experiment interpret --settings {params.settings:q} --model {input.model} "
            "--pairs {params.pairs} --configurations {input.configurations} --output {output.json} "
            "--figures {output.corr} {output.map} --caption {params.caption:q} --device {resources.torch_device} "
            "2> {log}"

    rule summary:
        input:
            metrics="results/tables/metrics.csv",
            comparisons="results/tables/comparisons.json",
            generalization="results/experiments/generalization.json",
            transfer="results/experiments/transfer.json",
            interpret="results/experiments/interpretability.json",
            ablations=[
                f"results/ablations/{name}.json"
                for name in ablation_figures().values()
            ],
            dynamics=[f"results/dynamics/T{T}.json" for T in TEMPS],
            models=[f"{model_dir(m, ts)}/model.json" for m, ts in TRAIN_JOBS]
            + [f"{model_dir(m, ts, r)}/model.json" for m, ts, r in SEED_JOBS],
            histories=[f"{model_dir(m, ts)}/history.csv" for m, ts in TRAIN_JOBS]
            + [f"{model_dir(m, ts, r)}/history.csv" for m, ts, r in SEED_JOBS],
        output:
            report(
                "results/summary.md",
                category="Summary",
                caption="../report/summary.rst",
            ),
        log:
            "logs/experiments/summary.log",
        conda:
            ENVS["analysis"]
        resources:
            **light_resources(),
        params:
            context=lambda w: S.dumps(
                {"preset": config["preset"], "what": what_was_run()}
            ),
        shell:
            "python -m equiglass experiment summary --metrics {input.metrics} --comparisons {input.comparisons} "
            "--ablations {input.ablations} --dynamics {input.dynamics} --generalization {input.generalization} "
            "--transfer {input.transfer} --interpret {input.interpret} --context {params.context:q} "
            "--models {input.models} --output {output} 2> {log}"

    rule experiments:
        input:
            EXPERIMENT_TARGETS,
