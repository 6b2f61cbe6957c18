# Published data (data.source = bapst | glassbench): convert each file instead of simulating.


GLASSBENCH_EXTRA = SOURCE == "glassbench"


rule import_sample:
    input:
        lambda w: imported_file(w.T, w.s),
    output:
        gsd="results/md/T{T}/s{s}/equilibrated.gsd",
        npz="results/propensity/T{T}/s{s}.npz",
        extra=(
            ["results/md/T{T}/s{s}/inherent.gsd", "results/md/T{T}/s{s}/cage.gsd"] if GLASSBENCH_EXTRA else []
        ),
    params:
        settings=lambda w: settings_json({"source": SOURCE, "temperature": float(w.T), "times": config["data"]["times"]}),
        extra=lambda w, output: (f"--inherent {output.extra[0]} --cage {output.extra[1]}" if GLASSBENCH_EXTRA else ""),
    resources:
        **light_resources(),
    conda:
        ENVS["analysis"]
    log:
        "logs/import/T{T}_s{s}.log",
    shell:
        "{EQUIGLASS} import --settings {params.settings:q} --input {input} --configuration {output.gsd} "
        "--output {output.npz} {params.extra} 2> {log}"


rule import_dynamics:
    input:
        lambda w: [propensity_file(w.T, s) for s in SAMPLES[w.T]],
    output:
        "results/dynamics/T{T}.json",
    params:
        settings=lambda w: settings_json({"source": SOURCE, "temperature": float(w.T)}),
    resources:
        **light_resources(),
    conda:
        ENVS["analysis"]
    log:
        "logs/import/dynamics_T{T}.log",
    shell:
        "{EQUIGLASS} import-dynamics --settings {params.settings:q} --propensity {input} --output {output} 2> {log}"


rule simulate_only:
    input:
        SIMULATION_TARGETS,
