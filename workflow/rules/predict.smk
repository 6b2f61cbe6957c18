# Predictions of a trained model on configurations listed in `predict.inputs` (equiglass predict).
# Outputs: results/predictions/<name>.gsd/.csv/.json and results/figures/predictions_<name>.png.
# `snakemake predictions` makes them; PREDICT_TARGETS (targets.smk) lists them.


rule predict:
    input:
        model=f"results/models/{PREDICT['model']}/{PREDICT_SET}/model.pt",
        configuration=lambda w: PREDICT_INPUTS[w.stem],
    output:
        gsd="results/predictions/{stem}.gsd",
        csv="results/predictions/{stem}.csv",
        json="results/predictions/{stem}.json",
    log:
        "logs/predict/{stem}.log",
    wildcard_constraints:
        stem="|".join(re.escape(s) for s in PREDICT_INPUTS) or "(?!)",
    conda:
        ENVS["learn"]
    resources:
        **predict_resources(),
    params:
        out=lambda w: f"results/predictions/{w.stem}",
        device=PREDICT["device"],
        force="--force" if PREDICT["force"] else "",
    shell:
        "python -m equiglass predict --model {input.model} {input.configuration:q} -o {params.out} "
        "--device {params.device} {params.force} > {log} 2>&1"


rule figure_predictions:
    input:
        gsd="results/predictions/{stem}.gsd",
        json="results/predictions/{stem}.json",
    output:
        png=report(
            "results/figures/predictions_{stem}.png",
            category="Prediction",
            subcategory="Your configurations",
            caption="../report/predictions.rst",
        ),
        pdf="results/figures/predictions_{stem}.pdf",
    log:
        "logs/figures/predictions_{stem}.log",
    wildcard_constraints:
        stem="|".join(re.escape(s) for s in PREDICT_INPUTS) or "(?!)",
    conda:
        ENVS["analysis"]
    resources:
        **light_resources(),
    params:
        caption=lambda w: f"{PREDICT['model']} trained on {PREDICT_SET}: {PREDICT_INPUTS[w.stem]}",
        slab=config["figures"]["snapshot_slab"],
    shell:
        "python -m equiglass figure predictions {input.gsd} --output {output.png} --slab {params.slab} "
        "--caption {params.caption:q} 2> {log}"


rule predictions:
    input:
        PREDICT_TARGETS,
