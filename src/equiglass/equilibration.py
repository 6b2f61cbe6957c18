"""Equilibration protocol of the Kob–Andersen liquid: melt, quench, NVT at T, checked for ageing.

:func:`equilibrate` runs the NVT phases (checkpointed, see :func:`equiglass.md.run_phases`),
retries once with dt/2 after a blow-up (``md.retry_smaller_dt``), compares U/N between the two
halves of the run (:func:`ageing_check`) and extends a drifting run up to ``max_extensions``
times before refusing it. Energies are per particle [ε_AA] of the shifted potential; times in τ.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .md import MDBlowUp, MDSettings, Phase, ThermoLog, run_phases
from .provenance import derive_seed
from .state import State


def block_mean_error(x: np.ndarray, n_blocks: int = 5) -> tuple[float, float]:
    """Mean and standard error of a correlated series from ``n_blocks`` block averages."""
    x = np.asarray(x, dtype=float)
    if len(x) < n_blocks:
        return float(np.mean(x)), float("nan")
    blocks = np.array([b.mean() for b in np.array_split(x, n_blocks)])
    return float(blocks.mean()), float(blocks.std(ddof=1) / math.sqrt(n_blocks))


def ageing_check(u: np.ndarray, tolerance_sigma: float = 3.0, tolerance_abs: float = 0.003) -> dict[str, Any]:
    """Compare U/N of the two halves of a run (block errors).

    ``passed`` unless the halves differ by more than ``tolerance_sigma`` standard errors *and*
    more than ``tolerance_abs`` [ε_AA per particle]: a systematic drift (ageing), not noise.
    """
    half = len(u) // 2
    m1, e1 = block_mean_error(u[:half])
    m2, e2 = block_mean_error(u[half:])
    err = math.hypot(e1, e2) if math.isfinite(e1) and math.isfinite(e2) else float("nan")
    z = abs(m2 - m1) / err if err and math.isfinite(err) and err > 0 else float("nan")
    drifting = math.isfinite(z) and z > tolerance_sigma and abs(m2 - m1) > tolerance_abs
    return {"first_half_U": m1, "second_half_U": m2, "difference": m2 - m1, "sigma": err, "z": z,
            "passed": not drifting}


@dataclass
class Equilibrated:
    """Result of :func:`equilibrate`: final state (with velocities), thermo log of every phase,
    the last phase (the averages are taken over it), extensions, ageing check, the dt/2 retry
    (or None) and the MD settings that ran."""

    state: State
    log: ThermoLog
    phase: str
    md: MDSettings
    ageing: dict[str, Any]
    extensions: list[dict[str, Any]] = field(default_factory=list)
    retried: dict[str, Any] | None = None
    checkpoints: list[Path] = field(default_factory=list)

    def remove_checkpoints(self) -> None:
        """Delete the run's checkpoints (call once its outputs are written)."""
        for path in self.checkpoints:
            path.unlink(missing_ok=True)


def equilibrate(state: State, phases: list[Phase], md: MDSettings, seed: int, label: str,
                checkpoint: str | Path, minimize_first: bool = False, max_extensions: int = 2) -> Equilibrated:
    """Run ``phases`` from ``state``; the last phase is checked for ageing and extended if needed.

    Checkpoints: ``checkpoint`` (the run), ``<stem>.retry.npz`` (after a blow-up),
    ``<stem>.extensionK.npz``; remove them with
    :meth:`Equilibrated.remove_checkpoints` once the outputs are written.
    """
    ckpt = Path(checkpoint)
    retry_ckpt = ckpt.with_name(ckpt.stem + ".retry.npz")
    retried = None
    try:
        final, log = run_phases(state, phases, md, seed, label, checkpoint=ckpt, minimize_first=minimize_first)
    except MDBlowUp as err:
        if not md.retry_smaller_dt:
            raise
        retried = {"error": str(err), "dt": md.dt, "new_dt": md.dt / 2}
        print(f"[{label}] {err}\n[{label}] retrying the run with dt = {md.dt / 2} (md.retry_smaller_dt)",
              file=sys.stderr, flush=True)
        md = replace(md, dt=md.dt / 2, retry_smaller_dt=False)
        final, log = run_phases(state, phases, md, seed, label, checkpoint=retry_ckpt, minimize_first=minimize_first)
    last = phases[-1]
    phase = last.name
    ageing = ageing_check(log.phase_array(phase, "potential_energy"))
    extensions: list[dict[str, Any]] = []
    ext_checkpoints: list[Path] = []
    # a drifting run is extended (never silently kept); it fails after max_extensions tries
    while not ageing["passed"]:
        if len(extensions) >= max_extensions:
            raise RuntimeError(
                f"{label}: U/N still drifts after {len(extensions)} extensions (halves "
                f"{ageing['first_half_U']:.4f} vs {ageing['second_half_U']:.4f}, z = {ageing['z']:.1f}): the "
                "configuration is not equilibrated; raise equilibration.duration_tau_alpha or set "
                "equilibration.tau_alpha for this temperature"
            )
        print(f"[{label}] U/N drifts (z = {ageing['z']:.1f}); extending by {last.duration:.4g} tau",
              file=sys.stderr, flush=True)
        phase = f"extension{len(extensions) + 1}"
        ext_ckpt = ckpt.with_name(ckpt.stem + f".{phase}.npz")
        final, ext_log = run_phases(final, [Phase(phase, last.temperature, last.duration, last.log_every)], md,
                                    derive_seed(seed, phase), label, checkpoint=ext_ckpt)
        log.rows.extend(ext_log.rows)
        extensions.append({"phase": phase, "duration": last.duration, "ageing_before": ageing})
        ext_checkpoints.append(ext_ckpt)  # kept until the outputs are written: a resubmitted job resumes
        ageing = ageing_check(log.phase_array(phase, "potential_energy"))
    return Equilibrated(final, log, phase, md, ageing, extensions, retried, [ckpt, retry_ckpt, *ext_checkpoints])


def phase_averages(result: Equilibrated) -> dict[str, tuple[float, float]]:
    """U/N, P and T (mean, block error) over the second half of the last phase."""
    out = {}
    for key, name in (("potential_energy", "potential_energy_per_particle"), ("pressure", "pressure"),
                      ("temperature", "temperature_measured")):
        x = result.log.phase_array(result.phase, key)
        out[name] = block_mean_error(x[len(x) // 2:])
    return out


__all__ = ["Equilibrated", "ageing_check", "block_mean_error", "equilibrate", "phase_averages"]
