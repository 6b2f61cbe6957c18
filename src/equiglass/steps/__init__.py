"""The pipeline steps: one function per Snakemake rule (and per ``equiglass`` subcommand).

Each step takes a ``settings`` dictionary (the slice of the configuration it depends on, plus
its wildcards such as temperature and sample; built by :mod:`equiglass.settings`), reads its
inputs, and writes its outputs atomically with a JSON sidecar holding the settings, the results
summary and the provenance. Modules by stage: :mod:`.simulate` (equilibrate, isoconfigurational,
dynamics, propensity), :mod:`.inputs` (inherent, cage, graphs), :mod:`.learn` (train, evaluate,
table), :mod:`.published` (import of published datasets), :mod:`.experiments` (generalization,
transfer, interpretability, summary).
"""
