"""Checkpoints that cannot lie: every checkpoint carries the fingerprint of what produced it.

A long step (segmented MD, iso-configurational replicas, training, experiments) saves its
progress in a checkpoint file. Resuming is only correct when the step would redo the same work:
same settings, same seeds, same input data. So a checkpoint records a *fingerprint*, a dict of
named SHA-256 digests (``{"settings": ..., "start configuration": ..., "training data": ...}``),
and a resume compares it with the fingerprint of the current call:

* equal: the checkpoint is resumed;
* different: it is discarded (deleted) and the step starts over, with one log line naming the
  parts that changed (``discarding checkpoint X: made from other settings, training data``).

Digests are taken over the data the step actually uses (arrays after loading, settings as
canonical JSON), so a recomputed but bit-identical upstream file keeps its checkpoints valid,
and anything that changes the result invalidates them.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .files import json_default

Fingerprint = dict[str, str]


def _update(h: Any, obj: Any) -> None:
    """Feed ``obj`` into hash ``h`` unambiguously (type tags, shapes and dtypes of arrays)."""
    if isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj)
        h.update(f"nd:{arr.dtype.str}:{arr.shape}:".encode())
        h.update(arr.tobytes())
    elif isinstance(obj, bytes):
        h.update(b"b:%d:" % len(obj))
        h.update(obj)
    elif isinstance(obj, list | tuple) and any(isinstance(x, np.ndarray) for x in obj):
        h.update(f"seq:{len(obj)}:".encode())
        for x in obj:
            _update(h, x)
    else:
        text = json.dumps(obj, sort_keys=True, default=_json_default)
        h.update(b"j:")
        h.update(text.encode())


def _json_default(obj: Any) -> Any:
    """files.json_default, plus dataclasses and, for anything else, its repr (a digest needs no round trip)."""
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(obj)
    try:
        return json_default(obj)
    except TypeError:
        return repr(obj)


def digest(*parts: Any) -> str:
    """SHA-256 hex digest of settings (JSON-able values), arrays and bytes, in order."""
    h = hashlib.sha256()
    for p in parts:
        _update(h, p)
    return h.hexdigest()


def fingerprint(**parts: Any) -> Fingerprint:
    """A fingerprint: one digest per named part (``settings=..., training_data=[arrays]``).

    Part names are shown to the user when a checkpoint is discarded (``_`` reads as a space).
    """
    return {name.replace("_", " "): digest(value) for name, value in parts.items()}


def changed_parts(stored: Mapping[str, str] | None, current: Mapping[str, str]) -> list[str]:
    """Names of the parts whose digests differ (all of them if nothing was stored)."""
    if not isinstance(stored, Mapping):
        return sorted(current) or ["fingerprint"]
    keys = set(stored) | set(current)
    return sorted(k for k in keys if stored.get(k) != current.get(k))


def accept(path: str | Path, stored: Mapping[str, str] | None, current: Fingerprint, label: str) -> bool:
    """True when a checkpoint with fingerprint ``stored`` may be resumed for ``current``.

    Otherwise the checkpoint file is deleted and a line saying why goes to stderr (the rule's log).
    """
    changed = changed_parts(stored, current)
    if not changed:
        return True
    discard(path, f"made from other {', '.join(changed)}", label)
    return False


def discard(path: str | Path, why: str, label: str) -> None:
    """Delete a checkpoint that must not be resumed, saying why on stderr."""
    p = Path(path)
    print(f"[{label}] discarding checkpoint {p}: {why}; starting over", file=sys.stderr, flush=True)
    p.unlink(missing_ok=True)


__all__ = ["Fingerprint", "accept", "changed_parts", "digest", "discard", "fingerprint"]
