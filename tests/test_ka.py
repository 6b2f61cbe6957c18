"""The KA force field: LAMMPS against a direct numpy evaluation of the shifted per-pair LJ."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from equiglass.engines import make_engine
from equiglass.ka import KA, box_length, pair_energy_forces, tau_alpha_estimate
from equiglass.state import State


def lj(r, eps, sig, rc):
    v = lambda x: 4 * eps * ((sig / x) ** 12 - (sig / x) ** 6)  # noqa: E731
    return np.where(r < rc, v(r) - v(rc), 0.0)


@pytest.mark.parametrize(("ti", "tj"), [(0, 0), (0, 1), (1, 1)])
def test_two_particle_energy_force_per_pair(ti, tj):
    """Pair energy and force of every species pair against the formula, inside and beyond r_c."""
    box = np.full(3, 10.0)
    eps, sig, rc = KA.eps[ti, tj], KA.sig[ti, tj], KA.rcut[ti, tj]
    for r in (0.95 * sig, 1.3 * sig, 0.99 * rc, 1.01 * rc):
        pos = np.array([[0.0, 0.0, 0.0], [r, 0.0, 0.0]])
        e_np, f_np, _ = pair_energy_forces(pos, np.array([ti, tj]), box)
        assert e_np == pytest.approx(float(lj(np.array(r), eps, sig, rc)), rel=1e-12, abs=1e-14)
        with make_engine("lammps", State(pos, np.array([ti, tj]), box)) as eng:
            e, f = eng.energy_forces()
        assert e == pytest.approx(e_np, rel=1e-10, abs=1e-12)
        np.testing.assert_allclose(f, f_np, rtol=1e-10, atol=1e-12)
        if r > rc:
            assert e == 0.0


def test_cutoffs_differ_per_pair():
    """r = 2.3: inside r_c(AA) = 2.5, beyond r_c(AB) = 2.0 and r_c(BB) = 2.2."""
    box = np.full(3, 10.0)
    pos = np.array([[0.0, 0, 0], [2.3, 0, 0]])
    energies = {pair: pair_energy_forces(pos, np.array(pair), box)[0] for pair in [(0, 0), (0, 1), (1, 1)]}
    assert energies[(0, 0)] < 0
    assert energies[(0, 1)] == 0.0
    assert energies[(1, 1)] == 0.0


def test_periodic_image_interaction():
    """Two particles across the box boundary interact through the periodic image."""
    box = np.full(3, 8.0)
    pos = np.array([[-3.8, 0.0, 0.0], [3.0, 0.0, 0.0]])  # 6.8 apart directly, 1.2 through the boundary
    e_np, f_np, _ = pair_energy_forces(pos, np.array([0, 0]), box)
    assert e_np == pytest.approx(float(lj(np.array(1.2), 1.0, 1.0, 2.5)), rel=1e-12)
    with make_engine("lammps", State(pos, np.array([0, 0]), box)) as eng:
        e, f = eng.energy_forces()
    assert e == pytest.approx(e_np, rel=1e-10)
    np.testing.assert_allclose(f, f_np, rtol=1e-9, atol=1e-12)
    # the force pushes particle 0 towards -x (away from its image neighbour at -5.0)
    assert f[0, 0] < 0


def test_random_configuration_matches_numpy(liquid_256):
    st = liquid_256
    e_np, f_np, _ = pair_energy_forces(st.positions, st.types, st.box)
    with make_engine("lammps", st) as eng:
        e, f = eng.energy_forces()
    assert e == pytest.approx(e_np, rel=1e-10)
    scale = np.abs(f_np).max()
    np.testing.assert_allclose(f, f_np, rtol=1e-5, atol=1e-8 * scale)
    assert np.abs(f.sum(axis=0)).max() < 1e-8 * scale  # Newton's third law


def test_pressure_from_virial(liquid_256):
    st = liquid_256
    _, _, w = pair_energy_forces(st.positions, st.types, st.box)
    with make_engine("lammps", st) as eng:
        th = eng.thermo()
    n, vol = st.n, float(np.prod(st.box))
    expected = (2.0 * n * th.kinetic_energy / 3.0 + w / 3.0) / vol  # P V = 2 K / 3 + W / 3
    assert th.pressure == pytest.approx(expected, rel=1e-6)


def test_composition_and_box():
    assert KA.n_types(1000) == (800, 200)
    assert KA.n_types(4096) == (3277, 819)
    assert box_length(1000, 1.2) == pytest.approx((1000 / 1.2) ** (1 / 3))


def test_tau_alpha_table_is_monotonic():
    temps = np.linspace(0.42, 2.0, 40)
    taus = [tau_alpha_estimate(t) for t in temps]
    assert all(a > b for a, b in itertools.pairwise(taus))
    assert tau_alpha_estimate(0.6) == pytest.approx(15.8)
