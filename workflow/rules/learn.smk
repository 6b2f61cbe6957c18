# Learning: graphs/descriptors -> train each model family on each training set -> evaluate.


rule graphs:
    input:
        model_input_configuration,
    output:
        "results/graphs/T{T}/s{s}.npz",
    log:
        "logs/graphs/T{T}_s{s}.log",
    priority: 10
    conda:
        ENVS["learn"]
    resources:
        **light_resources(mem_mb=3000),
    params:
        settings=lambda w: S.dumps(S.graphs(config, w.T)),
    shell:
        "python -m equiglass graphs --settings {params.settings:q} --input {input} --output {output} 2> {log}"


rule split:
    output:
        "results/split.json",
    log:
        "logs/split.log",
    params:
        splits=lambda w: S.dumps(SPLITS),
        seed=config["seeds"]["split"],
    run:
        from equiglass.files import write_json

        write_json(
            output[0],
            {
                "by_temperature": json.loads(params.splits),
                "unit": "sample indices (configurations), never particles",
                "test_only": TEST_ONLY,
                "seed": params.seed,
            },
        )


rule dataset:
    input:
        lambda w: dataset_files(w.inputs, w.T, w.part),
    output:
        "results/datasets/{inputs}/T{T}_{part}.json",
    log:
        "logs/datasets/{inputs}_T{T}_{part}.log",
    wildcard_constraints:
        part=r"train|validation|test|train-first\d+",
    conda:
        ENVS["analysis"]
    shell:
        "python -m equiglass manifest --output {output:q} --temperature {wildcards.T}"
        " --part {wildcards.part} --inputs {wildcards.inputs:q} {input:q} 2> {log:q}"


rule train:
    input:
        train=lambda w: [dataset(MAIN_INPUTS, T, "train") for T in SETS[w.trainset]],
        val=lambda w: [dataset(MAIN_INPUTS, T, "validation") for T in SETS[w.trainset]],
        dynamics=lambda w: [f"results/dynamics/T{T}.json" for T in SETS[w.trainset]],
    output:
        model="results/models/{model}/{trainset}/model.pt",
        json="results/models/{model}/{trainset}/model.json",
        history="results/models/{model}/{trainset}/history.csv",
    log:
        "logs/train/{model}_{trainset}.log",
    benchmark:
        "results/benchmarks/train/{model}_{trainset}.tsv"
    # the longest chain: started as soon as its data exist, before any ablation training
    priority: 20
    retries: train_retries()
    conda:
        ENVS["learn"]
    threads: config["training"]["threads"]
    resources:
        **learn_resources(
            lambda wc: train_estimate(wc.model, wc.trainset),
            lambda wc: wc.model,
            lambda wc: sum(
                n_split(T, "train") + n_split(T, "validation")
                for T in SETS[wc.trainset]
            ),
        ),
    params:
        settings=lambda w: S.dumps(
            S.train(config, w.model, w.trainset, SETS[w.trainset], replicate(w))
        ),
        train=lambda w: [
            p for T in SETS[w.trainset] for p in pair_args(T, ids(T, "train"))
        ],
        val=lambda w: [
            p for T in SETS[w.trainset] for p in pair_args(T, ids(T, "validation"))
        ],
        out_dir=lambda w: model_dir(w.model, w.trainset, replicate(w)),
    shell:
        "OMP_NUM_THREADS={threads} python -m equiglass train --settings {params.settings:q} --train {params.train} "
        "--val {params.val} --dynamics {input.dynamics} --out-dir {params.out_dir} 2> {log}"


# replicate r >= 1 of training.seeds: the same training from a seed derived from r (S.replicate_seed)
use rule train as train_seed with:
    output:
        model="results/models/{model}/{trainset}/seed{r}/model.pt",
        json="results/models/{model}/{trainset}/seed{r}/model.json",
        history="results/models/{model}/{trainset}/seed{r}/history.csv",
    log:
        "logs/train/{model}_{trainset}_seed{r}.log",
    benchmark:
        "results/benchmarks/train/{model}_{trainset}_seed{r}.tsv"


