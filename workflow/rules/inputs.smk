# Alternative model inputs computed from each configuration (simulated or Bapst data):
# inherent structures (FIRE minimization) and cage states (short-time averaged positions).


rule inherent:
    input:
        "results/md/T{T}/s{s}/equilibrated.gsd",
    output:
        gsd="results/md/T{T}/s{s}/inherent.gsd",
        json="results/md/T{T}/s{s}/inherent.json",
    params:
        settings=inputs_settings,
    threads: config["md"]["threads"]
    resources:
        **md_resources("inherent"),
    conda:
        ENVS["md"]
    benchmark:
        "results/benchmarks/inherent/T{T}_s{s}.tsv"
    log:
        "logs/inherent/T{T}_s{s}.log",
    shell:
        "{EQUIGLASS} inherent --settings {params.settings:q} --input {input} --output {output.gsd} 2> {log}"


rule cage:
    input:
        "results/md/T{T}/s{s}/equilibrated.gsd",
    output:
        gsd="results/md/T{T}/s{s}/cage.gsd",
        json="results/md/T{T}/s{s}/cage.json",
    params:
        settings=inputs_settings,
    threads: config["md"]["threads"]
    resources:
        **md_resources("cage"),
    conda:
        ENVS["md"]
    benchmark:
        "results/benchmarks/cage/T{T}_s{s}.tsv"
    log:
        "logs/cage/T{T}_s{s}.log",
    shell:
        "{EQUIGLASS} cage --settings {params.settings:q} --input {input} --output {output.gsd} 2> {log}"
