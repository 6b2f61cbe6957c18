"""Safe file writing: every output goes to a temporary name and is renamed on success.

A reader therefore never sees a half-written result, even after SIGKILL. The temporary file
has a fixed name (``.<name>.partial`` next to ``<name>``), so the next attempt to write the same
output replaces what a killed writer left behind. A write that fails (disk full, quota,
permissions) raises :class:`WriteError` naming the file, the free space and the fix, and leaves
neither the temporary nor a partial final file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


class InputError(Exception):
    """A problem with an input file or setting that the user can fix; the message says how."""


class WriteError(InputError):
    """An output could not be written (disk full, quota, permissions); the message says what to do."""


def partial_path(path: str | os.PathLike[str]) -> Path:
    """The temporary name an output is written under before it is renamed: ``.<name>.partial``."""
    final = Path(path)
    return final.with_name(f".{final.name}.partial")


def free_space(path: str | os.PathLike[str]) -> str:
    """Free space of the file system holding ``path`` (or its nearest existing parent), e.g. '1.2 GB'."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        free = shutil.disk_usage(p).free
    except OSError:
        return "unknown"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if free < 1000 or unit == "TB":
            return f"{free:.1f} {unit}" if unit != "B" else f"{free} B"
        free /= 1000
    return "unknown"


def write_error(path: str | os.PathLike[str], err: OSError) -> WriteError:
    """A :class:`WriteError` for ``err`` raised while writing ``path``, with the fix."""
    reason = err.strerror or str(err)
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = ("free disk space (or quota), or move results/ to a larger disk, then rerun; "
               "nothing was half-written")
    elif err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "make the folder writable (or run from a writable copy of the project), then rerun"
    else:
        fix = "check the disk and the folder, then rerun; nothing was half-written"
    return WriteError(f"{path}: could not write ({reason}; {free_space(path)} free there): {fix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` if the block succeeds.

    OS errors of the block or the rename (disk full ...) become :class:`WriteError`.
    """
    final = Path(path)
    tmp = partial_path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp.unlink(missing_ok=True)  # left by a killed writer
        yield tmp
        if not tmp.exists():
            raise RuntimeError(f"nothing was written to temporary file {tmp}")
        os.replace(tmp, final)
    except OSError as err:
        raise write_error(final, err) from err
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write strict JSON atomically (sorted keys; numpy values converted; NaN/Inf → null)."""
    text = json.dumps(_finite(data), indent=2, sort_keys=True, default=json_default, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


def _finite(obj: Any) -> Any:
    """Replace non-finite floats by None, recursively (JSON has no NaN)."""
    if isinstance(obj, float | np.floating):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    return obj


def float_array(values: Any) -> np.ndarray:
    """A JSON list (null for NaN) as a float array."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def write_csv(path: str | os.PathLike[str], rows: list[dict[str, Any]]) -> None:
    """Write dict rows (same keys) as CSV atomically; an empty list gives an empty file."""
    import csv
    import io

    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue())


def read_json(path: str | os.PathLike[str]) -> Any:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: file not found; check the path, or rerun the step that makes it")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"{p}: not valid JSON ({err}); delete it and rebuild it (`snakemake <that file>`)") from err


def json_default(obj: Any) -> Any:
    """JSON form of NumPy scalars and arrays and of paths (``json.dumps(default=...)``)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj)}")


def save_npz(path: str | os.PathLike[str], **arrays: Any) -> None:
    """Write an .npz atomically. Dict/str metadata can be passed as a JSON string value."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def load_npz(path: str | os.PathLike[str], required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Load an .npz fully into memory; raise InputError naming the file if broken or incomplete."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: file not found; check the path, or rerun the step that makes it")
    try:
        with np.load(p, allow_pickle=False) as data:
            out = {k: data[k] for k in data.files}
    except Exception as err:  # zipfile.BadZipFile, ValueError, EOFError, OSError ...
        raise InputError(
            f"{p}: cannot read array file ({type(err).__name__}: {err}); it is truncated or "
            "corrupt: delete it and rebuild it (`snakemake <that file>`)"
        ) from err
    missing = [k for k in required if k not in out]
    if missing:
        raise InputError(f"{p}: missing arrays {missing}; found {sorted(out)}; it was written by another "
                         "version or step: delete it and rebuild it (`snakemake <that file>`)")
    return out


def metadata_from_npz(data: dict[str, np.ndarray]) -> dict[str, Any]:
    """Decode the JSON string stored under the key ``metadata`` (empty dict if absent)."""
    if "metadata" not in data:
        return {}
    return json.loads(str(data["metadata"]))
