# Alternative model inputs computed from each configuration (simulated or Bapst data):
# inherent structures (FIRE minimization) and cage states (short-time averaged positions).


rule inherent:
    input:
        "results/md/T{T}/s{s}/equilibrated.gsd",
    output:
        gsd="results/md/T{T}/s{s}/inherent.gsd",
        json="results/md/T{T}/s{s}/inherent.json",
    log:
        "logs/inherent/T{T}_s{s}.log",
    benchmark:
        "results/benchmarks/inherent/T{T}_s{s}.tsv"
    retries: md_retries("inherent")
    conda:
        ENVS["md"]
    threads: md_threads("inherent")
    resources:
        **md_resources("inherent"),
    params:
        settings=lambda w: S.dumps(S.inherent(config, w.T, w.s)),
    shell:
        "python -m equiglass inherent --settings {params.settings:q} --input {input} --output {output.gsd} 2> {log}"


rule cage:
    input:
        "results/md/T{T}/s{s}/equilibrated.gsd",
    output:
        gsd="results/md/T{T}/s{s}/cage.gsd",
        json="results/md/T{T}/s{s}/cage.json",
    log:
        "logs/cage/T{T}_s{s}.log",
    benchmark:
        "results/benchmarks/cage/T{T}_s{s}.tsv"
    retries: md_retries("cage")
    conda:
        ENVS["md"]
    threads: md_threads("cage")
    resources:
        **md_resources("cage"),
    params:
        settings=lambda w: S.dumps(S.inherent(config, w.T, w.s)),
    shell:
        "python -m equiglass cage --settings {params.settings:q} --input {input} --output {output.gsd} 2> {log}"
