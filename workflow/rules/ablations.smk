# Ablations and learning curves (equiglass.ablations): SE(3) variants and model families trained
# at one temperature (ABL_T), from ablations.seeds seeds, and tested paired on its test
# configurations (and those of ABL_TEST_T).


if ABL["enabled"]:

    rule ablation_graphs:
        input:
            lambda w: f"{md_dir(w.T, w.s)}/{POSITION_FILES[A.INPUT_VARIANTS[w.inputs]['positions']]}",
        output:
            "results/ablations/graphs/{inputs}/T{T}/s{s}.npz",
        log:
            "logs/ablations/graphs_{inputs}_T{T}_s{s}.log",
        wildcard_constraints:
            inputs="|".join(re.escape(k) for k in A.INPUT_VARIANTS),
        conda:
            ENVS["learn"]
        resources:
            **light_resources(mem_mb=4000),
        params:
            settings=lambda w: ablation_graph_settings(w.inputs, w.T),
        shell:
            "python -m equiglass graphs --settings {params.settings:q} --input {input} --output {output} 2> {log}"

    rule ablation_train:
        input:
            train=lambda w: [
                dataset(ablation_inputs(w.key), T, ablation_train_part(w.key, T))
                for T in ablation_train_temps(w.key)
            ],
            val=lambda w: [
                dataset(ablation_inputs(w.key), T, "validation")
                for T in ablation_train_temps(w.key)
            ],
            dynamics=lambda w: [
                f"results/dynamics/T{T}.json" for T in ablation_train_temps(w.key)
            ],
        output:
            model="results/ablations/models/{key}/model.pt",
            json="results/ablations/models/{key}/model.json",
            history="results/ablations/models/{key}/history.csv",
        log:
            "logs/ablations/train_{key}.log",
        benchmark:
            "results/benchmarks/ablation_train/{key}.tsv"
        wildcard_constraints:
            key="|".join(re.escape(k) for k in ABL_TRAINED),
        retries: ablation_train_retries()
        conda:
            ENVS["learn"]
        threads: config["training"]["threads"]
        resources:
            **learn_resources(
                lambda wc: ablation_train_estimate(wc.key),
                lambda wc: ABL_VARIANTS[wc.key].family,
                lambda wc: sum(
                    len(ablation_train_ids(wc.key, T)) + n_split(T, "validation")
                    for T in ablation_train_temps(wc.key)
                ),
            ),
        params:
            settings=lambda w: S.dumps(
                S.ablation_train(
                    config, w.key, ablation_train_temps(w.key), replicate(w)
                )
            ),
            train=lambda w: [
                p
                for T in ablation_train_temps(w.key)
                for p in ablation_pairs(w.key, ablation_train_ids(w.key, T), T)
            ],
            val=lambda w: [
                p
                for T in ablation_train_temps(w.key)
                for p in ablation_pairs(w.key, ids(T, "validation"), T)
            ],
            out_dir=lambda w: ablation_model_dir(w.key, replicate(w)),
        shell:
            "OMP_NUM_THREADS={threads} python -m equiglass train --settings {params.settings:q} "
            "--train {params.train} --val {params.val} --dynamics {input.dynamics} "
            "--out-dir {params.out_dir} 2> {log}"

    # replicate r >= 1 of ablations.seeds: the same training from a seed derived from r
    use rule ablation_train as ablation_train_seed with:
        output:
            model="results/ablations/models/{key}/seed{r}/model.pt",
            json="results/ablations/models/{key}/seed{r}/model.json",
            history="results/ablations/models/{key}/seed{r}/history.csv",
        log:
            "logs/ablations/train_{key}_seed{r}.log",
        benchmark:
            "results/benchmarks/ablation_train/{key}_seed{r}.tsv"

    rule ablation_evaluate:
        input:
            model="results/ablations/models/{key}/model.pt",
            test=lambda w: [
                dataset(ablation_inputs(w.key), T, "test") for T in ABL_TEST_T
            ],
        output:
            json="results/ablations/eval/{key}.json",
            npz="results/ablations/eval/{key}.npz",
        log:
            "logs/ablations/evaluate_{key}.log",
        wildcard_constraints:
            key="|".join(re.escape(k) for k in ABL_TRAINED),
        conda:
            ENVS["learn"]
        threads: config["training"]["threads"]
        resources:
            **learn_resources(
                lambda wc: P.infer_seconds(
                    config,
                    sum(n_split(T, "test") for T in ABL_TEST_T),
                    ABL_VARIANTS[wc.key].family,
                )
                / 60.0,
                lambda wc: ABL_VARIANTS[wc.key].family,
                lambda wc: max(n_split(T, "test") for T in ABL_TEST_T),
            ),
            torch_device=lambda wc: learn_device(ABL_VARIANTS[wc.key].family),
        params:
            settings=lambda w: S.dumps(S.evaluate(config, f"ablation-{w.key}")),
            test=lambda w: [
                p for T in ABL_TEST_T for p in ablation_pairs(w.key, ids(T, "test"), T)
            ],
        shell:
            "python -m equiglass evaluate --settings {params.settings:q} --model {input.model} "
            "--test {params.test} --output {output.json} --device {resources.torch_device} 2> {log}"

    use rule ablation_evaluate as ablation_evaluate_seed with:
        input:
            model="results/ablations/models/{key}/seed{r}/model.pt",
            test=lambda w: [
                dataset(ablation_inputs(w.key), T, "test") for T in ABL_TEST_T
            ],
        output:
            json="results/ablations/eval/{key}/seed{r}.json",
            npz="results/ablations/eval/{key}/seed{r}.npz",
        log:
            "logs/ablations/evaluate_{key}_seed{r}.log",

    rule ablation_study:
        input:
            lambda w: ablation_study_inputs(STUDY_OF[w.name]),
        output:
            json="results/ablations/{name}.json",
            csv="results/ablations/{name}.csv",
            png=report(
                "results/figures/{name}.png",
                category="Ablations",
                caption="../report/ablations.rst",
            ),
        log:
            "logs/ablations/{name}.log",
        wildcard_constraints:
            name="|".join(ablation_figures().values()),
        conda:
            ENVS["analysis"]
        resources:
            **light_resources(),
        params:
            study=lambda w: STUDY_OF[w.name],
            labels=lambda w: S.dumps(ablation_study_plan(STUDY_OF[w.name])),
            caption=lambda w: f"{what_was_run()}; trained at T={ABL_T}",
        shell:
            "python -m equiglass experiment ablation {params.study} {input} --labels {params.labels:q} "
            "--output {output.json} --figure {output.png} --caption {params.caption:q} 2> {log}"

    rule ablations:
        input:
            ABLATION_TARGETS,
