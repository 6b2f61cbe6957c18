"""Shared fixtures: seeds, small KA configurations, paths to shared sample data."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_collection_modifyitems(config, items):
    """Tests marked `slurm` start a real SLURM cluster on this machine (root, apt-get; see
    tests/test_slurm_local.py): they run only when a -m expression names them (`make test` runs
    -m "slurm and not slow" in a second, serial pytest; `make test-slurm` -m slurm) and are skipped
    otherwise, so that the parallel pytest of `make test` (-m "not slow"), `make test-all` and a
    plain `pytest` never install packages or start daemons, with no change to their -m."""
    if "slurm" in (config.getoption("markexpr", "") or ""):
        return
    skip = pytest.mark.skip(reason="starts a local SLURM cluster: run with -m slurm "
                                   "(make test-slurm)")
    for item in items:
        if item.get_closest_marker("slurm"):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    try:
        import torch

        torch.manual_seed(0)
        torch.set_num_threads(1)
    except ImportError:
        pass
    yield


@pytest.fixture(scope="session")
def liquid_256():
    """An equilibrated-ish KA liquid, N = 256 at T = 1.0 (short melt; cached for the session)."""
    from equiglass.md import MDSettings, equilibration_phases, initial_state, run_phases

    md = MDSettings(segment_time=50.0)
    state = initial_state(256, 1.2, seed=11)
    final, _ = run_phases(state, equilibration_phases(1.0, 10.0, melt_time=5.0), md, seed=5, label="fixture",
                          minimize_first=True)
    return final


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The tiny preset run end to end in a copy of the workflow (once per session and xdist worker:
    mark its tests ``xdist_group("tiny_run")``); returns the copy's folder."""
    from test_workflow import copy_workflow, snakemake

    work = copy_workflow(tmp_path_factory.mktemp("tiny"))
    # ~5 min alone on 2 cores; next to the other xdist worker's tests up to ~15 min
    res = snakemake(work, "--cores", "2", "--configfile", "presets/tiny.yaml", timeout=1800)
    assert res.returncode == 0, res.stderr[-4000:]
    return work


@pytest.fixture(scope="session")
def tiny_report(tiny_run):
    """results/report.html of the tiny run (``snakemake --report``)."""
    from test_workflow import snakemake

    report = tiny_run / "results" / "report.html"
    if not report.exists():
        res = snakemake(tiny_run, "--cores", "1", "--configfile", "presets/tiny.yaml", "--report", str(report))
        assert res.returncode == 0, res.stderr[-3000:]
    return report


def shared_data(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"shared sample data {path} not present (only in the development checkout)")
    return path


@pytest.fixture
def train_cli(tmp_path, liquid_256):
    """``make(epochs, n_layers)`` → ``equiglass train`` arguments (without --out-dir) on three
    (graph, propensity) file pairs written as the pipeline writes them, under ``tmp_path/T1.00``."""
    import json

    import numpy as np

    from equiglass.descriptors import DescriptorSettings, compute_descriptors
    from equiglass.graphs import build_graph, save_graph
    from equiglass.state import State

    rng = np.random.default_rng(0)
    data = tmp_path / "T1.00"  # the pipeline's layout: the test temperature from the folder name
    data.mkdir()
    pairs = []
    for k in range(3):
        st = State(liquid_256.positions + rng.normal(scale=0.03, size=(256, 3)), liquid_256.types,
                   liquid_256.box).wrapped()
        d, names = compute_descriptors(st, DescriptorSettings(l_values=(6,), radial_max=2.0, coarse_grain=False))
        save_graph(data / f"g{k}.npz", build_graph(st, 2.0), d, names, {"temperature": 1.0})
        np.savez(data / f"p{k}.npz", propensity=rng.uniform(size=(2, 256)), stderr=np.zeros((2, 256)),
                 times=np.array([1.0, 2.0]), types=st.types, temperature=1.0,
                 metadata=json.dumps({"timescale_labels": ["a", "b"]}))
        pairs.append(f"{data / f'g{k}.npz'}:{data / f'p{k}.npz'}")
    dyn = tmp_path / "dyn.json"
    dyn.write_text(json.dumps({"temperature": 1.0, "timescale_labels": ["a", "b"], "target_mode": "fs",
                               "target_values": [0.9, 0.5], "target_times": [1.0, 2.0], "tau_alpha": 2.0}))

    def make(epochs: int = 3, n_layers: int = 1) -> list[str]:
        settings = {"family": "se3gnn", "hparams": {"mul": 4, "l_max": 1, "n_layers": n_layers, "radial_hidden": 8,
                                                    "readout_hidden": 8},
                    "seed": 5, "temperatures": [1.0],
                    "training": {"epochs": epochs, "lr": 0.01, "threads": 1, "device": "cpu"},
                    "inputs": {"graph_cutoff": 2.0, "descriptors": {"l_values": [6]}},
                    "propensity": {"kind": "displacement"}}
        return ["train", "--settings", json.dumps(settings), "--train", *pairs[:2], "--val", pairs[2],
                "--dynamics", str(dyn)]

    return make
