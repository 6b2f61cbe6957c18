# Predictions of a trained model on configurations listed in `predict.inputs` (equiglass predict).
# Outputs: results/predictions/<name>.gsd/.csv/.json and results/figures/predictions_<name>.png.
# `snakemake predictions` makes them; PREDICT_TARGETS lists them (empty when predict.inputs is).
import re
from pathlib import Path as _Path

PREDICT = config["predict"]
PREDICT_SET = next(iter(SETS))
PREDICT_MODEL_FILE = f"results/models/{PREDICT['model']}/{PREDICT_SET}/model.pt"


def _predict_inputs():
    """Output name (input file name without extension) -> input path; names must be unique."""
    out = {}
    for path in PREDICT["inputs"]:
        stem = _Path(path).stem
        if stem in out:
            raise WorkflowError(f"predict.inputs: {out[stem]} and {path} would both write results/predictions/"
                                f"{stem}.*: rename one of them")
        out[stem] = path
    return out


PREDICT_INPUTS = _predict_inputs()
PREDICT_TARGETS = [f"results/predictions/{stem}.{ext}" for stem in PREDICT_INPUTS for ext in ("gsd", "csv", "json")] + [
    f"results/figures/predictions_{stem}.png" for stem in PREDICT_INPUTS
]
PREDICT_STEMS = "|".join(re.escape(s) for s in PREDICT_INPUTS) or "(?!)"


def predict_resources():
    res = light_resources(mem_mb=8000, runtime=60)
    if PREDICT["device"] == "gpu":
        res.update(gpu=1, slurm_partition=GPU_PARTITION)
    return res


rule predict:
    input:
        model=PREDICT_MODEL_FILE,
        configuration=lambda w: PREDICT_INPUTS[w.stem],
    output:
        gsd="results/predictions/{stem}.gsd",
        csv="results/predictions/{stem}.csv",
        json="results/predictions/{stem}.json",
    params:
        out=lambda w: f"results/predictions/{w.stem}",
        device=PREDICT["device"],
        force="--force" if PREDICT["force"] else "",
    wildcard_constraints:
        stem=PREDICT_STEMS,
    resources:
        **predict_resources(),
    conda:
        ENVS["learn"]
    log:
        "logs/predict/{stem}.log",
    shell:
        "{EQUIGLASS} predict --model {input.model} {input.configuration:q} -o {params.out} "
        "--device {params.device} {params.force} > {log} 2>&1"


rule figure_predictions:
    input:
        gsd="results/predictions/{stem}.gsd",
        json="results/predictions/{stem}.json",
    output:
        png=report("results/figures/predictions_{stem}.png", category="Prediction",
                   subcategory="Your configurations", caption="../report/predictions.rst"),
        pdf="results/figures/predictions_{stem}.pdf",
    params:
        caption=lambda w: f"{PREDICT['model']} trained on {PREDICT_SET}: {PREDICT_INPUTS[w.stem]}",
        slab=config["figures"]["snapshot_slab"],
    wildcard_constraints:
        stem=PREDICT_STEMS,
    resources:
        **light_resources(),
    conda:
        ENVS["analysis"]
    log:
        "logs/figures/predictions_{stem}.log",
    shell:
        "{EQUIGLASS} figure predictions {input.gsd} --output {output.png} --slab {params.slab} "
        "--caption {params.caption:q} 2> {log}"


rule predictions:
    input:
        PREDICT_TARGETS,
