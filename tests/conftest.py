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
    tests/test_slurm_local.py): they run only when a -m expression names them (make test-slurm:
    -m slurm) and are skipped otherwise, so that `make test` (-m "not slow"), `make test-all` and
    a plain `pytest` never install packages or start daemons, with no change to their -m."""
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


def shared_data(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"shared sample data {path} not present (only in the development checkout)")
    return path
