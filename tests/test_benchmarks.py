"""Smoke test of the benchmark suite: the quick graphs section runs and writes its results.

Full runs: ``make bench`` (``python benchmarks/run_all.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.slow  # ~40 s: a benchmark section, too long for the default suite
def test_benchmarks_quick_graphs(tmp_path):
    res = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run_all.py"), "--quick", "--only", "graphs", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    data = json.loads((tmp_path / "results.json").read_text())
    assert {"machine", "quick", "sections", "wall_s"} <= set(data)
    assert data["quick"] is True
    assert {"cpu_model", "cores", "torch_version", "e3nn_version", "lammps_version"} <= set(data["machine"])
    assert list(data["sections"]) == ["graphs"]
    g = data["sections"]["graphs"]
    assert "error" not in g
    assert {"neighbours_and_ql", "graph_vs_epoch", "tables", "wall_s"} <= set(g)
    cmp = g["neighbours_and_ql"][0]
    assert {"speedup_neighbors", "speedup_ql", "max_abs_diff_ql", "pair_mismatches", "agree"} <= set(cmp)
    assert cmp["agree"], cmp["checks"]
    assert {"graph_percent_of_epoch", "epoch_s", "graph_build_s"} <= set(g["graph_vs_epoch"])
    md = (tmp_path / "results.md").read_text()
    assert md.startswith("# equiglass benchmarks") and "freud vs numpy" in md
