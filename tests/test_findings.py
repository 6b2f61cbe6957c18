"""`equiglass findings`: a finished run's page, stamped with what the run's files measured (issue 28)."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from equiglass.files import InputError
from equiglass.findings import duration, findings_page
from equiglass.run_record import Job, busy_seconds, rule_group, snakemake_jobs

SUMMARY = """# equiglass summary — preset toy

Data: preset toy: N=64, T=0.80, 2 configurations per T, 2 replicas; 1 test configurations per temperature. Every ρ is ...

## The paper's claims on our data

| claim | evidence | verdict |
|---|---|---|
| 1. claim one | x | **unresolved** |

## Every model (species A)

not copied

## Noise ceiling: the best ρ the labels allow

ceiling table
"""
COMPARISONS = """model_a,model_b,train_set,test_T,unseen,species,timescale,time,is_tau_alpha,delta_rho,ci_low,ci_high,n_configurations,resolved,verdict
se3gnn@T0.80,ridge@T0.80,T0.80,0.8,False,A,Fs=0.9,0.07,False,0.1,0.05,0.15,4,True,supported
se3gnn@T0.80,ridge@T0.80,T0.80,0.8,False,A,Fs=0.368,3.2,True,-0.02,-0.08,0.04,4,False,unresolved
se3gnn@T0.80,ridge@T0.80,T0.80,0.8,False,B,Fs=0.9,0.07,False,0.3,0.2,0.4,4,True,supported
"""


def record(meta: Path, output: str, **data) -> None:
    """A Snakemake metadata record for ``output`` (file persistence: url-safe base64 name)."""
    meta.mkdir(parents=True, exist_ok=True)
    (meta / base64.urlsafe_b64encode(output.encode()).decode()).write_text(json.dumps(data))


def toy_run(tmp_path: Path, with_metadata: bool = True) -> Path:
    res = tmp_path / "results"
    (res / "tables").mkdir(parents=True)
    (res / "summary.md").write_text(SUMMARY)
    (res / "tables" / "comparisons.csv").write_text(COMPARISONS)
    prov = {"git_commit": "abc123", "machine": "node1", "platform": "Linux", "python": "3.11",
            "versions": {"torch": "2.0"}, "cpu": {"model": "Toy CPU 9000", "cores": 8, "cores_usable": 8},
            "created_utc": "2026-01-01T00:00:00+00:00"}
    for name in ("a", "b"):
        (res / "md").mkdir(exist_ok=True)
        (res / "md" / f"{name}.json").write_text(json.dumps({"provenance": prov}))
    (res / "benchmarks" / "equilibrate").mkdir(parents=True)
    (res / "benchmarks" / "equilibrate" / "s0.tsv").write_text("s\th:m:s\tmax_rss\tcpu_time\n100.0\t0:01:40\t50\t90.5\n")
    if with_metadata:
        meta = tmp_path / ".snakemake" / "metadata"
        t0 = 1_800_000_000.0
        # one job, two outputs (merged); one job 1000 s later; a record of a file that is gone (not counted)
        record(meta, "results/md/a.json", rule="equilibrate", starttime=t0, endtime=t0 + 100, job_hash=1,
               shellcmd="eq a", log=["logs/a"])
        record(meta, "results/md/b.json", rule="equilibrate", starttime=t0 + 0.01, endtime=t0 + 100.5, job_hash=1,
               shellcmd="eq a", log=["logs/a"])
        record(meta, "results/summary.md", rule="summary", starttime=t0 + 1000, endtime=t0 + 1060, job_hash=2,
               shellcmd="sum", log=["logs/s"])
        record(meta, "results/gone.npz", rule="graphs", starttime=t0 - 5000, endtime=t0 - 4000, job_hash=3)
        log = tmp_path / ".snakemake" / "log"
        log.mkdir(parents=True)
        began = __import__("datetime").datetime.fromtimestamp(t0 - 5)
        (log / f"{began.strftime('%Y-%m-%dT%H%M%S.%f')}.snakemake.log").write_text("Provided cores: 2\nJob stats:\n")
    return res


def test_job_records_merge_outputs_and_skip_removed_files(tmp_path):
    toy_run(tmp_path)
    jobs = snakemake_jobs(tmp_path)
    assert [(j.rule, j.end - j.start) for j in jobs] == [("equilibrate", pytest.approx(100.5)),
                                                         ("summary", pytest.approx(60.0))]
    assert busy_seconds(jobs) == pytest.approx(160.5)
    assert busy_seconds([Job("a", 0, 10), Job("b", 5, 20), Job("c", 30, 31)]) == pytest.approx(21)
    assert (rule_group("train_seed"), rule_group("ablation_train"), rule_group("figure_rho")) == \
        ("training", "ablations", "figures")
    assert duration(2417) == "40 min 17 s" and duration(7380) == "2 h 03 min"


def test_page_is_stamped_from_the_run_files(tmp_path):
    res = toy_run(tmp_path)
    page = findings_page(res, tmp_path / "docs" / "findings-toy.md")
    assert page == (tmp_path / "docs" / "findings-toy.md").read_text()
    assert page.startswith("# Findings: preset toy\n")
    assert "| preset | toy (N=64, T=0.80, 2 configurations per T, 2 replicas; 1 test configurations" in page
    assert "| commit | `abc123` |" in page
    assert "Toy CPU 9000, 8 logical cores (host node1, Linux); Snakemake given 2 cores" in page
    assert "| wall time | 17 min 40 s (first job start → last job end" in page  # 1060 s
    assert "jobs ran during 2 min 40 s of it" in page  # 160.5 s busy: a gap, said
    assert "| jobs | 2 (" in page
    assert "| MD | 1 | 1 min 40 s | 1 min 30 s (1 job) |" in page  # job wall time, benchmarked CPU time
    assert "## The paper's claims on our data" in page and "## Noise ceiling" in page
    assert "not copied" not in page
    row = next(r for r in page.splitlines() if r.startswith("| se3gnn@T0.80 − ridge@T0.80 |"))
    assert "+0.100 [+0.050, +0.150] (Fs=0.9)" in row and "-0.020 [-0.080, +0.040]" in row and "unresolved" in row
    assert page.count("| se3gnn@T0.80 − ridge@T0.80 |") == 1  # species B left out
    assert findings_page(res, f"{tmp_path}/pages/") == (tmp_path / "pages" / "findings-toy.md").read_text()


def test_overlay_page_stamps_only_its_own_jobs_and_copies_the_ablation_tables(tmp_path):
    """An overlay run in a finished run's folder (e.g. presets/equivariance.yaml on the study): the page
    is named after both, counts only the jobs started since the overlay began, and carries the
    summary's per-temperature ablation tables."""
    from equiglass.findings import parse_utc

    res = toy_run(tmp_path)
    (res / "summary.md").write_text(SUMMARY + "\n## Ablation lmax at every test temperature (A)\n\nlmax table\n")
    since = parse_utc("2027-01-15T08:03:20")  # = t0 + 200 s (t0 = 1.8e9): only the summary job is later
    assert since == 1_800_000_000.0 + 200
    late = res / "ablations" / "lmax.json"  # the overlay's own result file: its commit is the page's
    late.parent.mkdir()
    late.write_text(json.dumps({"provenance": {"git_commit": "def456", "machine": "node1", "platform": "Linux"}}))
    os.utime(late, (since + 10, since + 10))
    page = findings_page(res, f"{tmp_path}/pages/", overlay="equivariance", since=since)
    assert "| commit | `def456` |" in page  # the earlier run's files (commit abc123) are not the overlay's
    assert page == (tmp_path / "pages" / "findings-toy-equivariance.md").read_text()
    assert page.startswith("# Findings: preset toy + equivariance\n")
    assert "| wall time | 1 min 00 s (first job start" in page and "| jobs | 1 (" in page
    assert "--overlay equivariance --since 2027-01-15T08:03:20" in page
    assert "## Ablation lmax at every test temperature (A)\n\nlmax table" in page
    assert "| MD |" not in page  # the earlier run's benchmark files (written before --since) are not the overlay's
    before = findings_page(res, until=since - 100)  # --until: work done later in the folder left out
    assert "| jobs | 1 (" in before and "| wall time | 1 min 40 s (first job start" in before
    assert "Ablation" not in findings_page(toy_run(tmp_path / "plain"))
    with pytest.raises(InputError, match="--until 'yesterday': not an ISO date"):
        parse_utc("yesterday", "--until")


