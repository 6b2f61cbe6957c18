"""F_s, τ_α, target times and propensity statistics on synthetic data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from equiglass import dynamics as dyn
from equiglass.files import InputError
from equiglass.iso import IsoSums, self_intermediate_scattering


def make_sums(disp: np.ndarray, types: np.ndarray, times: np.ndarray) -> IsoSums:
    """disp (R, n_t, N) displacement norms → IsoSums."""
    r = disp.shape[0]
    fs = np.stack([np.stack([self_intermediate_scattering(d[:, types == a]).mean(1) for a in (0, 1)], -1)
                   for d in disp])
    msd = np.stack([np.stack([(d[:, types == a] ** 2).mean(1) for a in (0, 1)], -1) for d in disp])
    return IsoSums(times, disp.sum(0), (disp**2).sum(0), (disp**4).sum(0), fs, msd,
                   np.arange(r), np.zeros(r), np.arange(r))


def test_crossing_time_log_interpolation():
    times = np.array([1.0, 10.0, 100.0])
    curve = np.array([1.0, 0.5, 0.0])
    assert dyn.crossing_time(times, curve, 0.5) == pytest.approx(10.0)
    assert dyn.crossing_time(times, curve, 0.25) == pytest.approx(math.sqrt(10 * 100))
    assert math.isnan(dyn.crossing_time(times, curve, -0.1))


def test_sinc_is_isotropic_average_of_cos():
    rng = np.random.default_rng(0)
    n = rng.normal(size=(200000, 3))
    n /= np.linalg.norm(n, axis=1)[:, None]
    r = 0.3
    mc = np.cos(7.25 * r * n[:, 0]).mean()
    assert self_intermediate_scattering(np.array([r]))[0] == pytest.approx(mc, abs=5e-3)


def test_propensity_mean_and_stderr_exact():
    rng = np.random.default_rng(2)
    disp = rng.uniform(0, 2, size=(5, 3, 7))  # R=5, n_t=3, N=7
    sums = make_sums(disp, np.array([0] * 5 + [1] * 2), np.array([1.0, 2.0, 3.0]))
    idx = np.array([0, 2])
    val, err = dyn.propensity(sums, idx, "displacement")
    np.testing.assert_allclose(val, disp[:, idx].mean(0))
    np.testing.assert_allclose(err, disp[:, idx].std(0, ddof=1) / math.sqrt(5))
    val2, err2 = dyn.propensity(sums, idx, "squared_displacement")
    np.testing.assert_allclose(val2, (disp[:, idx] ** 2).mean(0))
    np.testing.assert_allclose(err2, (disp[:, idx] ** 2).std(0, ddof=1) / math.sqrt(5))


def test_summary_tau_alpha_and_targets():
    # exponential relaxation F_s = exp(-t/τ) by construction through |Δr| solving sinc(q r) = e^{-t/τ}
    times = np.logspace(-2, 2, 81)
    tau = 3.0
    target = np.exp(-times / tau)
    grid = np.linspace(0, 0.43, 20001)  # sinc(q r/π) is monotonic on [0, π/q]
    f = np.sinc(7.25 * grid / np.pi)
    r_of_t = np.interp(target, f[::-1], grid[::-1])
    disp = np.tile(r_of_t[None, :, None], (2, 1, 10))
    types = np.array([0] * 8 + [1] * 2)
    summ = dyn.summarize(0.7, [make_sums(disp, types, times), make_sums(disp, types, times)])
    assert summ.tau_alpha == pytest.approx(tau, rel=1e-3)
    req, idx = dyn.target_times(summ, "fs", [0.9, 1 / math.e, 0.2])
    np.testing.assert_allclose(req, -tau * np.log([0.9, 1 / math.e, 0.2]), rtol=2e-3)
    assert np.all(np.abs(np.log(times[idx] / req)) <= np.log(10) / 40 + 1e-9)
    with pytest.raises(InputError, match="duration_tau_alpha"):
        dyn.target_times(summ, "fs", [1e-9])
    req2, _ = dyn.target_times(summ, "tau_alpha", [1.0, 2.0])
    np.testing.assert_allclose(req2, [tau, 2 * tau], rtol=1e-3)


def test_diffusion_constant():
    t = np.logspace(-1, 3, 50)
    assert dyn.diffusion_constant(t, 6 * 0.05 * t) == pytest.approx(0.05)
