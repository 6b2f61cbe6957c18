# Published data (data.source = bapst | glassbench): convert each file instead of simulating.


# GlassBench position sets read besides the thermal ones (inherent, cage): the configured inputs'
# and the ablations' (its cage states exist for configurations 1-100 and 401-500 only)
_POSITIONS_READ = {config["inputs"]["positions"]} | (
    {A.INPUT_VARIANTS[v.inputs_key()]["positions"] for v in ABL_VARIANTS.values()}
    if ABL["enabled"]
    else set()
)
GLASSBENCH_EXTRA = (
    [p for p in ("inherent", "cage") if p in _POSITIONS_READ]
    if SOURCE == "glassbench"
    else []
)


rule import_sample:
    input:
        lambda w: imported_file(w.T, w.s),
    output:
        gsd="results/md/T{T}/s{s}/equilibrated.gsd",
        npz="results/propensity/T{T}/s{s}.npz",
        extra=[f"results/md/T{{T}}/s{{s}}/{p}.gsd" for p in GLASSBENCH_EXTRA],
    log:
        "logs/import/T{T}_s{s}.log",
    conda:
        ENVS["analysis"]
    resources:
        **light_resources(),
    params:
        settings=lambda w: S.dumps(S.import_sample(config, w.T)),
        extra=lambda w, output: " ".join(
            f"--{p} {f}" for p, f in zip(GLASSBENCH_EXTRA, output.extra)
        ),
    shell:
        "python -m equiglass import --settings {params.settings:q} --input {input} --configuration {output.gsd} "
        "--output {output.npz} {params.extra} 2> {log}"


rule import_dynamics:
    input:
        lambda w: [propensity_file(w.T, s) for s in SAMPLES[w.T]],
    output:
        "results/dynamics/T{T}.json",
    log:
        "logs/import/dynamics_T{T}.log",
    conda:
        ENVS["analysis"]
    resources:
        **light_resources(),
    params:
        settings=lambda w: S.dumps(S.import_dynamics(config, w.T)),
    shell:
        "python -m equiglass import-dynamics --settings {params.settings:q} --propensity {input} --output {output} 2> {log}"


rule simulate_only:
    input:
        SIMULATION_TARGETS,
