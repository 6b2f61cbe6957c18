"""``equiglass`` command line: every pipeline step is a subcommand (``equiglass STEP --help``).

Steps read their settings as JSON (``--settings '{...}'`` or ``--settings @file.json``): the
slice of the configuration they depend on. ``equiglass settings STEP`` prints the settings a
step would get from a configuration file, so any step can be run by hand exactly as the
pipeline runs it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path

from .cli_args import by_temperature as _by_temperature
from .cli_args import pairs as _pairs
from .cli_args import settings as _settings
from .config import ConfigError
from .devices import SEGMENT_EXIT, SegmentDone
from .files import InputError


def cmd_equilibrate(a: argparse.Namespace) -> None:
    from .steps.simulate import step_equilibrate

    step_equilibrate(_settings(a.settings), a.output, a.thermo, a.previous)


def cmd_iso(a: argparse.Namespace) -> None:
    from .steps.simulate import step_isoconfigurational

    step_isoconfigurational(_settings(a.settings), a.input, a.output, a.trajectory, workers=a.workers)


def cmd_dynamics(a: argparse.Namespace) -> None:
    from .steps.simulate import step_dynamics

    groups: dict[str, list[str]] = defaultdict(list)
    for f in a.iso:
        groups[str(Path(f).parent)].append(f)
    step_dynamics(_settings(a.settings), dict(groups), a.output)


def cmd_propensity(a: argparse.Namespace) -> None:
    from .steps.simulate import step_propensity

    step_propensity(_settings(a.settings), a.iso, a.dynamics, a.configuration, a.output)


def cmd_import(a: argparse.Namespace) -> None:
    from .steps.published import step_import

    step_import(_settings(a.settings), a.input, a.configuration, a.output, a.inherent, a.cage)


def cmd_published_predictions(a: argparse.Namespace) -> None:
    from .steps.published import step_published_predictions

    tests: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for item in a.test:
        parts = item.split(":", 2)
        if len(parts) != 3:
            raise InputError(f"--test expects T:NAME:FILE (e.g. 0.44:T0.44/s360:data/T0.44/test/N4096T0.44_401.npz), got {item!r}")
        tests[parts[0]].append((parts[1], parts[2]))
    outputs = dict(_pairs(a.output))
    step_published_predictions(_settings(a.settings), dict(tests), outputs)


def cmd_import_dynamics(a: argparse.Namespace) -> None:
    from .steps.published import step_import_dynamics

    step_import_dynamics(_settings(a.settings), a.propensity, a.output)


def cmd_inherent(a: argparse.Namespace) -> None:
    from .steps.inputs import step_inherent

    step_inherent(_settings(a.settings), a.input, a.output)


def cmd_cage(a: argparse.Namespace) -> None:
    from .steps.inputs import step_cage

    step_cage(_settings(a.settings), a.input, a.output)


def cmd_graphs(a: argparse.Namespace) -> None:
    from .steps.inputs import step_graph

    step_graph(_settings(a.settings), a.input, a.output)


def cmd_manifest(a: argparse.Namespace) -> None:
    from .files import write_json

    write_json(a.output, {
        "temperature": a.temperature,
        "part": a.part,
        "inputs": a.inputs,
        "files": [{"path": f, "bytes": os.path.getsize(f)} for f in a.files],
    })


def cmd_train(a: argparse.Namespace) -> None:
    from .steps.learn import step_train

    step_train(_settings(a.settings), _pairs(a.train), _pairs(a.val or []), a.dynamics, a.out_dir)


def cmd_evaluate(a: argparse.Namespace) -> None:
    from .steps.learn import step_evaluate

    step_evaluate(_settings(a.settings), a.model, _by_temperature(_pairs(a.test)), a.output, device=a.device,
                  inputs="configurations" if a.from_configurations else "graphs")


def cmd_predict(a: argparse.Namespace) -> None:
    from .predict import run_predict

    res = run_predict(a.model, a.inputs, a.output, frames=a.frames, fmt=a.format, device=a.device, force=a.force)
    print(f"predicted {res['n_configurations']} configurations ({res['n_particles']} particles) with "
          f"{res['family']} {res['content_hash'][:12]} in {res['s_per_configuration']:.3g} s per configuration; "
          f"{len(res['warnings'])} warnings -> {res['paths']['gsd']}, {res['paths']['csv']}, {res['paths']['json']}")


def cmd_table(a: argparse.Namespace) -> None:
    from .steps.learn import step_table

    rows = step_table(a.evaluations, a.output)
    print(f"{len(rows)} rows written to {a.output}")


def cmd_figure(a: argparse.Namespace) -> None:
    from .figures import draw

    draw(a.kind, a.inputs, a.output, a.caption, slab=a.slab, frame=a.frame)


def cmd_validate(a: argparse.Namespace) -> None:
    from .figures import draw
    from .validation import validate

    def by_t(files: list[str], level: int) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for f in files:
            out[Path(f).parents[level].name.lstrip("T")].append(f)
        return dict(out)

    dyn = {Path(f).stem.lstrip("T"): f for f in a.dynamics}
    res = validate(by_t(a.equilibration, 1), dyn, by_t(a.long or [], 0), a.output)
    if a.figure:
        draw("validation", [a.output], [a.figure], a.caption)
    print(Path(a.output).with_suffix(".md").read_text())
    print("all reference values reproduced within tolerance" if res["all_agree"] else
          "SOME VALUES DISAGREE with the references (see the table)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="equiglass", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    S = {"required": True, "help": "step settings as JSON, or @file.json (see the pipeline's config)"}

    s = sub.add_parser("equilibrate", help="prepare one equilibrated KA configuration (GSD)")
    s.add_argument("--settings", **S)
    s.add_argument("--output", required=True, help="GSD file of the final configuration")
    s.add_argument("--thermo", required=True, help="CSV thermodynamic log")
    s.add_argument("--previous", help="earlier sample of the same chain to continue from")
    s.set_defaults(func=cmd_equilibrate)

    s = sub.add_parser("isoconfigurational", help="run a batch of iso-configurational NVE replicas")
    s.add_argument("--settings", **S)
    s.add_argument("--input", required=True, help="equilibrated configuration (GSD)")
    s.add_argument("--output", required=True, help="replica sums (.npz)")
    s.add_argument("--trajectory", help="also write all replica snapshots to this GSD")
    s.add_argument("--workers", type=int, default=1,
                   help="replicas run at once in worker processes sharing the job's GPUs (same results)")
    s.set_defaults(func=cmd_iso)

    s = sub.add_parser("dynamics", help="MSD, F_s(q,t), tau_alpha and propensity target times at one T")
    s.add_argument("--settings", **S)
    s.add_argument("--iso", nargs="+", required=True, help="iso .npz files (grouped by folder = configuration)")
    s.add_argument("--output", required=True, help="JSON summary (curves go to the same name .npz)")
    s.set_defaults(func=cmd_dynamics)

    s = sub.add_parser("propensity", help="per-particle propensities of one configuration")
    s.add_argument("--settings", **S)
    s.add_argument("--iso", nargs="+", required=True, help="this configuration's iso .npz batches")
    s.add_argument("--dynamics", required=True, help="dynamics JSON of its temperature")
    s.add_argument("--configuration", required=True, help="its equilibrated GSD")
    s.add_argument("--output", required=True, help=".npz (a .gsd with per-particle fields is written too)")
    s.set_defaults(func=cmd_propensity)

    s = sub.add_parser("import", help="convert one file of a published dataset (Bapst pickle, GlassBench npz)")
    s.add_argument("--settings", **S)
    s.add_argument("--input", required=True, help="dataset file")
    s.add_argument("--configuration", required=True, help="GSD of the configuration to write")
    s.add_argument("--output", required=True, help="propensity .npz to write")
    s.add_argument("--inherent", help="GlassBench: also write its inherent positions to this GSD")
    s.add_argument("--cage", help="GlassBench: also write its cage positions to this GSD")
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("published-predictions",
                       help="score the predictions deposited in GlassBench's test files (evaluation JSON per key)")
    s.add_argument("--settings", **S)
    s.add_argument("--test", nargs="+", required=True, help="T:NAME:FILE of every test file (NAME as our evaluations)")
    s.add_argument("--output", nargs="+", required=True, help="KEY:JSON for every deposited key (e.g. SE3:out.json)")
    s.set_defaults(func=cmd_published_predictions)

    s = sub.add_parser("import-dynamics", help="timescales of an imported dataset at one temperature")
    s.add_argument("--settings", **S)
    s.add_argument("--propensity", nargs="+", required=True, help="imported propensity files of that T")
    s.add_argument("--output", required=True, help="dynamics JSON")
    s.set_defaults(func=cmd_import_dynamics)

    s = sub.add_parser("inherent", help="inherent structure (FIRE energy minimum) of a configuration")
    s.add_argument("--settings", **S)
    s.add_argument("--input", required=True, help="configuration (GSD)")
    s.add_argument("--output", required=True, help="inherent structure (GSD, per-particle energies in its log)")
    s.set_defaults(func=cmd_inherent)

    s = sub.add_parser("cage", help="cage state (positions averaged over short NVE runs) of a configuration")
    s.add_argument("--settings", **S)
    s.add_argument("--input", required=True, help="configuration (GSD)")
    s.add_argument("--output", required=True, help="cage state (GSD)")
    s.set_defaults(func=cmd_cage)

    s = sub.add_parser("graphs", help="freud neighbour graph + invariant descriptors of one configuration")
    s.add_argument("--settings", **S)
    s.add_argument("--input", required=True, help="configuration (GSD)")
    s.add_argument("--output", required=True, help="graph .npz")
    s.set_defaults(func=cmd_graphs)

    s = sub.add_parser("manifest", help="dataset manifest: the graph and propensity files of one part")
    s.add_argument("--output", required=True, help="manifest .json")
    s.add_argument("--temperature", type=float, required=True, help="temperature (LJ units)")
    s.add_argument("--part", required=True, help="train, validation, test or train-first<n>")
    s.add_argument("--inputs", required=True, help="model-input variant")
    s.add_argument("files", nargs="*", help="the files of the part")
    s.set_defaults(func=cmd_manifest)

    s = sub.add_parser("train", help="train one model family")
    s.add_argument("--settings", **S)
    s.add_argument("--train", nargs="+", required=True, metavar="GRAPH:PROPENSITY")
    s.add_argument("--val", nargs="*", metavar="GRAPH:PROPENSITY")
    s.add_argument("--dynamics", nargs="+", required=True, help="dynamics JSON of the training temperatures")
    s.add_argument("--out-dir", required=True, help="folder for model.pt, history.csv, checkpoint.pt")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("evaluate", help="Pearson rho per type and timescale on test configurations")
    s.add_argument("--settings", **S)
    s.add_argument("--model", required=True, help="model.pt, or a published model's name (`equiglass published`)")
    s.add_argument("--test", nargs="+", required=True, metavar="GRAPH:PROPENSITY",
                   help="test pairs; grouped by temperature from the graph's folder name (T0.60)")
    s.add_argument("--from-configurations", action="store_true",
                   help="test pairs are CONFIGURATION:PROPENSITY (e.g. results/md/T0.44/s003/equilibrated.gsd): "
                        "build the model's inputs from each configuration as `equiglass predict` does")
    s.add_argument("--output", required=True, help="metrics JSON (predictions go to the same name .npz)")
    s.add_argument("--device", choices=["cpu", "gpu", "auto"], default="cpu",
                   help="where the model runs (auto: this job's GPU when torch sees one)")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("predict", help="predict propensities of your own configurations with a trained model")
    s.add_argument("--model", required=True,
                   help="model.pt written by `equiglass train`, or a published model's name (deepmind-t044-s09: "
                        "DeepMind's Bapst GNN for F_s = 0.9 at T = 0.44; list: `equiglass published`)")
    s.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="configurations: .gsd, LAMMPS dump (.dump/.lammpstrj), extended XYZ (.xyz/.extxyz), "
                        "Bapst et al. pickle (.pickle/.pkl), GlassBench .npz")
    s.add_argument("-o", "--output", required=True, help="output prefix: writes OUT.gsd, OUT.csv and OUT.json")
    s.add_argument("--frames", help="frames of each input, e.g. 0,5,-1 or ::10 (default: all)")
    s.add_argument("--format", choices=["gsd", "lammps-dump", "extxyz", "bapst", "glassbench"],
                   help="input format (default: from the extension)")
    s.add_argument("--device", choices=["cpu", "gpu", "auto"], default="cpu")
    s.add_argument("--force", action="store_true",
                   help="predict inputs that do not fit the model (recorded as warnings in OUT.json)")
    s.set_defaults(func=cmd_predict)


    s = sub.add_parser("table", help="comparison table of evaluations (CSV + Markdown)")
    s.add_argument("evaluations", nargs="+")
    s.add_argument("--output", required=True)
    s.set_defaults(func=cmd_table)

    from .figures import KINDS

    s = sub.add_parser("figure", help="draw one figure from result files (PNG + PDF)",
                       epilog="kinds and what they read:\n" + "\n".join(
                           f"  {k:<17} {v.reads}" for k, v in KINDS.items()),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("kind", choices=list(KINDS))
    s.add_argument("inputs", nargs="+")
    s.add_argument("--output", nargs="+", required=True, help="PNG file(s); a PDF is written next to each")
    s.add_argument("--caption", default="")
    s.add_argument("--slab", type=float, help="snapshot/predictions: slab thickness |z| < slab/2 [sigma_AA]")
    s.add_argument("--frame", type=int, help="predictions: frame of the GSD file (default 0)")
    s.set_defaults(func=cmd_figure)

    s = sub.add_parser("validate", help="equation of state, tau_alpha, D_A next to reference values")
    s.add_argument("--equilibration", nargs="+", required=True, help="equilibrated.json files (results/md/T*/s*/)")
    s.add_argument("--dynamics", nargs="+", required=True, help="results/dynamics/T*.json")
    s.add_argument("--long", nargs="*", help="long NVE runs (results/validation/T*/s*.npz)")
    s.add_argument("--output", required=True, help="validation JSON (a .md table is written next to it)")
    s.add_argument("--figure", help="figure PNG (and PDF)")
    s.add_argument("--caption", default="")
    s.set_defaults(func=cmd_validate)

    from .tools_cli import add_parsers as add_tool_parsers

    add_tool_parsers(sub)

    from .experiment_cli import add_parsers as add_experiment_parsers

    add_experiment_parsers(sub)

    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except SegmentDone as done:  # the time budget is spent at a checkpoint: the retry continues
        print(f"{done}\nequiglass {args.command}: segment done, resubmit to continue "
              f"(exit {SEGMENT_EXIT})", file=sys.stderr, flush=True)
        return SEGMENT_EXIT
    except (InputError, ConfigError) as err:
        print(f"equiglass {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and cut short: not an error
        return 0
    except OSError as err:  # outside the atomic writers: a missing folder, permissions, a full disk
        from .files import write_error

        where = err.filename or "a file"
        print(f"equiglass {args.command}: error: {write_error(where, err)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
