"""Helpers shared by the benchmarks: liquids to time on, repeated timing, machine facts."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from functools import lru_cache

os.environ.setdefault("OMP_NUM_THREADS", "1")


def median_time(fn: Callable[[], object], repeats: int = 3) -> float:
    """Median wall time [s] of ``fn()`` over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@lru_cache(maxsize=4)
def liquid(n: int, temperature: float = 0.8):
    """A KA liquid of N particles (lattice → FIRE → 5 τ at T = 2 → 5 τ at T), LAMMPS."""
    from equiglass.md import MDSettings, equilibration_phases, initial_state, run_phases

    state = initial_state(n, 1.2, seed=7)
    final, _ = run_phases(state, equilibration_phases(temperature, 5.0, melt_time=5.0, log_every=1.0),
                          MDSettings(segment_time=100.0), seed=3, label=f"liquid N={n}", minimize_first=True)
    return final


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from equiglass.provenance import package_versions

    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "load_average_1min": os.getloadavg()[0], "versions": package_versions()}
