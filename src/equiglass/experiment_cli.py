"""``equiglass experiment {generalization,transfer,interpret,summary}`` subcommands."""

from __future__ import annotations

import argparse

from .cli_args import pairs as _pairs
from .cli_args import settings as _settings


def cmd_generalization(a: argparse.Namespace) -> None:
    from .steps.experiments import step_generalization

    step_generalization(a.evaluations, a.output, a.figures[0], a.figures[1], a.caption, a.seed, a.replicates)


def cmd_transfer(a: argparse.Namespace) -> None:
    from .steps.experiments import step_transfer

    step_transfer(_settings(a.settings), a.model, _pairs(a.pool), _pairs(a.test), a.output, a.figures, a.caption,
                  device=a.device)


def cmd_interpret(a: argparse.Namespace) -> None:
    from .steps.experiments import step_interpret

    step_interpret(_settings(a.settings), a.model, _pairs(a.pairs), a.configurations, a.output, a.figures[0],
                   a.figures[1], a.caption, device=a.device)


def cmd_summary(a: argparse.Namespace) -> None:
    from .steps.summary import step_summary

    text = step_summary(a.metrics, a.comparisons, a.generalization, a.transfer, a.interpret,
                        _settings(a.context) if a.context else {}, a.output, a.ablations, a.dynamics,
                        a.models)
    print(text)


def cmd_ablation(a: argparse.Namespace) -> None:
    from .steps.ablations import step_ablation

    plan = _settings(a.labels)
    step_ablation(a.study, a.evaluations, plan["labels"], a.output, a.figure, a.caption, plan)


def cmd_compare(a: argparse.Namespace) -> None:
    from .steps.compare import step_compare

    step_compare(_settings(a.plan), a.output, a.figure, a.caption)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``experiment`` and its subcommands on the main parser's subparsers."""
    p = sub.add_parser("experiment", help="the paper's experiments: generalization, transfer, interpret, summary")
    esub = p.add_subparsers(dest="experiment", required=True)

    s = esub.add_parser("generalization", help="rho matrix (model/training set x test T) from evaluation files")
    s.add_argument("evaluations", nargs="+", help="results/eval/*/*.json")
    s.add_argument("--output", required=True, help="JSON (a CSV is written next to it)")
    s.add_argument("--figures", nargs=2, required=True, metavar=("MATRIX_PNG", "CURVES_PNG"))
    s.add_argument("--caption", default="")
    s.add_argument("--seed", type=int, default=0, help="bootstrap seed of the paired intervals (seeds.split)")
    s.add_argument("--replicates", nargs="*", default=[],
                   help="evaluations of the training seeds r >= 1 (results/eval/*/*/seed*.json)")
    s.set_defaults(func=cmd_generalization)

    s = esub.add_parser("transfer", help="frozen-backbone / fine-tune / scratch / ridge vs number of configurations")
    s.add_argument("--settings", required=True, help="JSON: transfer settings, target, seed, threads")
    s.add_argument("--model", required=True, help="source se3gnn model.pt")
    s.add_argument("--pool", nargs="+", required=True, metavar="GRAPH:PROPENSITY", help="target-T training pool")
    s.add_argument("--test", nargs="+", required=True, metavar="GRAPH:PROPENSITY", help="target-T test set")
    s.add_argument("--output", required=True)
    s.add_argument("--figures", required=True, help="figure PNG")
    s.add_argument("--caption", default="")
    s.add_argument("--device", choices=["cpu", "gpu", "auto"], default="cpu", help="where the models train and run")
    s.set_defaults(func=cmd_transfer)

    s = esub.add_parser("interpret", help="learned invariants vs bond-order parameters, density, energy")
    s.add_argument("--settings", required=True, help="JSON: md settings, threads, slab")
    s.add_argument("--model", required=True, help="se3gnn model.pt")
    s.add_argument("--pairs", nargs="+", required=True, metavar="GRAPH:PROPENSITY")
    s.add_argument("--configurations", nargs="+", required=True, help="the GSD configurations of those graphs")
    s.add_argument("--output", required=True)
    s.add_argument("--figures", nargs=2, required=True, metavar=("CORR_PNG", "MAP_PNG"))
    s.add_argument("--caption", default="")
    s.add_argument("--device", choices=["cpu", "gpu", "auto"], default="cpu", help="where the model runs")
    s.set_defaults(func=cmd_interpret)

    s = esub.add_parser("ablation", help="one ablation study or the learning curves from its evaluation files")
    s.add_argument("study", choices=["lmax", "depth", "inputs", "curve", "levers"])
    s.add_argument("evaluations", nargs="+", help="results/ablations/eval/<key>.json, in the order of --labels "
                   "(then the other seeds' evaluations, named in --labels' replicates)")
    s.add_argument("--labels", required=True, help='JSON {"labels": [...]}: the setting of each evaluation; '
                   'optional "replicates" {index: [seed evaluations]}, "temperatures" [test T keys, the training '
                   'one first], "keys" [variant keys]')
    s.add_argument("--output", required=True, help="JSON (a CSV is written next to it)")
    s.add_argument("--figure", required=True, help="figure PNG")
    s.add_argument("--caption", default="")
    s.set_defaults(func=cmd_ablation)

    s = esub.add_parser("compare", help="paired differences of models on the same test configurations")
    s.add_argument("--plan", required=True, help="JSON or @file: models (name -> evaluation JSON) and pairs")
    s.add_argument("--output", required=True, help="tables/comparisons.csv (a JSON is written next to it)")
    s.add_argument("--figure", help="figure PNG of the differences at tau_alpha and the shortest time")
    s.add_argument("--caption", default="")
    s.set_defaults(func=cmd_compare)

    s = esub.add_parser("summary", help="results/summary.md: our numbers beside the published ones")
    s.add_argument("--metrics", required=True)
    s.add_argument("--comparisons", help="tables/comparisons.json")
    s.add_argument("--ablations", nargs="*", default=[], help="results/ablations/*.json of the studies run")
    s.add_argument("--dynamics", nargs="*", default=[], help="results/dynamics/T*.json (t/tau_alpha of our timescales)")
    s.add_argument("--generalization")
    s.add_argument("--transfer")
    s.add_argument("--interpret")
    s.add_argument("--context", help="JSON with preset and a description of the data")
    s.add_argument("--models", nargs="*", default=[],
                   help="the main models' model.json (history.csv beside each): how each network trained")
    s.add_argument("--output", required=True)
    s.set_defaults(func=cmd_summary)
