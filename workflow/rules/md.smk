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
        runtime=120,
        mem_mb=1000,
    log:
        "logs/equilibrate/T{T}_s{s}.log",
    shell:
        "equiglass equilibrate --settings {params.settings:q} --output {output.gsd} "
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
        runtime=120,
        mem_mb=1000,
    log:
        "logs/isoconfigurational/T{T}_s{s}_b{b}.log",
    shell:
        "equiglass isoconfigurational --settings {params.settings:q} --input {input.gsd} "
        "--output {output} {params.trajectory} 2> {log}"


rule dynamics:
    input:
        lambda w: [f for s in SAMPLES[w.T] for f in iso_batches(w.T, s)],
    output:
        json="results/dynamics/T{T}.json",
        npz="results/dynamics/T{T}.npz",
    params:
        settings=dynamics_settings,
    log:
        "logs/dynamics/T{T}.log",
    shell:
        "equiglass dynamics --settings {params.settings:q} --iso {input} --output {output.json} 2> {log}"


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
    log:
        "logs/propensity/T{T}_s{s}.log",
    shell:
        "equiglass propensity --settings {params.settings:q} --iso {input.iso} --dynamics {input.dynamics} "
        "--configuration {input.gsd} --output {output.npz} 2> {log}"


rule simulate_only:
    input:
        SIMULATION_TARGETS,
