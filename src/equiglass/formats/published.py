"""Readers of published 3D Kob–Andersen propensity datasets into the pipeline's own format.

- **Bapst et al. (2020)**, DeepMind ``glassy_dynamics``: one pickle per configuration, a dict
  with ``positions`` [N, 3] in [0, L), ``types`` [N] (0 = A), ``box`` [3], ``time`` (saved
  grid), ``time_indices`` [10] into it, ``is_values`` [10] (F_s levels 0.9 … 0.1, 1/e),
  ``targets`` [10][N] (mean |Δr| over trajectories; optional), ``trajectory_target_positions``
  [n_times][n_traj][N, 3] (absolute unwrapped positions; optional), ``metadata`` with
  ``temperature``. When ``targets`` is absent it is computed from the trajectories.
- **GlassBench** (Jung et al., Roadmap on ML glassy dynamics): ``T0.44/train/*.npz`` … with
  ``types``, ``initial_positions``, ``initial_positions_inherent``, ``initial_positions_cage``
  [N, 3], ``md_prop`` (propensities, one column per time; orientation detected from N) and
  ``bb_prop``; N = 4096, ρ = 1.2 exactly (box L = (N/1.2)^(1/3)); times per temperature are
  not stored in the files (known grids below, else from ``data.times`` in the config).

Each reader returns an :class:`ImportedSample`; :func:`write_imported` writes the configuration
(GSD) and propensities (.npz) that the ``graphs``/``train`` rules read. Box and density are read
from the data, never assumed (Bapst's files are at constant pressure, ρ ≈ 1.203).
"""

from __future__ import annotations

import json
import math
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..files import InputError, load_npz, save_npz
from ..state import State, wrap_positions
from .gsd_files import write_gsd

# the fix for a published file that does not read as its dataset documents
ORIGINAL = "use an unmodified file of the published dataset (download it again if it was cut short)"
BAPST_KEYS = ("positions", "types", "box", "time", "time_indices", "is_values", "metadata")
GLASSBENCH_KEYS = ("types", "initial_positions", "md_prop")
GLASSBENCH_TIMES = {
    "0.44": [0.13, 1.3, 13.0, 130.0, 412.0, 1300.0, 4120.0, 13000.0, 41200.0, 130000.0],
}
GLASSBENCH_POSITIONS = {"thermal": "initial_positions", "inherent": "initial_positions_inherent",
                        "cage": "initial_positions_cage"}


@dataclass
class ImportedSample:
    """A configuration with its propensities from a published dataset.

    state : configuration (positions wrapped into [-L/2, L/2)); propensity : (n_t, N) or None;
    times : (n_t,) [τ] (NaN where unknown); labels : timescale names; temperature;
    tau_alpha : τ_α [τ] if the dataset defines it (else NaN); source : file; extra : other
    position sets (e.g. inherent, cage) as (N, 3) arrays; replica : stderr (n_t, N), halves
    (2, n_t, N), half_replicas (2,) and n_replicas from per-trajectory data (NaN at times
    without it; empty when the dataset keeps replica means only): the noise ceiling's input.
    """

    state: State
    propensity: np.ndarray | None
    times: np.ndarray
    labels: list[str]
    temperature: float
    tau_alpha: float
    source: str
    kind: str = "displacement"
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    replica: dict[str, Any] = field(default_factory=dict)


