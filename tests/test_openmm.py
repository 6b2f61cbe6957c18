"""OpenMM engine specifics: reduced-unit temperatures, refused thermostats, platform choice."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("openmm")

from equiglass.engines import available_engines, make_engine
from equiglass.engines.openmm_engine import PLATFORM_ENV, gas_constant, platform_candidates


def test_openmm_is_available():
    assert "openmm" in available_engines()


def test_gas_constant_in_kj_per_mol_kelvin():
    assert gas_constant() == pytest.approx(0.00831446261815324, rel=1e-12)


def test_nvt_holds_reduced_temperature(liquid_256):
    """Nosé–Hoover at T* = 1.0 (converted to kelvin inside) gives a kinetic T* within 3 %."""
    with make_engine("openmm", liquid_256, threads=1) as eng:
        eng.set_integrator("nvt", 1.0, tau=0.5)
        assert eng.integrator.getTemperature()._value == pytest.approx(1.0 / gas_constant())
        assert eng.integrator.getCollisionFrequency()._value == pytest.approx(2.0)
        temps = []
        for _ in range(40):
            eng.run(50)
            temps.append(eng.thermo().temperature)
    assert np.mean(temps[10:]) == pytest.approx(1.0, rel=0.03)


def test_bussi_is_refused_clearly(liquid_256):
    with make_engine("openmm", liquid_256) as eng, pytest.raises(ValueError, match="nose-hoover"):
        eng.set_integrator("nvt", 1.0, thermostat="bussi")


def test_platform_override(liquid_256, monkeypatch):
    monkeypatch.setenv(PLATFORM_ENV, "Reference")
    assert platform_candidates("gpu") == ("Reference",)
    with make_engine("openmm", liquid_256, device="cpu") as eng:
        assert eng.platform_name == "Reference"
    monkeypatch.setenv(PLATFORM_ENV, "NoSuchPlatform")
    with pytest.raises(RuntimeError, match="NoSuchPlatform"):
        make_engine("openmm", liquid_256)


def test_cpu_device_uses_cpu_platform(liquid_256, monkeypatch):
    monkeypatch.delenv(PLATFORM_ENV, raising=False)
    assert platform_candidates("cpu") == ("CPU", "Reference")
    assert platform_candidates("gpu") == ("CUDA", "OpenCL")
    with make_engine("openmm", liquid_256, device="cpu", threads=1) as eng:
        assert eng.platform_name in ("CPU", "Reference")
        if eng.platform_name == "CPU":
            assert eng.context.getPlatform().getPropertyValue(eng.context, "Threads") == "1"


def test_images_track_unwrapped_motion(liquid_256, monkeypatch):
    """Wrapped positions + images reproduce the unwrapped trajectory; pressure, per-particle
    energies and thermo agree with LAMMPS on the same state."""
    monkeypatch.setenv(PLATFORM_ENV, "Reference")
    with make_engine("openmm", liquid_256) as eng:
        eng.set_integrator("nve")
        eng.run(400)
        st = eng.get_state()
        th = eng.thermo()
        pe = eng.per_particle_energy()
    assert np.all(np.abs(st.positions) <= st.box / 2)
    assert np.any(st.image != liquid_256.image)
    with make_engine("lammps", st) as ref:
        th_ref = ref.thermo()
        pe_ref = ref.per_particle_energy()
    np.testing.assert_allclose(pe, pe_ref, atol=1e-10)
    assert th.pressure == pytest.approx(th_ref.pressure, rel=1e-9)
    assert th.temperature == pytest.approx(th_ref.temperature, rel=1e-9)
    assert pe.sum() / len(pe) == pytest.approx(th.potential_energy, rel=1e-10)
