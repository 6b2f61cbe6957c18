# equiglass: Kob–Andersen MD -> propensities -> graphs -> SE(3)-equivariant GNN -> figures.
# Run `snakemake --cores 2` (preset in config.yaml) or add `--configfile presets/<name>.yaml`.
from snakemake.utils import min_version

min_version("8.10")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/config.smk"
include: "workflow/rules/paths.smk"
include: "workflow/rules/cluster.smk"
include: "workflow/rules/targets.smk"


if SOURCE == "simulate":

    include: "workflow/rules/md.smk"

else:

    include: "workflow/rules/import.smk"


if SOURCE != "glassbench":

    include: "workflow/rules/inputs.smk"


include: "workflow/rules/glassbench.smk"
include: "workflow/rules/learn.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/experiments.smk"
include: "workflow/rules/ablations.smk"


rule all:
    default_target: True
    input:
        ALL_TARGETS + EXPERIMENT_TARGETS + ABLATION_TARGETS + PREDICT_TARGETS,