def _check_shape(arr: np.ndarray, shape: tuple, name: str, path: Path) -> None:
    if arr.shape != shape:
        raise InputError(f"{path}: '{name}' has shape {arr.shape}, expected {shape}; {ORIGINAL}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise InputError(f"{path}: '{name}' contains NaN or Inf; {ORIGINAL}")


def read_bapst(path: str | Path) -> ImportedSample:
    """Read one Bapst et al. pickle (either the full layout or the small test layout)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: file not found; check data.path")
    try:
        with open(p, "rb") as fh:
            d = pickle.load(fh)
    except Exception as err:
        raise InputError(f"{p}: cannot unpickle ({type(err).__name__}: {err}); truncated or not a Bapst file; {ORIGINAL}") from err
    if not isinstance(d, dict):
        raise InputError(f"{p}: expected a dict (Bapst et al. layout), got {type(d).__name__}; {ORIGINAL}")
    missing = [k for k in BAPST_KEYS if k not in d]
    if missing:
        raise InputError(f"{p}: not the Bapst et al. layout, missing keys {missing} (found {sorted(d)}); {ORIGINAL}")
    pos = np.asarray(d["positions"], dtype=np.float64)
    n = len(pos)
    types = np.asarray(d["types"]).astype(np.int32)
    box = np.asarray(d["box"], dtype=np.float64).reshape(-1)
    _check_shape(pos, (n, 3), "positions", p)
    _check_shape(types, (n,), "types", p)
    _check_shape(box, (3,), "box", p)
    time = np.asarray(d["time"], dtype=np.float64)
    idx = np.asarray(d["time_indices"], dtype=int)
    if idx.min() < 0 or idx.max() >= len(time):
        raise InputError(f"{p}: time_indices {idx.tolist()} out of range of 'time' ({len(time)} values); {ORIGINAL}")
    is_values = np.asarray(d["is_values"], dtype=np.float64)
    times = time[idx]
    replica = _bapst_replica_statistics(d, pos, len(idx), p)
    if "targets" in d:
        prop = np.asarray(d["targets"], dtype=np.float64)
        _check_shape(prop, (len(idx), n), "targets", p)
    elif "trajectory_target_positions" in d:
        traj = d["trajectory_target_positions"]
        if len(traj) != len(idx):
            raise InputError(f"{p}: trajectory_target_positions has {len(traj)} times, expected {len(idx)}; {ORIGINAL}")
        prop = replica["propensity"]
    else:
        raise InputError(f"{p}: neither 'targets' nor 'trajectory_target_positions' present: no propensities; {ORIGINAL}")
    k_tau = [k for k, v in enumerate(is_values) if abs(v - 1 / math.e) < 1e-3]
    meta = d["metadata"] if isinstance(d["metadata"], dict) else {}
    if "temperature" not in meta:
        raise InputError(f"{p}: metadata has no 'temperature'; add metadata['temperature'] to the pickle")
    state = State(wrap_positions(pos, box), types, box)
    state.check(str(p))
    return ImportedSample(
        state=state, propensity=prop, times=times,
        labels=[f"Fs={v:.3g}" for v in is_values], temperature=float(meta["temperature"]),
        tau_alpha=float(times[k_tau[0]]) if k_tau else float("nan"), source=str(p),
        replica={k: v for k, v in replica.items() if k != "propensity"},
    )


def _bapst_replica_statistics(d: dict, pos: np.ndarray, n_times: int, p: Path) -> dict[str, Any]:
    """Per-particle mean, standard error and half-means of |Δr| over the trajectories of
    ``trajectory_target_positions`` ([n][n_traj][N, 3], n ≤ n_times: the first n target times,
    as in the dataset's test file, which keeps the first time only); NaN at the other times."""
    from ..ceiling import replica_statistics

    traj = d.get("trajectory_target_positions")
    if traj is None or len(traj) == 0:
        return {}
    if len(traj) > n_times:
        raise InputError(f"{p}: trajectory_target_positions has {len(traj)} times, more than the {n_times} "
                         f"time_indices; {ORIGINAL}")
    disp = np.stack([np.linalg.norm(np.asarray(x, dtype=np.float64) - pos[None], axis=-1) for x in traj], 1)
    stats = replica_statistics(disp)  # disp: (n_traj, n, N)
    n = disp.shape[2]
    out: dict[str, Any] = {"half_replicas": stats["half_replicas"], "n_replicas": disp.shape[0],
                           "propensity": np.full((n_times, n), np.nan), "stderr": np.full((n_times, n), np.nan),
                           "halves": np.full((2, n_times, n), np.nan)}
    out["propensity"][: len(traj)] = stats["propensity"]
    out["stderr"][: len(traj)] = stats["stderr"]
    out["halves"][:, : len(traj)] = stats["halves"]
    return out


def glassbench_temperature(path: Path) -> str:
    """Temperature key from a GlassBench path (folder ``T0.44`` or file ``N4096T0.44_1.npz``)."""
    for part in [path.name, *[q.name for q in path.parents]]:
        m = re.search(r"T(\d+\.\d+)", part)
        if m:
            return f"{float(m.group(1)):.2f}"
    raise InputError(f"{path}: cannot tell the temperature (expected a T0.xx folder or file name); "
                     "put the files in T0.xx folders as GlassBench does")


def read_glassbench(path: str | Path, positions: str = "thermal",
                    times: dict[str, list[float]] | None = None) -> ImportedSample:
    """Read one GlassBench .npz; ``positions`` picks thermal, inherent or cage positions."""
    p = Path(path)
    data = load_npz(p)
    missing = [k for k in GLASSBENCH_KEYS if k not in data]
    if missing:
        raise InputError(f"{p}: not the GlassBench layout, missing {missing} (found {sorted(data)}); {ORIGINAL}")
    if positions not in GLASSBENCH_POSITIONS or GLASSBENCH_POSITIONS[positions] not in data:
        raise InputError(f"{p}: no '{GLASSBENCH_POSITIONS.get(positions, positions)}' positions "
                         f"(data.positions = {positions!r}; file has {sorted(data)}): choose another inputs.positions")
    types = np.asarray(data["types"]).astype(np.int32).reshape(-1)
    n = len(types)
    pos = np.asarray(data[GLASSBENCH_POSITIONS[positions]], dtype=np.float64)
    _check_shape(pos, (n, 3), GLASSBENCH_POSITIONS[positions], p)
    prop = np.asarray(data["md_prop"], dtype=np.float64)
    if prop.ndim == 1 and prop.shape[0] == n:
        prop = prop[None, :]
    elif prop.ndim == 2 and prop.shape[0] == n and prop.shape[1] != n:
        prop = prop.T  # stored [N, n_times]
    elif not (prop.ndim == 2 and prop.shape[1] == n):
        raise InputError(f"{p}: md_prop has shape {prop.shape}; expected [N={n}, n_times] or [n_times, N]; {ORIGINAL}")
    if not np.all(np.isfinite(prop)):
        raise InputError(f"{p}: md_prop contains NaN or Inf; {ORIGINAL}")
    box = np.full(3, (n / 1.2) ** (1.0 / 3.0))
    lo, hi = pos.min(), pos.max()
    if hi - lo > box[0] * 1.01:
        raise InputError(f"{p}: positions span {hi - lo:.3f}, more than the box edge {box[0]:.3f} of N={n} at density 1.2; "
                         f"{ORIGINAL}")
    tkey = glassbench_temperature(p)
    grid = (times or {}).get(tkey, GLASSBENCH_TIMES.get(tkey))
    if grid is not None and len(grid) != len(prop):
        raise InputError(f"{p}: {len(prop)} propensity columns but {len(grid)} times for T={tkey}; set data.times "
                         "for this temperature")
    t = np.asarray(grid, dtype=float) if grid is not None else np.full(len(prop), np.nan)
    extra = {k: np.asarray(data[v], dtype=np.float64) for k, v in GLASSBENCH_POSITIONS.items() if v in data}
    state = State(wrap_positions(pos, box), types, box)
    state.check(str(p))
    labels = [f"t={x:g}" if math.isfinite(x) else f"t{k}" for k, x in enumerate(t)]
    return ImportedSample(state=state, propensity=prop, times=t, labels=labels, temperature=float(tkey),
                          tau_alpha=float("nan"), source=str(p), extra=extra)


def scan_dataset(source: str, path: str | Path) -> dict[str, dict[str, list[str]]]:
    """Files of a dataset by temperature key and part: {T: {"train": [...], "test": [...]}}.

    GlassBench: ``train/`` and ``test/`` folders define the parts. Bapst: every pickle is
    ``train`` (the split rule then holds configurations out); temperature from metadata.
    """
    root = Path(path)
    if not root.exists():
        raise InputError(f"data.path {root} does not exist (data.source = {source})")
    out: dict[str, dict[str, list[str]]] = {}
    if source == "glassbench":
        files = sorted(root.rglob("*.npz"), key=lambda f: (str(f.parent), _natural(f.name)))
        for f in files:
            part = "test" if "test" in f.parent.name else "train"
            out.setdefault(glassbench_temperature(f), {"train": [], "test": []})[part].append(str(f))
    elif source == "bapst":
        for f in sorted(root.rglob("*.pickle")) + sorted(root.rglob("*.pkl")):
            with open(f, "rb") as fh:
                try:
                    temp = float(pickle.load(fh)["metadata"]["temperature"])
                except Exception as err:
                    raise InputError(f"{f}: not a Bapst et al. pickle ({err}); remove it from data.path") from err
            out.setdefault(f"{temp:.2f}", {"train": [], "test": []})["train"].append(str(f))
    else:
        raise InputError(f"data.source must be simulate, bapst or glassbench, got {source!r}")
    if not out:
        raise InputError(f"no {source} files found under {root}")
    return out


def _natural(name: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


def write_imported(sample: ImportedSample, config_gsd: str | Path, propensity_npz: str | Path,
                   meta: dict[str, Any] | None = None) -> None:
    """Write an imported sample in the pipeline's formats (configuration GSD + propensity .npz)."""
    st = sample.state
    st.log = {"equiglass/temperature": np.array([sample.temperature])}
    write_gsd(config_gsd, st)
    if sample.propensity is None:
        raise InputError(f"{sample.source}: no propensities to write")
    m = {
        "temperature": sample.temperature, "kind": sample.kind, "timescale_labels": sample.labels,
        "tau_alpha": sample.tau_alpha, "times_tau_alpha": (sample.times / sample.tau_alpha).tolist(),
        "units": {"time": "tau", "propensity": "sigma_AA"}, "source_configuration": sample.source,
        **(meta or {}),
    }
    rep = sample.replica  # per-trajectory statistics where the dataset keeps trajectories (noise ceiling)
    split = {"halves": rep["halves"], "half_replicas": rep["half_replicas"]} if "halves" in rep else {}
    if rep:
        m["n_replicas"] = int(rep["n_replicas"])
    save_npz(propensity_npz, propensity=sample.propensity,
             stderr=rep.get("stderr", np.full_like(sample.propensity, np.nan)),
             times=sample.times, types=st.types, temperature=np.float64(sample.temperature),
             metadata=json.dumps(m, default=str), **split)
