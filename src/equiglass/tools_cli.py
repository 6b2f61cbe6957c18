"""``equiglass`` subcommands that plan and describe rather than compute: ``plan``, ``settings``,
``config-reference``, ``check-config``, ``provenance``, ``published``, ``findings`` and ``info``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .files import InputError


def cmd_provenance(a: argparse.Namespace) -> None:
    from .result_provenance import read_provenance

    print(json.dumps(read_provenance(a.file), indent=2, default=str))


def cmd_findings(a: argparse.Namespace) -> None:
    from .findings import findings_page, page_path, parse_utc

    since, until = (parse_utc(t, name) if t else None for name, t in (("--since", a.since), ("--until", a.until)))
    text = findings_page(a.results, a.output, a.workdir, overlay=a.overlay, since=since, until=until)
    if a.output:
        preset = text.splitlines()[0].removeprefix("# Findings: preset ")
        print(f"wrote {page_path(a.output, preset)}")
    else:
        print(text, end="")


def cmd_plan(a: argparse.Namespace) -> None:
    import re
    import subprocess

    from .config import load_config, samples_at
    from .plan import gpus_requestable
    from .plan_totals import describe_rates, format_plan, measured_rates, plan

    files = ["config.yaml", *a.configfile]
    cfg = load_config(*files)
    cmd = [sys.executable, "-m", "snakemake", "--dry-run", "--quiet", "rules", "--cores", "1"]
    cmd += ["--configfile", *a.configfile] if a.configfile else []
    cmd += ["--profile", a.profile] if a.profile else []
    # only a dry run: the jobs' `python` need not have the science stack (a login node)
    env = {**os.environ, "EQUIGLASS_SKIP_PYTHON_CHECK": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:  # Snakemake prints workflow errors on stdout
        raise InputError(f"snakemake --dry-run failed:\n{(res.stderr.strip() or res.stdout)[-2000:]}")
    counts = {}
    for line in res.stdout.split("Job stats:")[-1].splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m and m.group(1) not in ("total", "all"):
            counts[m.group(1)] = int(m.group(2))
    sp = cfg["split"]
    # GlassBench's test configurations are its own test/ folder, not held out of `samples`
    held_out = 0 if cfg["data"]["source"] == "glassbench" else sp["test"]
    n_train = {"/".join(map(str, s)): sum(samples_at(cfg, t) - sp["validation"] - held_out for t in s)
               for s in cfg["training"]["sets"]}
    rates = measured_rates(a.benchmarks, cfg) if a.benchmarks else {}
    gpus = gpus_requestable(cfg) if a.gpus == "detect" else a.gpus == "yes"
    data = ("" if cfg["data"]["source"] == "simulate"
            else f" ({cfg['data']['source']} data: no MD, {sp['test']} test configurations per T)")
    print(f"preset {cfg['preset']}: N = {cfg['system']['n_particles']}, T = {cfg['temperatures']}, "
          f"{cfg['samples']} configurations per T{data}; walltimes <= {cfg['cluster']['max_runtime']:g} min")
    if cfg["data"]["source"] == "simulate":
        print(f"measured seconds per particle-step: {rates}" if rates else describe_rates(cfg, gpus))
    rows = plan(cfg, counts, n_train, rates, gpus, n_test_graphs=len(cfg["temperatures"]) * sp["test"])
    print(format_plan(rows))
    training = [r for r in rows if r["rule"] in ("train", "train_seed", "ablation_train", "ablation_train_seed")]
    print(f"training only ({', '.join(r['rule'] for r in training)}): "
          f"{sum(r['gpu_hours'] for r in training):.1f} GPU-hours in {sum(r['jobs'] for r in training)} jobs")


def cmd_config_reference(a: argparse.Namespace) -> None:
    from .config_reference import write

    text = write(Path(a.repo), Path(a.output) if a.output else None)
    if not a.output:
        print(text)


def cmd_settings(a: argparse.Namespace) -> None:
    from .config import load_config
    from .settings import for_step

    cfg = load_config("config.yaml", *a.configfile)
    wildcards = {}
    for item in a.wildcards:
        if "=" not in item:
            raise InputError(f"expected NAME=VALUE, got {item!r} (e.g. T=0.60 s=000)")
        key, value = item.split("=", 1)
        wildcards[key] = value
    try:
        print(json.dumps(for_step(cfg, a.step, wildcards), indent=2, sort_keys=True))
    except KeyError as err:
        raise InputError(str(err.args[0])) from None


def cmd_check_config(a: argparse.Namespace) -> None:
    from .config import load_config

    cfg = load_config(*a.files)
    print(f"OK: {' + '.join(a.files)} (preset {cfg['preset']}, {len(cfg['temperatures'])} temperatures, "
          f"{cfg['samples']} samples each)")


def cmd_info(a: argparse.Namespace) -> None:
    import torch

    from .engines import available_engines
    from .provenance import package_versions

    print(json.dumps({"engines": available_engines(), "cuda": torch.cuda.is_available(),
                      "versions": package_versions()}, indent=2))


def cmd_published(a: argparse.Namespace) -> None:
    from .published_models import PUBLISHED, published_artifact

    if a.name is None:
        for m in PUBLISHED.values():
            print(f"{m.name}: {m.description}\n    {m.reference}")
        return
    art = published_artifact(a.name)
    if a.output:
        from .artifact import save_artifact

        save_artifact(a.output, art)
        print(f"{a.name} -> {a.output} (content hash {art['content_hash'][:12]})")
    else:
        print(json.dumps({k: art["info"][k] for k in ("published", "timescales", "temperatures", "inputs")}, indent=1))


def add_parsers(sub) -> None:
    """Add these subcommands to the ``equiglass`` parser's subparsers ``sub``."""
    s = sub.add_parser("provenance", help="print the provenance recorded with a result file")
    s.add_argument("file")
    s.set_defaults(func=cmd_provenance)

    s = sub.add_parser("findings", help="a finished run's findings as a Markdown page, stamped with preset, "
                       "commit, date, machine, wall time and jobs (docs/findings-<preset>.md)")
    s.add_argument("results", help="the run's results/ folder (results/summary.md and tables/ are read)")
    s.add_argument("-o", "--output", help="page to write (e.g. docs/findings-quick.md), or a folder ending in / for "
                   "findings-<preset>.md in it; default: print it")
    s.add_argument("--workdir", help="the run's Snakemake working directory, whose .snakemake/ holds the job "
                   "records (default: the folder above RESULTS)")
    s.add_argument("--overlay", help="the overlay preset run on top of the run (e.g. equivariance for "
                   "presets/equivariance.yaml): the page is findings-<preset>-<overlay>.md")
    s.add_argument("--since", help="stamp and cost only the jobs started at or after this UTC time "
                   "(ISO, e.g. 2026-12-06T06:26:19): the overlay's own run")
    s.add_argument("--until", help="... and before this UTC time (ISO): when later work ran in the same folder")
    s.set_defaults(func=cmd_findings)

    s = sub.add_parser("plan", help="job counts, runtimes and GPU-hours of a configuration (runs a dry run)")
    s.add_argument("--configfile", nargs="*", default=[], help="preset/overlay files on top of config.yaml")
    s.add_argument("--profile", help="Snakemake profile to dry-run with (e.g. profiles/slurm)")
    s.add_argument("--benchmarks", help="folder of Snakemake benchmark files of a finished run (measured rates)")
    s.add_argument("--gpus", choices=["yes", "no", "detect"], default="yes",
                   help="cost device-auto work on a cluster with GPUs (default), without, or as the workflow "
                        "would decide here ($EQUIGLASS_GPUS, a GPU partition, sinfo)")
    s.set_defaults(func=cmd_plan)

    from .settings import STEPS

    s = sub.add_parser("settings", help="print the settings a pipeline step gets from a configuration",
                       epilog="steps and their wildcards:\n" + "\n".join(
                           f"  {k:<19} {' '.join(n + '=...' for n in v[0])}" for k, v in STEPS.items()),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("step", choices=list(STEPS))
    s.add_argument("wildcards", nargs="*", metavar="NAME=VALUE", help="e.g. T=0.60 s=000 b=00, model=se3gnn trainset=T0.60")
    s.add_argument("--configfile", nargs="*", default=[], help="preset/overlay files on top of config.yaml")
    s.set_defaults(func=cmd_settings)

    s = sub.add_parser("config-reference", help="the configuration reference (Markdown): every key's type, unit, "
                       "default and the rules it re-runs")
    s.add_argument("-o", "--output", help="file to write (docs/configuration.md); default: print it")
    s.add_argument("--repo", default=".", help="the checkout whose config.yaml and workflow/rules are read")
    s.set_defaults(func=cmd_config_reference)

    s = sub.add_parser("check-config", help="validate configuration files (merged in order)")
    s.add_argument("files", nargs="+")
    s.set_defaults(func=cmd_check_config)

    s = sub.add_parser("info", help="engines, CUDA and package versions available here")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("published", help="published trained models shipped with equiglass: list them, show one, "
                                         "or write it as a model file")
    s.add_argument("name", nargs="?", help="e.g. deepmind-t044-s09 (none: list them)")
    s.add_argument("--output", help="write the model file (model.pt) here")
    s.set_defaults(func=cmd_published)
