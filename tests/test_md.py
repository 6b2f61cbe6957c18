"""MD protocols: energy conservation, thermostat, checkpoints, iso-configurational displacements."""

from __future__ import annotations

import numpy as np
import pytest

from equiglass.engines.base import Engine, Thermo
from equiglass.iso import (
    iso_replica,
    isoconfigurational,
    load_iso,
    log_time_steps,
    merge_iso,
    save_iso,
)
from equiglass.md import MDSettings, equilibration_phases, run_phases
from equiglass.state import State, kinetic_temperature, maxwell_boltzmann


def test_nve_conserves_energy(liquid_256):
    md = MDSettings()
    st = liquid_256
    with md.engine_for(st, seed=1) as eng:
        eng.set_integrator("nve")
        e0 = eng.thermo().total_energy
        energies = []
        for _ in range(10):
            eng.run(200)  # 10 τ in total
            energies.append(eng.thermo().total_energy)
    drift = np.abs(np.array(energies) - e0).max()
    assert drift < 2e-3 * abs(e0), f"energy per particle drifts by {drift}"


def test_nvt_mean_temperature(liquid_256):
    md = MDSettings(segment_time=100.0)
    _, log = run_phases(liquid_256, equilibration_phases(0.9, 30.0, melt_time=0.0, log_every=0.5), md, 3, "nvt")
    t = log.phase_array("equilibrate", "temperature")[10:]
    assert t.mean() == pytest.approx(0.9, rel=0.03)


def test_resume_from_checkpoint_is_bit_identical(liquid_256, tmp_path):
    md = MDSettings(segment_time=2.0)
    phases = equilibration_phases(0.9, 6.0, melt_time=0.0, log_every=1.0)
    full, log_full = run_phases(liquid_256, phases, md, seed=7, label="full")
    # interrupted run: simulate a kill after the first segment by running a shorter job that
    # leaves its checkpoint, then resume with the original phases
    ckpt = tmp_path / "ck.npz"
    short = equilibration_phases(0.9, 6.0, melt_time=0.0, log_every=1.0)
    import equiglass.md as mdmod

    calls = {"n": 0}
    original = mdmod._save_checkpoint

    def save_then_die(path, state, log, progress):
        original(path, state, log, progress)
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt

    mdmod._save_checkpoint = save_then_die
    try:
        with pytest.raises(KeyboardInterrupt):
            run_phases(liquid_256, short, md, seed=7, label="killed", checkpoint=ckpt)
    finally:
        mdmod._save_checkpoint = original
    resumed, log_res = run_phases(liquid_256, phases, md, seed=7, label="resumed", checkpoint=ckpt)
    np.testing.assert_array_equal(resumed.positions, full.positions)
    np.testing.assert_array_equal(resumed.velocities, full.velocities)
    assert [r["potential_energy"] for r in log_res.rows] == [r["potential_energy"] for r in log_full.rows]


def test_maxwell_boltzmann_exact_temperature():
    v = maxwell_boltzmann(500, 0.7, np.random.default_rng(1))
    assert kinetic_temperature(v) == pytest.approx(0.7, rel=1e-12)
    np.testing.assert_allclose(v.mean(axis=0), 0.0, atol=1e-12)


def test_log_time_steps():
    steps = log_time_steps(10.0, 0.005, points_per_decade=5)
    assert steps[0] == 1 and steps[-1] == 2000
    assert np.all(np.diff(steps) > 0)


class DriftEngine(Engine):
    """A fake engine: every particle moves with a constant velocity, positions wrapped into the box."""

    name = "drift"

    def __init__(self, state, *a, **k):
        self.n, self.types, self.box = state.n, state.types, state.box
        self.x0 = state.positions.copy()
        self.v = state.velocities.copy()
        self.dt, self._step = 0.01, 0

    def get_state(self):
        x = self.x0 + self.v * self._step * self.dt
        return State(x, self.types, self.box, self.v, np.zeros((self.n, 3), np.int32), self._step).wrapped()

    def set_positions(self, positions, image=None):
        raise NotImplementedError

    def set_velocities(self, velocities):
        self.v = velocities

    def set_integrator(self, kind, temperature=None, tau=0.5, thermostat="nose-hoover"):
        pass

    def run(self, steps):
        self._step += steps

    def minimize(self, *a, **k):
        return 0.0

    def thermo(self):
        return Thermo(self._step, 0.0, 0.0, 0.0, 0.0)

    def energy_forces(self):
        return 0.0, np.zeros((self.n, 3))

    def per_particle_energy(self):
        return np.zeros(self.n)

    @property
    def step(self):
        return self._step


def test_propensity_exact_with_boundary_crossings(monkeypatch):
    """Displacements of particles that cross the box several times are exact (unwrapped)."""
    box = np.full(3, 4.0)
    rng = np.random.default_rng(0)
    pos = rng.uniform(-2, 2, size=(6, 3))
    state = State(pos, np.array([0, 0, 0, 0, 1, 1]), box)
    speeds = {}

    def engine_for(self, st, seed):
        # replica velocities are drawn by iso_replica; our fake keeps them and moves straight
        speeds[seed] = st.velocities.copy()
        return DriftEngine(st)

    monkeypatch.setattr(MDSettings, "engine_for", engine_for)
    md = MDSettings(dt=0.01)
    steps = np.array([1, 10, 100, 1000, 5000])  # up to t = 50: many box crossings
    disp, _ = iso_replica(state, 2.0, steps, md, seed=42)
    v = speeds[42]
    expected = np.linalg.norm(v, axis=1)[None, :] * steps[:, None] * 0.01
    np.testing.assert_allclose(disp, expected, rtol=1e-9)
    assert expected.max() > 10 * box[0]  # the test really crosses the box many times


def test_iso_sums_merge_and_roundtrip(monkeypatch, tmp_path):
    monkeypatch.setattr(MDSettings, "engine_for", lambda self, st, seed: DriftEngine(st))
    box = np.full(3, 5.0)
    state = State(np.random.default_rng(1).uniform(-2.5, 2.5, (8, 3)), np.array([0] * 6 + [1] * 2), box)
    md = MDSettings(dt=0.01)
    all4 = isoconfigurational(state, 1.0, 1.0, [0, 1, 2, 3], md, seed=9)
    a = isoconfigurational(state, 1.0, 1.0, [0, 1], md, seed=9)
    b = isoconfigurational(state, 1.0, 1.0, [2, 3], md, seed=9)
    save_iso(tmp_path / "a.npz", a, state.types, {})
    merged = merge_iso([load_iso(tmp_path / "a.npz"), b])
    np.testing.assert_allclose(merged.sum1, all4.sum1, rtol=1e-12)
    np.testing.assert_allclose(merged.sum4, all4.sum4, rtol=1e-12)
    assert sorted(merged.replicas.tolist()) == [0, 1, 2, 3]
    # the even-replica sums (split-half of the noise ceiling) merge too; files keep them as float32
    np.testing.assert_allclose(merged.even_sum1, all4.even_sum1, rtol=1e-6)
    np.testing.assert_allclose(merged.even_sum2, all4.even_sum2, rtol=1e-6)
    solo = isoconfigurational(state, 1.0, 1.0, [0], md, seed=9)
    np.testing.assert_array_equal(a.even_sum1, solo.sum1)  # batch [0, 1]: replica 0 is its even half
    assert not np.array_equal(all4.even_sum1, all4.sum1 / 2)
