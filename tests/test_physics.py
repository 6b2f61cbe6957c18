"""Kob–Andersen physics against the reference values (equiglass.reference) (cheap checks by default)."""

from __future__ import annotations

import numpy as np
import pytest

from equiglass import dynamics as dyn
from equiglass.equilibration import ageing_check, block_mean_error
from equiglass.iso import isoconfigurational
from equiglass.md import MDSettings, equilibration_phases, initial_state, run_phases
from equiglass.reference import compare


@pytest.fixture(scope="module")
def equilibrated_08():
    """N = 1000 at T = 0.8: melt, 60 τ (≈ 25 τ_α) of NVT, then 60 τ of production."""
    md = MDSettings(segment_time=200.0)
    st = initial_state(1000, 1.2, seed=21)
    phases = equilibration_phases(0.8, 120.0, melt_time=10.0, log_every=0.5)
    final, log = run_phases(st, phases, md, seed=4, label="T=0.8", minimize_first=True)
    return final, log


def test_equation_of_state_at_T08(equilibrated_08):
    _, log = equilibrated_08
    u = log.phase_array("equilibrate", "potential_energy")[120:]
    p = log.phase_array("equilibrate", "pressure")[120:]
    t = log.phase_array("equilibrate", "temperature")[120:]
    (um, ue), (pm, pe) = block_mean_error(u, 6), block_mean_error(p, 6)
    cu = compare("potential_energy", 0.8, um, ue)
    cp = compare("pressure", 0.8, pm, pe)
    assert cu.agrees, f"U/N = {um:.4f} ± {ue:.4f}, reference -6.345 ± 0.004"
    assert cp.agrees, f"P = {pm:.3f} ± {pe:.3f}, reference 7.60 ± 0.02"
    assert t.mean() == pytest.approx(0.8, rel=0.02)
    assert ageing_check(u)["passed"]


def test_energy_conservation_over_one_tau_alpha(equilibrated_08):
    """NVE at T = 0.8 with dt = 0.005: relative drift of the total energy below 1e-4 per τ_α."""
    final, _ = equilibrated_08
    sums = isoconfigurational(final, 0.8, 2.3, [0], MDSettings(), seed=1)
    assert sums.energy_drift.max() < 1e-4


def test_ageing_check_detects_drift():
    rng = np.random.default_rng(0)
    flat = -6.3 + 0.01 * rng.normal(size=400)
    assert ageing_check(flat)["passed"]
    drifting = flat - np.linspace(0, 0.05, 400)
    assert not ageing_check(drifting)["passed"]


@pytest.mark.slow
def test_tau_alpha_at_T08(equilibrated_08):
    """τ_α(T = 0.8) from iso-configurational F_s agrees with the reference 2.26 ± 0.06 within tolerance."""
    final, _ = equilibrated_08
    md = MDSettings(segment_time=200.0)
    ensembles = []
    state = final
    for k in range(4):  # four configurations, 10 τ_α apart
        if k:
            state, _ = run_phases(state, equilibration_phases(0.8, 25.0, melt_time=0.0), md, seed=10 + k, label="decorr")
        ensembles.append(isoconfigurational(state, 0.8, 8.0, list(range(4)), md, seed=k))
    summ = dyn.summarize(0.8, ensembles)
    c = compare("tau_alpha", 0.8, summ.tau_alpha, summ.tau_alpha_err)
    assert c.agrees, f"tau_alpha = {summ.tau_alpha:.3f} ± {summ.tau_alpha_err:.3f}"
