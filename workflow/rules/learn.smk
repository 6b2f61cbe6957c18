# Learning: graphs/descriptors -> train each model family on each training set -> evaluate.


rule graphs:
    input:
        model_input_configuration,
    output:
        "results/graphs/T{T}/s{s}.npz",
    params:
        settings=graph_settings,
    resources:
        **light_resources(mem_mb=4000),
    conda:
        ENVS["learn"]
    log:
        "logs/graphs/T{T}_s{s}.log",
    shell:
        "{EQUIGLASS} graphs --settings {params.settings:q} --input {input} --output {output} 2> {log}"


rule split:
    output:
        "results/split.json",
    params:
        splits=lambda w: settings_json(SPLITS),
    run:
        from equiglass.files import write_json

        write_json(output[0], {"by_temperature": json.loads(params.splits),
                               "unit": "sample indices (configurations), never particles",
                               "seed": config["seeds"]["split"]})


rule train:
    input:
        train=lambda w: [f for T in SETS[w.trainset] for f in pair_files(T, "train")],
        val=lambda w: [f for T in SETS[w.trainset] for f in pair_files(T, "validation")],
        dynamics=lambda w: [f"results/dynamics/T{T}.json" for T in SETS[w.trainset]],
    output:
        model="results/models/{model}/{trainset}/model.pt",
        json="results/models/{model}/{trainset}/model.json",
        history="results/models/{model}/{trainset}/history.csv",
    params:
        settings=train_settings,
        train=lambda w: [p for T in SETS[w.trainset] for p in pairs(T, "train")],
        val=lambda w: [p for T in SETS[w.trainset] for p in pairs(T, "validation")],
        out_dir=lambda w: f"results/models/{w.model}/{w.trainset}",
    threads: config["training"]["threads"]
    resources:
        **train_resources(),
    conda:
        ENVS["learn"]
    benchmark:
        "results/benchmarks/train/{model}_{trainset}.tsv"
    log:
        "logs/train/{model}_{trainset}.log",
    shell:
        "OMP_NUM_THREADS={threads} {EQUIGLASS} train --settings {params.settings:q} --train {params.train} "
        "--val {params.val} --dynamics {input.dynamics} --out-dir {params.out_dir} 2> {log}"


rule evaluate:
    input:
        model="results/models/{model}/{trainset}/model.pt",
        test=[f for T in TEMPS for f in pair_files(T, "test")],
    output:
        json="results/eval/{model}/{trainset}.json",
        npz="results/eval/{model}/{trainset}.npz",
    params:
        settings=lambda w: settings_json({"set_name": w.trainset, "seed": config["seeds"]["split"]}),
        test=[p for T in TEMPS for p in pairs(T, "test")],
    resources:
        **light_resources(mem_mb=8000, runtime=60),
    conda:
        ENVS["learn"]
    log:
        "logs/evaluate/{model}_{trainset}.log",
    shell:
        "{EQUIGLASS} evaluate --settings {params.settings:q} --model {input.model} --test {params.test} "
        "--output {output.json} 2> {log}"


rule table:
    input:
        EVAL_FILES,
    output:
        csv=report("results/tables/metrics.csv", category="Metrics", caption="../report/metrics.rst"),
        md="results/tables/metrics.md",
    resources:
        **light_resources(),
    conda:
        ENVS["analysis"]
    log:
        "logs/table.log",
    shell:
        "{EQUIGLASS} table {input} --output {output.csv} 2> {log}"