def test_page_says_not_recorded_without_job_records(tmp_path):
    res = toy_run(tmp_path, with_metadata=False)
    page = findings_page(res)
    assert "| wall time | not recorded (no Snakemake job records" in page
    assert "| jobs | not recorded |" in page
    assert "| date | 2026-01-01T00:00:00+00:00 → 2026-01-01T00:00:00+00:00 (result files' provenance) |" in page


@pytest.mark.xdist_group("tiny_run")
def test_findings_of_the_tiny_run(tiny_run, tmp_path):
    """The command CI runs on the tiny preset's results: stamps measured from the run, the key
    sections, figure links that resolve from the page, job counts that match Snakemake's own DAG."""
    from test_workflow import job_counts, snakemake

    from equiglass.provenance import cpu_info
    from equiglass.result_provenance import read_provenance

    out = tmp_path / "docs" / "findings-tiny.md"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    res = subprocess.run([sys.executable, "-m", "equiglass", "findings", str(tiny_run / "results"), "-o", str(out)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    page = out.read_text()
    commit = read_provenance(tiny_run / "results" / "eval" / "se3gnn" / "T0.80.json")["git_commit"]
    assert page.startswith("# Findings: preset tiny\n")
    assert "| preset | tiny (N=256, T=0.80, 1.00" in page
    assert f"`{commit}`" in page
    assert f"{cpu_info()['model']}, {cpu_info()['cores']} logical cores" in page and "Snakemake given 2 cores" in page
    assert re.search(r"\| date \| \d{4}-\d\d-\d\d \d\d:\d\d UTC → ", page)
    wall = re.search(r"\| wall time \| (?:(\d+) min )?([\d.]+) s \(first job start", page)
    assert wall, page[:2000]
    seconds = 60 * int(wall.group(1) or 0) + float(wall.group(2))
    longest = max(float(line.split("\t")[0]) for tsv in (tiny_run / "results" / "benchmarks").glob("*/*.tsv")
                  for line in tsv.read_text().splitlines()[1:])
    assert longest <= seconds + 1
    for section in ("## Run cost", "### Training", "## The paper's claims on our data", "## How each network trained",
                    "## Paired differences at the shortest time and at τ_α", "## Noise ceiling",
                    "## Learning curves", "## Figures"):
        assert section in page, section
    assert "| se3gnn@T0.80 − ridge@T0.80 | 0.80 | no |" in page
    links = re.findall(r"\]\(([^)]+\.png)\)", page)
    assert len(links) >= 10 and all((out.parent / link).exists() for link in links)
    # jobs counted per rule group equal the DAG's jobs of the rules that have outputs
    dry = snakemake(tiny_run, "--dry-run", "--forceall", "--quiet", "rules", "--configfile", "presets/tiny.yaml")
    assert dry.returncode == 0, dry.stderr[-2000:]
    counts = job_counts(dry.stdout)
    jobs = snakemake_jobs(tiny_run)
    recorded = {r: sum(j.rule == r for j in jobs) for r in {j.rule for j in jobs}}
    assert {"equilibrate", "isoconfigurational", "train", "summary"} <= set(recorded)
    assert recorded == {r: counts[r] for r in recorded}
    assert f"| jobs | {len(jobs)} (" in page


def test_a_win_over_a_network_that_did_not_learn_is_unresolved(tmp_path):
    from equiglass.findings import delta_table

    status = {"bapst@T0.60": {"model": "bapst@T0.60", "learned": False, "flattened": True, "n_seeds": 3,
                              "seeds_not_learned": 3}}
    csv_file = tmp_path / "comparisons.csv"
    head = "model_a,model_b,test_T,unseen,species,timescale,time,is_tau_alpha,delta_rho,ci_low,ci_high,n_configurations,verdict"
    rows = [f"se3gnn@T0.60,{b},0.56,True,A,Fs=0.368,20.0,True,0.3,0.2,0.4,6,supported" for b in ("bapst@T0.60", "ridge@T0.60")]
    csv_file.write_text("\n".join([head, *rows]) + "\n")
    table = delta_table(csv_file, status)
    assert table[2].endswith("| 6 | unresolved (bapst did not learn within this budget: 3 of 3 seeds) |")
    assert table[3].endswith("| 6 | supported |")
