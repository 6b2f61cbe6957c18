"""What produced a result file: the provenance recorded with it (``equiglass provenance FILE``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .artifact import load_artifact
from .files import InputError, load_npz, read_json


def read_provenance(path: str | Path) -> dict[str, Any]:
    """The provenance recorded with a result file (.json, .npz metadata, .gsd sidecar, model .pt)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: file not found; check the path")
    if p.suffix == ".json":
        data = read_json(p)
        return data.get("provenance", data)
    if p.suffix == ".npz":
        data = load_npz(p)
        if "metadata" not in data:
            raise InputError(f"{p}: carries no metadata; pass the result file or its .json sidecar")
        meta = json.loads(str(data["metadata"]))
        return meta.get("provenance", meta)
    if p.suffix == ".pt":
        art = load_artifact(p)
        return {"family": art["family"], "versions": art["versions"], "content_hash": art["content_hash"],
                "training": art["info"].get("training", {}), "temperatures": art["info"].get("temperatures")}
    side = p.with_suffix(".json")
    if side.exists():
        return read_provenance(side)
    raise InputError(f"{p}: no provenance found (expected a sidecar {side.name}); pass a file the "
                     "pipeline wrote")
