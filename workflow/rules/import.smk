# Published data (data.source = bapst | glassbench): convert each file instead of simulating.


GLASSBENCH_EXTRA = SOURCE == "glassbench"


rule import_sample:
    input:
        lambda w: imported_file(w.T, w.s),
    output:
        gsd="results/md/T{T}/s{s}/equilibrated.gsd",
        npz="results/propensity/T{T}/s{s}.npz",
        extra=(
            ["results/md/T{T}/s{s}/inherent.gsd", "results/md/T{T}/s{s}/cage.gsd"]
            if GLASSBENCH_EXTRA
            else []
        ),
    log:
        "logs/import/T{T}_s{s}.log",
    conda:
        ENVS["analysis"]
    resources:
        **light_resources(),
    params:
        settings=lambda w: S.dumps(S.import_sample(config, w.T)),
        extra=lambda w, output: (
            f"--inherent {output.extra[0]} --cage {output.extra[1]}"
            if GLASSBENCH_EXTRA
            else ""
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
