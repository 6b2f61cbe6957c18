"""Which GPU a process uses, and how long a job may run (segments across resubmissions).

Pure Python (no NumPy, torch or engines): steps and the workflow both import it.

**GPU slots.** Several processes share the GPUs of one allocation (the replica workers of an
``isoconfigurational`` job, ``cluster.jobs_per_gpu`` per GPU). Each process claims a *slot*:
the lowest free index, held by an exclusive ``flock`` on ``slot<i>`` in a directory private to
the allocation (``$SLURM_JOB_ID``, else the user), released by the kernel when the process
ends, also when it is killed. Slot ``i`` runs on visible device ``i mod g`` where ``g`` is the
number of devices in ``CUDA_VISIBLE_DEVICES`` (what SLURM gives the job), so k·g processes
spread k per GPU. The index is local to the visible list, which is what HOOMD's ``gpu_ids``,
OpenMM's ``DeviceIndex`` and torch's ``cuda:i`` expect. ``EQUIGLASS_GPU_ID`` overrides.

**Time budget.** A job that would outlive its walltime stops at a checkpoint boundary instead:
:func:`check_budget` raises :class:`SegmentDone` when the time left is less than the next unit
of work needs (1.5 × the longest so far) plus a reserve; ``equiglass`` then exits with
:data:`SEGMENT_EXIT` (75) and the line "segment done, resubmit to continue", and the workflow's
retries resubmit the job, which resumes from its checkpoint. The deadline is the earliest of
``$EQUIGLASS_TIME_BUDGET_S`` seconds after the process started and the end of the SLURM
allocation (``squeue -o %L``, asked once); neither: no limit.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEGMENT_EXIT = 75  # EX_TEMPFAIL: "try again later"
_STARTED = time.monotonic()
_slot: tuple[int, int] | None = None  # (slot index, file descriptor holding its lock)
_deadline: float | bool | None = False  # False: not determined yet


class SegmentDone(Exception):
    """The job's time budget is spent; its checkpoint is saved and a resubmission continues."""


# --------------------------------------------------------------------------------- devices
def visible_devices() -> list[str]:
    """Entries of ``CUDA_VISIBLE_DEVICES`` (empty when unset or empty)."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    return [d.strip() for d in value.split(",") if d.strip() and d.strip() != "-1"]


def _slot_dir() -> Path:
    job = os.environ.get("SLURM_JOB_ID") or f"local-{os.getuid()}"
    return Path(os.environ.get("EQUIGLASS_SLOT_DIR") or tempfile.gettempdir()) / f"equiglass-gpu-slots-{job}"


def claim_slot(max_slots: int = 4096) -> int:
    """This process's slot in the allocation (claimed once, held until the process ends)."""
    global _slot
    if _slot is not None:
        return _slot[0]
    import fcntl

    folder = _slot_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(max_slots):
        fd = os.open(folder / f"slot{i}", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        _slot = (i, fd)
        return i
    raise RuntimeError(f"no free GPU slot in {folder} ({max_slots} taken)")


def gpu_index() -> int:
    """Index (into the visible devices) of the GPU this process uses: slot mod #visible."""
    if os.environ.get("EQUIGLASS_GPU_ID", "").strip():
        return int(os.environ["EQUIGLASS_GPU_ID"])
    n = len(visible_devices()) or 1
    index = claim_slot() % n
    return index


def describe_gpu(index: int) -> str:
    """``GPU 1 (CUDA_VISIBLE_DEVICES=2,3: physical 3), slot 3`` for logs."""
    vis = visible_devices()
    where = f" (CUDA_VISIBLE_DEVICES={','.join(vis)}: physical {vis[index]})" if index < len(vis) else ""
    slot = f", slot {_slot[0]}" if _slot is not None else ""
    return f"GPU {index}{where}{slot}"


def log_gpu(label: str, index: int) -> None:
    print(f"[{label}] using {describe_gpu(index)}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ time budget
def parse_slurm_time(text: str) -> float | None:
    """Seconds in SLURM's ``[D-]HH:MM:SS``, ``MM:SS`` or ``SS`` (None for UNLIMITED, INVALID)."""
    m = re.fullmatch(r"(?:(\d+)-)?(?:(\d+):)?(?:(\d+):)?(\d+)", text.strip())
    if not m:
        return None
    d, a, b, c = m.groups()
    parts = [int(x) for x in (a, b) if x is not None] + [int(c)]
    while len(parts) < 3:
        parts.insert(0, 0)
    h, mi, s = parts
    return int(d or 0) * 86400 + h * 3600 + mi * 60 + s


def _slurm_time_left() -> float | None:
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return None
    try:
        out = subprocess.run(["squeue", "-h", "-j", job, "-o", "%L"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_slurm_time(out.strip().splitlines()[0]) if out.strip() else None


def deadline() -> float | None:
    """``time.monotonic()`` value by which the job must be done, or None (no limit)."""
    global _deadline
    if _deadline is False:
        ends = []
        budget = os.environ.get("EQUIGLASS_TIME_BUDGET_S", "").strip()
        if budget:
            ends.append(_STARTED + float(budget))
        left = _slurm_time_left()
        if left is not None:
            ends.append(time.monotonic() + left)
        _deadline = min(ends) if ends else None
    return _deadline  # type: ignore[return-value]


def reserve_s() -> float:
    """Seconds kept free before the deadline to write outputs and let Snakemake finish."""
    return float(os.environ.get("EQUIGLASS_TIME_RESERVE_S", "") or 20.0)


def time_left() -> float | None:
    """Seconds until the deadline (None: no limit)."""
    end = deadline()
    return None if end is None else end - time.monotonic()


def budget_allows(unit_seconds: float) -> bool:
    """Whether one more unit of work (``unit_seconds``, the longest so far) fits before the deadline."""
    left = time_left()
    return left is None or left >= 1.5 * unit_seconds + reserve_s()


def check_budget(unit_seconds: float, label: str, what: str) -> None:
    """Raise :class:`SegmentDone` when the next unit of work (``unit_seconds``, the longest so
    far) would not fit before the deadline; call right after a checkpoint is saved."""
    if not budget_allows(unit_seconds):
        raise SegmentDone(f"[{label}] time budget: {time_left():.0f} s left, next {what} needs "
                          f"~{unit_seconds:.0f} s; checkpoint saved")


def reset_for_tests() -> None:
    """Forget the cached deadline and slot (tests)."""
    global _deadline, _slot, _STARTED
    if _slot is not None:
        os.close(_slot[1])
    _deadline, _slot, _STARTED = False, None, time.monotonic()


__all__ = ["SEGMENT_EXIT", "SegmentDone", "budget_allows", "check_budget", "claim_slot", "deadline", "describe_gpu", "gpu_index",
           "log_gpu", "parse_slurm_time", "time_left", "visible_devices"]
