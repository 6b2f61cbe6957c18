#!/usr/bin/env python
"""Seed replicates of one model of a finished run, and comparisons that hold the seed spread.

A single training is one draw: the same SE(3) settings trained from two seeds differed by 0.06 in
ρ_A at τ_α in this project's lever runs, as much as most levers. The workflow trains
``training.seeds`` replicates of each model itself (and compares them as below in
``results/tables/comparisons.csv``); this script is for settings the run did not train: it retrains
one model of the workflow (exactly the workflow's ``train`` and ``evaluate`` commands, taken from a
Snakemake dry run) from ``--seeds`` training seeds, optionally with settings changed (``--set``),
evaluates each on the run's test configurations, and compares them with the run's other models
(with all of their workflow seeds) by the workflow's own comparison
(:func:`equiglass.steps.compare.compare_pair`: the two-level paired bootstrap of
:func:`equiglass.stats.seed_replicated_difference`, test configurations jointly, seeds of each side
independently), and with the other replicate sets (tags) of the same model.

Run it from the repository root after the workflow has made the model's inputs, e.g.::

    python scripts/seed_replicates.py --configfile presets/study.yaml --model se3gnn --trainset T0.60 --seeds 3
    python scripts/seed_replicates.py --configfile presets/study.yaml --model se3gnn --trainset T0.60 --seeds 3 \\
        --tag epochs120 --set training.epochs=120 --set training.patience=30

Seed 0 is the workflow's own seed; seed k > 0 is ``derive_seed(seed0, "replicate", k)``
(:func:`equiglass.settings.replicate_seed`, as the workflow's replicate k of ``training.seeds``).
Without ``--set``, the workflow's evaluations of the same seeds are reused (training is
deterministic). Output:
``results/seed_replicates/<model>/<trainset>/<tag>/s<k>/`` (model, history, ``evaluation.json``)
and ``summary.json`` / ``summary.md`` beside them. Finished replicates are skipped, so it resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from equiglass.ablations import tau_alpha_label
from equiglass.config import load_config
from equiglass.files import atomic_path, read_json, write_json
from equiglass.provenance import git_commit
from equiglass.settings import replicate_seed
from equiglass.steps.compare import compare_pair, per_seed_rho


def workflow_commands(configfiles: list[str], model: str, trainset: str) -> tuple[list[str], list[str]]:
    """The workflow's train and evaluate command lines (tokens) for ``model`` on ``trainset``."""
    target = f"results/eval/{model}/{trainset}.json"
    cmd = [sys.executable, "-m", "snakemake", "-n", "-p", "--forcerun", "train", "evaluate", "--configfile", *configfiles, "--", target]
    env = {**os.environ, "EQUIGLASS_SKIP_PYTHON_CHECK": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        sys.exit(f"snakemake dry run failed ({' '.join(cmd)}):\n{res.stdout[-2000:]}{res.stderr[-2000:]}")
    other = sorted({line.split()[1].rstrip(":") for line in res.stdout.splitlines()
                    if line.startswith(("rule ", "localrule "))} - {"train", "evaluate"})
    if other:
        sys.exit(f"the run is not finished for {target}: Snakemake would also run {', '.join(other)}. "
                 f"Fix: run the workflow first (snakemake --cores N --configfile {' '.join(configfiles)} {target}).")
    lines = {kind: next((ln for ln in res.stdout.splitlines() if f"python -m equiglass {kind} " in ln), None)
             for kind in ("train", "evaluate")}
    if None in lines.values():
        sys.exit(f"could not find the train/evaluate commands of {target} in the dry run's output")
    return tuple(_runnable_here(shlex.split(lines[k])) for k in ("train", "evaluate"))


def _runnable_here(tokens: list[str]) -> list[str]:
    """A rule's command line run by this Python, without its VAR=value prefixes and its log redirection."""
    tokens = [sys.executable, *tokens[tokens.index("python") + 1:]]  # this python; no VAR=value prefixes
    return tokens[:tokens.index("2>")] if "2>" in tokens else tokens


def _replace(tokens: list[str], flag: str, value: str) -> list[str]:
    out = list(tokens)
    out[out.index(flag) + 1] = value
    return out


def _set(settings: dict, assignment: str) -> None:
    """``training.epochs=120`` → settings["training"]["epochs"] = 120 (value parsed as JSON, else text)."""
    key, _, raw = assignment.partition("=")
    if not raw:
        sys.exit(f"--set {assignment!r}: write KEY.PATH=VALUE, e.g. training.epochs=120")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    node = settings
    *parents, leaf = key.split(".")
    for p in parents:
        if not isinstance(node.get(p), dict):
            sys.exit(f"--set {assignment!r}: the settings have no section {p!r} (see: equiglass settings train ...)")
        node = node[p]
    if leaf not in node:
        sys.exit(f"--set {assignment!r}: unknown setting {leaf!r} under {'.'.join(parents) or 'the top'} "
                 f"(known: {', '.join(sorted(node))})")
    node[leaf] = value


def replicate_commands(train: list[str], evaluate: list[str], out: Path, k: int,
                       overrides: list[str]) -> tuple[str, int]:
    """(shell command, seed) of replicate ``k`` in ``out``/s<k>."""
    settings = json.loads(train[train.index("--settings") + 1])
    for assignment in overrides:
        _set(settings, assignment)
    settings["seed"] = replicate_seed(int(settings["seed"]), k)
    d = out / f"s{k}"
    t = _replace(_replace(train, "--settings", json.dumps(settings)), "--out-dir", str(d))
    e = _replace(_replace(evaluate, "--model", str(d / "model.pt")), "--output", str(d / "evaluation.json"))
    cmd = (" ".join(map(shlex.quote, t)) + f" 2> {shlex.quote(str(d / 'train.log'))} && "
           + " ".join(map(shlex.quote, e)) + f" 2> {shlex.quote(str(d / 'evaluate.log'))}")
    return cmd, int(settings["seed"])


def workflow_evaluations(model: str, trainset: str) -> list[Path]:
    """The run's evaluations of ``model`` on ``trainset``: replicate 0, then its ``training.seeds``
    replicates (``results/eval/<model>/<set>/seed<r>.json``) in order."""
    first = Path(f"results/eval/{model}/{trainset}.json")
    seeds = sorted(Path(f"results/eval/{model}/{trainset}").glob("seed*.json"), key=lambda f: int(f.stem[4:]))
    return [first, *seeds] if first.exists() else []


def workflow_replicate(model: str, trainset: str, k: int, seed: int) -> Path | None:
    """The run's evaluation of replicate ``k`` when the run trained it from ``seed`` (else None)."""
    if k == 0:
        path = Path(f"results/eval/{model}/{trainset}.json")
        return path if path.exists() else None
    path = Path(f"results/eval/{model}/{trainset}/seed{k}.json")
    trained = Path(f"results/models/{model}/{trainset}/seed{k}/model.json")
    if path.exists() and trained.exists() and read_json(trained)["info"]["training"].get("seed") == seed:
        return path
    return None


def compare(sets: dict[str, list[dict]], name: str, labels_of_interest: list[str], seed: int = 0) -> list[dict]:
    """Rows ``name`` − every other entry of ``sets`` (label → evaluations, one per seed), species A,
    at ``labels_of_interest``: :func:`equiglass.steps.compare.compare_pair`'s rows (bootstrap ``seed``:
    the workflow's, seeds.split, gives the numbers of its comparisons.csv)."""
    rows = []
    mine = sets[name]
    for other, evals in sets.items():
        if other == name:
            continue
        for r in compare_pair(mine, evals, name, other, species=("A",), seed=seed):
            if r["timescale"] not in labels_of_interest:
                continue
            T = f"{r['test_T']:.2f}"
            confs = [c for c in mine[0]["results"][T]["configurations"]
                     if c in evals[0]["results"][T]["configurations"]]
            a = per_seed_rho(mine, T, "A", confs, r["timescale"])
            rows.append({"a": name, "b": other, "test_T": T, "timescale": r["timescale"],
                         "delta_rho": r["delta_rho"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                         "n_configurations": r["n_configurations"], "seeds_a": r["seeds_a"], "seeds_b": r["seeds_b"],
                         "verdict": r["verdict"], "rho_a_per_seed": a.mean(axis=1).round(4).tolist()})
    return sorted(rows, key=lambda r: r["test_T"])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configfile", nargs="+", default=[], help="presets/overlays on top of config.yaml")
    ap.add_argument("--model", required=True, help="model family, e.g. se3gnn")
    ap.add_argument("--trainset", required=True, help="training set, e.g. T0.60")
    ap.add_argument("--seeds", type=int, default=3, help="training seeds (replicates), the workflow's first")
    ap.add_argument("--tag", default="default", help="name of this replicate set (different --set: different tag)")
    ap.add_argument("--set", action="append", default=[], dest="overrides",
                    help="change a train setting, e.g. training.epochs=120 (repeatable)")
    ap.add_argument("--against", nargs="*", default=None,
                    help="the run's models to compare with (default: every other model evaluated on the same set)")
    ap.add_argument("--jobs", type=int, default=2, help="replicates trained side by side")
    args = ap.parse_args(argv)
    if args.tag == "default" and args.overrides:
        sys.exit("--set changes the training: name the replicate set with --tag (e.g. --tag epochs120)")

    cfg = load_config("config.yaml", *args.configfile)
    out = Path("results/seed_replicates") / args.model / args.trainset / args.tag
    out.mkdir(parents=True, exist_ok=True)
    train, evaluate = workflow_commands(["config.yaml", *args.configfile], args.model, args.trainset)
    threads = cfg["training"]["threads"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    todo, seeds, walls = [], {}, {}
    for k in range(args.seeds):
        cmd, seed = replicate_commands(train, evaluate, out, k, args.overrides)
        seeds[k] = seed
        target = out / f"s{k}" / "evaluation.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        pipeline_eval = None if args.overrides else workflow_replicate(args.model, args.trainset, k, seed)
        if pipeline_eval is not None and not target.exists():
            with atomic_path(target) as tmp:  # the workflow's own training of this seed: deterministic, reused
                tmp.write_text(pipeline_eval.read_text())
        if not target.exists():
            todo.append((k, cmd))

    def run(item: tuple[int, str]) -> None:
        k, cmd = item
        print(f"[seed_replicates] s{k} (seed {seeds[k]}): training …", flush=True)
        t0 = time.time()
        res = subprocess.run(cmd, shell=True, env=env)
        walls[k] = round(time.time() - t0, 1)
        if res.returncode != 0:
            raise SystemExit(f"replicate s{k} failed (exit {res.returncode}); see {out}/s{k}/train.log, evaluate.log")
        print(f"[seed_replicates] s{k} done in {walls[k]:.0f} s", flush=True)

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(run, todo))

    sets = {f"{args.model}@{args.trainset}[{args.tag}]": [read_json(out / f"s{k}" / "evaluation.json")
                                                          for k in range(args.seeds)]}
    for tag_dir in sorted(out.parent.iterdir()):  # the other replicate sets of this model
        evals = sorted(tag_dir.glob("s*/evaluation.json"))
        if tag_dir != out and len(evals) >= 2:
            sets[f"{args.model}@{args.trainset}[{tag_dir.name}]"] = [read_json(f) for f in evals]
    for f in sorted(Path("results/eval").glob(f"*/{args.trainset}.json")):
        family = f.parent.name
        if family != args.model and (args.against is None or family in args.against):
            sets[f"{family}@{args.trainset}"] = [read_json(e) for e in workflow_evaluations(family, args.trainset)]
    name = next(iter(sets))
    first = sets[name][0]["results"]
    labels = first[next(iter(first))]["timescale_labels"]
    rows = compare(sets, name, [labels[0], tau_alpha_label(cfg)], seed=int(cfg["seeds"]["split"]))
    summary = {"model": args.model, "trainset": args.trainset, "tag": args.tag, "overrides": args.overrides,
               "seeds": seeds, "train_wall_s": walls, "commit": git_commit(), "rows": rows,
               "method": "two-level paired bootstrap (test configurations jointly; seeds of each side "
                         "independently; the paired bootstrap when both sides have one seed), 10 000 draws, "
                         "95 % percentile interval, bootstrap seed seeds.split as the workflow's comparisons; "
                         "species A; per-configuration Pearson rho averaged over seeds and configurations"}
    write_json(out / "summary.json", summary)
    md = [f"# Seed replicates: {name} ({args.seeds} seeds; overrides: {', '.join(args.overrides) or 'none'})", "",
          "| a − b | test T | timescale | Δρ_A [95 % CI] | seeds a/b | verdict | ρ_A of a per seed |",
          "|---|---|---|---|---|---|---|"]
    md += [f"| {r['a']} − {r['b']} | {r['test_T']} | {r['timescale']} | {r['delta_rho']:+.3f} "
           f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}] | {r['seeds_a']}/{r['seeds_b']} | {r['verdict']} | "
           f"{' / '.join(f'{x:.3f}' for x in r['rho_a_per_seed'])} |" for r in rows]
    with atomic_path(out / "summary.md") as tmp:
        tmp.write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
