# The paper's experiments: generalization, transfer learning, interpretability; results/summary.md.
EXP = config["experiments"]
EXPERIMENT_TARGETS = []


if EXP["enabled"]:
    _single_sets = [ts for ts in SETS if len(SETS[ts]) == 1]
    TRANSFER_SOURCE = set_name(EXP["transfer"]["source"]) if EXP["transfer"]["source"] else (
        _single_sets[0] if _single_sets else None)
    if TRANSFER_SOURCE is not None:
        _src_t = float(SETS[TRANSFER_SOURCE][0])
        TRANSFER_TARGET = (temperature_key(EXP["transfer"]["target"]) if EXP["transfer"]["target"] is not None
                           else max(TEMPS, key=lambda T: abs(float(T) - _src_t)))
    INTERPRET_SET = set_name(EXP["interpret"]["model_set"]) if EXP["interpret"]["model_set"] else list(SETS)[-1]
    INTERPRET_T = (temperature_key(EXP["interpret"]["temperature"]) if EXP["interpret"]["temperature"] is not None
                   else min(TEMPS, key=float))


    def _interpret_ids():
        ids = (SPLITS[INTERPRET_T]["test"] + SPLITS[INTERPRET_T]["validation"] + SPLITS[INTERPRET_T]["train"])
        return [f"{i:03d}" for i in ids[: EXP["interpret"]["n_configs"]]]


    def _transfer_pool():
        """Target-temperature configurations not used for testing, training ones first."""
        T = TRANSFER_TARGET
        return [f"{i:03d}" for i in SPLITS[T]["train"] + SPLITS[T]["validation"]]


    def _pair_args(T, ids):
        return [f"{graph_file(T, s)}:{propensity_file(T, s)}" for s in ids]


    def _pair_inputs(T, ids):
        return [f for s in ids for f in (graph_file(T, s), propensity_file(T, s))]


    EXPERIMENT_TARGETS = [
        "results/experiments/generalization.json",
        "results/experiments/transfer.json",
        "results/experiments/interpretability.json",
        "results/summary.md",
    ]


    rule generalization:
        input:
            EVAL_FILES,
        output:
            json="results/experiments/generalization.json",
            csv="results/experiments/generalization.csv",
            matrix=report("results/figures/generalization_matrix.png", category="Experiments",
                          subcategory="1 Generalization", caption="../report/generalization.rst"),
            curves=report("results/figures/generalization_curves.png", category="Experiments",
                          subcategory="1 Generalization", caption="../report/generalization.rst"),
        params:
            caption=what_was_run(),
        resources:
            **light_resources(),
        conda:
            ENVS["analysis"]
        log:
            "logs/experiments/generalization.log",
        shell:
            "{EQUIGLASS} experiment generalization {input} --output {output.json} --figures {output.matrix} "
            "{output.curves} --caption {params.caption:q} 2> {log}"


    rule transfer:
        input:
            model=f"results/models/se3gnn/{TRANSFER_SOURCE}/model.pt",
            pool=lambda w: _pair_inputs(TRANSFER_TARGET, _transfer_pool()),
            test=lambda w: _pair_inputs(TRANSFER_TARGET, [f"{i:03d}" for i in SPLITS[TRANSFER_TARGET]["test"]]),
        output:
            json="results/experiments/transfer.json",
            csv="results/experiments/transfer.csv",
            png=report("results/figures/transfer.png", category="Experiments", subcategory="2 Transfer learning",
                       caption="../report/transfer.rst"),
        params:
            settings=lambda w: settings_json({"transfer": EXP["transfer"], "target": float(TRANSFER_TARGET),
                                              "seed": derive_seed(config["seeds"]["model"], "transfer"),
                                              "threads": config["training"]["threads"]}),
            pool=lambda w: _pair_args(TRANSFER_TARGET, _transfer_pool()),
            test=lambda w: _pair_args(TRANSFER_TARGET, [f"{i:03d}" for i in SPLITS[TRANSFER_TARGET]["test"]]),
            caption=what_was_run(),
        threads: config["training"]["threads"]
        resources:
            **light_resources(mem_mb=8000, runtime=120),
        conda:
            ENVS["learn"]
        log:
            "logs/experiments/transfer.log",
        shell:
            "OMP_NUM_THREADS={threads} {EQUIGLASS} experiment transfer --settings {params.settings:q} "
            "--model {input.model} --pool {params.pool} --test {params.test} --output {output.json} "
            "--figures {output.png} --caption {params.caption:q} 2> {log}"


    rule interpret:
        input:
            model=f"results/models/se3gnn/{INTERPRET_SET}/model.pt",
            pairs=lambda w: _pair_inputs(INTERPRET_T, _interpret_ids()),
            configurations=lambda w: [model_input_configuration(SimpleNamespace(T=INTERPRET_T, s=s))
                                      for s in _interpret_ids()],
        output:
            json="results/experiments/interpretability.json",
            npz="results/experiments/interpretability.npz",
            corr=report("results/figures/interpretability.png", category="Experiments",
                        subcategory="3 Interpretability", caption="../report/interpretability.rst"),
            map=report("results/figures/interpretability_map.png", category="Experiments",
                       subcategory="3 Interpretability", caption="../report/interpretability.rst"),
        params:
            settings=lambda w: settings_json({"md": config["md"], "threads": config["training"]["threads"],
                                              "slab": config["figures"]["snapshot_slab"]}),
            pairs=lambda w: _pair_args(INTERPRET_T, _interpret_ids()),
            caption=what_was_run(),
        threads: config["training"]["threads"]
        resources:
            **light_resources(mem_mb=8000, runtime=60),
        conda:
            ENVS["learn"]
        log:
            "logs/experiments/interpret.log",
        shell:
            "{EQUIGLASS} experiment interpret --settings {params.settings:q} --model {input.model} "
            "--pairs {params.pairs} --configurations {input.configurations} --output {output.json} "
            "--figures {output.corr} {output.map} --caption {params.caption:q} 2> {log}"


    rule summary:
        input:
            metrics="results/tables/metrics.csv",
            generalization="results/experiments/generalization.json",
            transfer="results/experiments/transfer.json",
            interpret="results/experiments/interpretability.json",
        output:
            report("results/summary.md", category="Summary", caption="../report/summary.rst"),
        params:
            context=lambda w: settings_json({"preset": config["preset"], "what": what_was_run()}),
        resources:
            **light_resources(),
        conda:
            ENVS["analysis"]
        log:
            "logs/experiments/summary.log",
        shell:
            "{EQUIGLASS} experiment summary --metrics {input.metrics} --generalization {input.generalization} "
            "--transfer {input.transfer} --interpret {input.interpret} --context {params.context:q} "
            "--validation results/validation/validation.json --output {output} 2> {log}"


    rule experiments:
        input:
            EXPERIMENT_TARGETS,