rule evaluate:
    input:
        model="results/models/{model}/{trainset}/model.pt",
        test=[dataset(MAIN_INPUTS, T, "test") for T in TEMPS],
    output:
        json="results/eval/{model}/{trainset}.json",
        npz="results/eval/{model}/{trainset}.npz",
    log:
        "logs/evaluate/{model}_{trainset}.log",
    conda:
        ENVS["learn"]
    threads: config["training"]["threads"]
    resources:
        **learn_resources(
            lambda wc: P.infer_seconds(config, N_TEST, wc.model) / 60.0,
            lambda wc: wc.model,
            lambda wc: max(n_split(T, "test") for T in TEMPS),
        ),
        torch_device=lambda wc: learn_device(wc.model),
    params:
        settings=lambda w: S.dumps(S.evaluate(config, w.trainset)),
        test=[p for T in TEMPS for p in pair_args(T, ids(T, "test"))],
    shell:
        "python -m equiglass evaluate --settings {params.settings:q} --model {input.model} --test {params.test} "
        "--output {output.json} --device {resources.torch_device} 2> {log}"


use rule evaluate as evaluate_seed with:
    input:
        model="results/models/{model}/{trainset}/seed{r}/model.pt",
        test=[dataset(MAIN_INPUTS, T, "test") for T in TEMPS],
    output:
        json="results/eval/{model}/{trainset}/seed{r}.json",
        npz="results/eval/{model}/{trainset}/seed{r}.npz",
    log:
        "logs/evaluate/{model}_{trainset}_seed{r}.log",


rule evaluate_published:
    input:
        test=lambda w: [
            f
            for s in ids(PUBLISHED_MODEL_EVALS[w.name], "test")
            for f in (
                equilibrated(PUBLISHED_MODEL_EVALS[w.name], s),
                propensity_file(PUBLISHED_MODEL_EVALS[w.name], s),
            )
        ],
    output:
        json="results/eval/published/{name}.json",
        npz="results/eval/published/{name}.npz",
    log:
        "logs/evaluate/published_{name}.log",
    wildcard_constraints:
        name="|".join(PUBLISHED),
    conda:
        ENVS["learn"]
    threads: config["training"]["threads"]
    resources:
        **learn_resources(
            lambda wc: P.infer_seconds(
                config, n_split(PUBLISHED_MODEL_EVALS[wc.name], "test"), "bapst"
            )
            / 60.0,
            lambda wc: "bapst",
            lambda wc: n_split(PUBLISHED_MODEL_EVALS[wc.name], "test"),
        ),
        torch_device=lambda wc: learn_device("bapst"),
    params:
        settings=lambda w: S.dumps(S.evaluate(config, f"published:{w.name}")),
        test=lambda w: [
            f"{equilibrated(PUBLISHED_MODEL_EVALS[w.name], s)}:{propensity_file(PUBLISHED_MODEL_EVALS[w.name], s)}"
            for s in ids(PUBLISHED_MODEL_EVALS[w.name], "test")
        ],
    shell:
        "python -m equiglass evaluate --settings {params.settings:q} --model {wildcards.name} --from-configurations "
        "--test {params.test} --output {output.json} --device {resources.torch_device} 2> {log}"


rule table:
    input:
        EVAL_FILES + SEED_EVAL_FILES + PUBLISHED_MODEL_EVAL_FILES,
    output:
        csv=report(
            "results/tables/metrics.csv",
            category="Metrics",
            caption="../report/metrics.rst",
        ),
        md="results/tables/metrics.md",
    log:
        "logs/table.log",
    conda:
        ENVS["analysis"]
    resources:
        **light_resources(),
    shell:
        "python -m equiglass table {input} --output {output.csv} 2> {log}"


rule compare:
    input:
        comparison_inputs,
    output:
        csv=report(
            "results/tables/comparisons.csv",
            category="Metrics",
            caption="../report/comparisons.rst",
        ),
        json="results/tables/comparisons.json",
        png="results/figures/comparisons.png",
    log:
        "logs/compare.log",
    conda:
        ENVS["analysis"]
    resources:
        **light_resources(),
    params:
        plan=lambda w: S.dumps(comparison_plan()),
        caption=what_was_run(),
    shell:
        "python -m equiglass experiment compare --plan {params.plan:q} --output {output.csv} "
        "--figure {output.png} --caption {params.caption:q} 2> {log}"
