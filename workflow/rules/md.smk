# Simulation: equilibrate -> iso-configurational replicas -> dynamics (per T) -> propensity.


rule equilibrate:
    input:
        previous=previous_sample,
    output:
        gsd="results/md/T{T}/s{s}/equilibrated.gsd",
        json="results/md/T{T}/s{s}/equilibrated.json",
        thermo="results/md/T{T}/s{s}/thermo.csv",
    params:
        settings=equilibrate_settings,
        previous=lambda w, input: f"--previous {input.previous[0]}" if input.previous else "",
    threads: config["md"]["threads"]
    resources:
        **md_resources("equilibrate"),
    conda:
        ENVS["md"]
    benchmark:
        "results/benchmarks/equilibrate/T{T}_s{s}.tsv"
    log:
        "logs/equilibrate/T{T}_s{s}.log",
    shell:
        "{EQUIGLASS} equilibrate --settings {params.settings:q} --output {output.gsd} "
        "--thermo {output.thermo} {params.previous} 2> {log}"


rule isoconfigurational:
    input:
        gsd="results/md/T{T}/s{s}/equilibrated.gsd",
    output:
        "results/md/T{T}/s{s}/iso_b{b}.npz",
    params:
        settings=iso_settings,
        trajectory=lambda w: (
            f"--trajectory results/md/T{w.T}/s{w.s}/trajectory_b{w.b}.gsd"
            if ISO["write_trajectory"]
            else ""
        ),
    threads: config["md"]["threads"]
    resources:
        **md_resources("isoconfigurational"),
    conda:
        ENVS["md"]
    benchmark:
        "results/benchmarks/isoconfigurational/T{T}_s{s}_b{b}.tsv"
    log:
        "logs/isoconfigurational/T{T}_s{s}_b{b}.log",
    shell:
        "{EQUIGLASS} isoconfigurational --settings {params.settings:q} --input {input.gsd} "
        "--output {output} {params.trajectory} 2> {log}"


rule dynamics:
    input:
        lambda w: [f for s in SAMPLES[w.T] for f in iso_batches(w.T, s)],
    output:
        json="results/dynamics/T{T}.json",
        npz="results/dynamics/T{T}.npz",
    params:
        settings=dynamics_settings,
    resources:
        **light_resources(),
    conda:
        ENVS["analysis"]
    log:
        "logs/dynamics/T{T}.log",
    shell:
        "{EQUIGLASS} dynamics --settings {params.settings:q} --iso {input} --output {output.json} 2> {log}"


rule propensity:
    input:
        iso=lambda w: iso_batches(w.T, w.s),
        dynamics="results/dynamics/T{T}.json",
        gsd="results/md/T{T}/s{s}/equilibrated.gsd",
    output:
        npz="results/propensity/T{T}/s{s}.npz",
        gsd="results/propensity/T{T}/s{s}.gsd",
    params:
        settings=lambda w: settings_json({"propensity": config["propensity"], "temperature": float(w.T)}),
    resources:
        **light_resources(),
    conda:
        ENVS["analysis"]
    log:
        "logs/propensity/T{T}_s{s}.log",
    shell:
        "{EQUIGLASS} propensity --settings {params.settings:q} --iso {input.iso} --dynamics {input.dynamics} "
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
    params:
        settings=lambda w: settings_json({
            "temperature": float(w.T), "sample": int(w.s), "batch": 0, "replicas": [0],
            "seed": derive_seed(config["seeds"]["replicas"], "long", w.T, w.s),
            "tau_alpha_estimate": tau_alpha_guess(config, float(w.T)), "md": config["md"],
            "isoconfigurational": {"duration_tau_alpha": VALIDATION["duration_tau_alpha"], "points_per_decade": 10},
        }),
    threads: config["md"]["threads"]
    resources:
        **md_resources("long_nve"),
    conda:
        ENVS["md"]
    benchmark:
        "results/benchmarks/long_nve/T{T}_s{s}.tsv"
    log:
        "logs/long_nve/T{T}_s{s}.log",
    shell:
        "{EQUIGLASS} isoconfigurational --settings {params.settings:q} --input {input} --output {output} 2> {log}"


rule validate:
    input:
        eq=[f"{md_dir(T, s)}/equilibrated.json" for T in TEMPS for s in SAMPLES[T]],
        dyn=[f"results/dynamics/T{T}.json" for T in TEMPS],
        long=[f"results/validation/T{T}/s{s}.npz" for T in TEMPS for s in VALIDATION_SAMPLES[T]],
    output:
        json="results/validation/validation.json",
        md="results/validation/validation.md",
        png=report("results/figures/validation.png", category="Validation", caption="../report/validation.rst"),
    params:
        caption=what_was_run(),
    resources:
        **light_resources(),
    conda:
        ENVS["analysis"]
    log:
        "logs/validate.log",
    shell:
        "{EQUIGLASS} validate --equilibration {input.eq} --dynamics {input.dyn} --long {input.long} "
        "--output {output.json} --figure {output.png} --caption {params.caption:q} 2> {log}"
