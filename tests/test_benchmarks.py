"""Smoke test of the benchmark suite (full runs: `make bench`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.slow
def test_benchmarks_quick_graphs(tmp_path):
    res = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run_all.py"), "--quick", "--only", "graphs",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    data = json.loads((tmp_path / "results.json").read_text())
    g = data["sections"]["graphs"]
    assert g["1000"]["max_abs_difference_ql"] < 1e-4
    assert g["1000"]["speedup_neighbors"] > 1
    assert (tmp_path / "results.md").read_text().startswith("## Benchmarks")
