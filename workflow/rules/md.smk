# Simulation: equilibrate -> iso-configurational replicas -> dynamics (per T) -> propensity.


rule equilibrate:
    input:
        previous=previous_sample,
        previous_json=lambda w: [f.replace(".gsd", ".json") for f in previous_sample(w)],
    output:
        gsd="results/md/T{T}/s{s}/equilibrated.gsd",
        json="results/md/T{T}/s{s}/equilibrated.json",
        thermo="results/md/T{T}/s{s}/thermo.csv",
    log:
        "logs/equilibrate/T{T}_s{s}.log",
    benchmark:
        "results/benchmarks/equilibrate/T{T}_s{s}.tsv"
    # the critical path (MD -> the main models' training) before ablations and learning curves
    priority: 10
    retries: md_retries("equilibrate")
    conda:
        ENVS["md"]
    threads: md_threads("equilibrate")
    resources:
        **md_resources("equilibrate"),
    params:
        settings=lambda w: S.dumps(S.equilibrate(config, w.T, w.s)),
        previous=lambda w, input: (
            f"--previous {input.previous[0]}" if input.previous else ""
        ),
    shell:
        "python -m equiglass equilibrate --settings {params.settings:q} --output {output.gsd} "
        "--thermo {output.thermo} {params.previous} 2> {log}"


rule isoconfigurational:
    input:
        gsd="results/md/T{T}/s{s}/equilibrated.gsd",
    output:
        "results/md/T{T}/s{s}/iso_b{b}.npz",
    log:
        "logs/isoconfigurational/T{T}_s{s}_b{b}.log",
    benchmark:
        "results/benchmarks/isoconfigurational/T{T}_s{s}_b{b}.tsv"
    priority: 10
    retries: md_retries("isoconfigurational")
    conda:
        ENVS["md"]
    threads: md_threads("isoconfigurational")
    resources:
        **md_resources("isoconfigurational"),
    params:
        settings=lambda w: S.dumps(S.isoconfigurational(config, w.T, w.s, w.b)),
        trajectory=lambda w: (
            f"--trajectory results/md/T{w.T}/s{w.s}/trajectory_b{w.b}.gsd"
            if ISO["write_trajectory"]
            else ""
        ),
    shell:
        "python -m equiglass isoconfigurational --settings {params.settings:q} --input {input.gsd} "
        "--output {output} {params.trajectory} --workers {resources.workers} 2> {log}"


# tau_alpha and the target times from the first `replicas` replicas of every configuration (the
# extra replicas of test configurations, test_replicas, sharpen only their labels)
rule dynamics:
    input:
        lambda w: [f for s in SAMPLES[w.T] for f in base_iso_batches(w.T, s)],
    output:
        json="results/dynamics/T{T}.json",
        npz="results/dynamics/T{T}.npz",
    log:
        "logs/dynamics/T{T}.log",
    conda:
        ENVS["analysis"]
    resources:
        **light_resources(
            mem_mb=lambda wc: P.dynamics_mem_mb(config, samples_at(config, wc.T))
        ),
    params:
        settings=lambda w: S.dumps(S.dynamics(config, w.T)),
    shell:
        "python -m equiglass dynamics --settings {params.settings:q} --iso {input} --output {output.json} 2> {log}"


rule propensity:
    input:
        iso=lambda w: iso_batches(w.T, w.s),
        dynamics="results/dynamics/T{T}.json",
        gsd="results/md/T{T}/s{s}/equilibrated.gsd",
    output:
        npz="results/propensity/T{T}/s{s}.npz",
        gsd="results/propensity/T{T}/s{s}.gsd",
    log:
        "logs/propensity/T{T}_s{s}.log",
    priority: 10
    conda:
        ENVS["analysis"]
    resources:
        **light_resources(),
    params:
        settings=lambda w: S.dumps(S.propensity(config, w.T)),
    shell:
        "python -m equiglass propensity --settings {params.settings:q} --iso {input.iso} --dynamics {input.dynamics} "
        "--configuration {input.gsd} --output {output.npz} 2> {log}"


rule simulate_only:
    input:
        SIMULATION_TARGETS,


# ----------------------------------------------------------------------- validation target
VALIDATION = config["validation"]
VALIDATION_SAMPLES = {T: SAMPLES[T][: VALIDATION["samples"]] for T in TEMPS}


rule long_nve:
    input:
        "results/md/T{T}/s{s}/equilibrated.gsd",
    output:
        "results/validation/T{T}/s{s}.npz",
    log:
        "logs/long_nve/T{T}_s{s}.log",
    benchmark:
        "results/benchmarks/long_nve/T{T}_s{s}.tsv"
    retries: md_retries("long_nve")
    conda:
        ENVS["md"]
    threads: md_threads("long_nve")
    resources:
        **md_resources("long_nve"),
    params:
        settings=lambda w: S.dumps(S.long_nve(config, w.T, w.s)),
    shell:
        "python -m equiglass isoconfigurational --settings {params.settings:q} --input {input} --output {output} 2> {log}"


rule validate:
    input:
        eq=[f"{md_dir(T, s)}/equilibrated.json" for T in TEMPS for s in SAMPLES[T]],
        dyn=[f"results/dynamics/T{T}.json" for T in TEMPS],
        long=[
            f"results/validation/T{T}/s{s}.npz"
            for T in TEMPS
            for s in VALIDATION_SAMPLES[T]
        ],
    output:
        json="results/validation/validation.json",
        md="results/validation/validation.md",
        png=report(
            "results/figures/validation.png",
            category="Validation",
            caption="../report/validation.rst",
        ),
    log:
        "logs/validate.log",
    conda:
        ENVS["analysis"]
    resources:
        **light_resources(),
    params:
        caption=what_was_run(),
    shell:
        "python -m equiglass validate --equilibration {input.eq} --dynamics {input.dyn} --long {input.long} "
        "--output {output.json} --figure {output.png} --caption {params.caption:q} 2> {log}"
