"""Readers of published 3D Kob–Andersen propensity datasets into the pipeline's own format.

- **Bapst et al. (2020)**, DeepMind ``glassy_dynamics``: one pickle per configuration, a dict
  with ``positions`` [N, 3] in [0, L), ``types`` [N] (0 = A), ``box`` [3], ``time`` (saved
  grid), ``time_indices`` [10] into it, ``is_values`` [10] (F_s levels 0.9 … 0.1, 1/e),
  ``targets`` [10][N] (mean |Δr| over trajectories; optional), ``trajectory_target_positions``
  [n_times][n_traj][N, 3] (absolute unwrapped positions; optional), ``metadata`` with
  ``temperature``. When ``targets`` is absent it is computed from the trajectories.
- **GlassBench** (Jung et al., Roadmap on machine learning glassy dynamics, arXiv:2311.14752;
  Zenodo 10118191): ``T0.44/train/N4096T0.44_<i>.npz`` (i = 1–400) and ``T0.44/test/`` (401–500),
  the names the EIGNN repository's loader opens (github.com/xjiang-hnu/EIGNN, notebook
  ``Training and Test with EIGNN_Cage.ipynb``), with ``types`` [N] (1 = A, 2 = B: that loader
  one-hot encodes ``types - 1`` and counts 3277 A of 4096; 0/1 files are read as 0 = A too),
  ``initial_positions``, ``initial_positions_inherent``, ``initial_positions_cage`` [N, 3]
  (cage states exist for configurations 1–100 and 401–500 only, per a public inventory of the
  archive), ``md_prop`` [n_times, N] (GlassBench's own figure scripts load it into an
  (NT, N) array; the EIGNN loader transposes it to [N, n_times]; the orientation is still
  detected from N) and ``bb_prop`` (bond-breaking propensities, same shape). Test files also
  hold other models' predictions (``BOTAN``, ``CAGE``, ``GlassMLP``, ``SE3``) and descriptors
  (``SBO``, ``SBO_CG``, ``DEN``, ``EPOT``, ``PSI6``): :func:`read_glassbench_predictions`.
  N = 4096, ρ = 1.2 exactly (box L = (N/1.2)^(1/3)); times per temperature are not stored in
  the files (the grids below, as the EIGNN repository's ``results/pcc_mean_0XX.csv`` list them;
  else ``data.times``); the time at τ_α (F_s = 1/e, read off the grids) is labelled ``1tau_a``.

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
# the md_prop times [τ] per temperature: column "t" of results/pcc_mean_0XX.csv in
# github.com/xjiang-hnu/EIGNN (GlassBench's test-set scores, one row per md_prop column)
GLASSBENCH_TIMES = {
    "0.44": [0.13, 1.3, 13.0, 130.0, 412.0, 1300.0, 4120.0, 13000.0, 41200.0, 130000.0],
    "0.50": [0.108, 0.434, 2.17, 6.86, 21.7, 68.6, 217.0, 686.0, 2170.0, 6860.0],
    "0.56": [0.104, 0.33, 0.99, 1.65, 5.2, 16.5, 52.0, 165.0, 520.0, 1650.0],
    "0.64": [0.032, 0.1, 0.165, 0.52, 1.65, 5.2, 16.5, 52.0, 165.0, 520.0],
}
# models' predictions deposited in GlassBench's test files (keys as a public inventory of the
# archive lists them; the EIGNN repository's results/pcc_all_044.csv scores the same names)
GLASSBENCH_PREDICTIONS = ("BOTAN", "CAGE", "GlassMLP", "SE3")
GLASSBENCH_DESCRIPTORS = ("SBO", "SBO_CG", "DEN", "EPOT", "PSI6")
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


def glassbench_types(raw: np.ndarray, path: Path) -> np.ndarray:
    """GlassBench ``types`` as 0 = A, 1 = B: the files store 1/2 (the EIGNN loader one-hot encodes
    ``types - 1``); files written 0/1 are taken as they are."""
    types = np.asarray(raw).astype(np.int32).reshape(-1)
    if types.size and types.min() >= 1:
        types = types - 1
    if types.size and (types.min() < 0 or types.max() > 1):
        raise InputError(f"{path}: 'types' holds {np.unique(types).tolist()}, expected two species (1 = A, 2 = B); "
                         f"{ORIGINAL}")
    return types


def per_time_array(arr: np.ndarray, n: int, name: str, path: Path, n_times: int | None = None) -> np.ndarray:
    """A per-particle field as (n_times, N): stored [n_times, N] or [N, n_times] (told apart by N),
    or [N] (one value per particle, the same at every time: a static descriptor)."""
    a = np.asarray(arr, dtype=np.float64)
    if a.ndim == 1 and a.shape[0] == n:
        a = a[None, :] if n_times is None else np.broadcast_to(a, (n_times, n))
    elif a.ndim == 2 and a.shape[0] == n and a.shape[1] != n:
        a = a.T  # stored [N, n_times]
    elif not (a.ndim == 2 and a.shape[1] == n):
        raise InputError(f"{path}: '{name}' has shape {a.shape}; expected [n_times, N={n}], [N, n_times] or [N]; "
                         f"{ORIGINAL}")
    if n_times is not None and a.shape[0] != n_times:
        raise InputError(f"{path}: '{name}' has {a.shape[0]} times, md_prop {n_times}; {ORIGINAL}")
    if not np.all(np.isfinite(a)):
        raise InputError(f"{path}: '{name}' contains NaN or Inf; {ORIGINAL}")
    return np.ascontiguousarray(a)


def glassbench_labels(times: np.ndarray, temperature_key: str) -> tuple[list[str], float]:
    """Timescale labels of a GlassBench grid (``t=<time>``; the time at τ_α is ``1tau_a``) and τ_α [τ]
    (NaN where this temperature's τ_α is not known)."""
    from ..reference import GLASSBENCH_TAU_ALPHA

    tau = GLASSBENCH_TAU_ALPHA.get(float(temperature_key), float("nan"))
    labels = []
    for k, x in enumerate(times):
        if math.isfinite(x) and math.isfinite(tau) and math.isclose(x, tau, rel_tol=1e-6):
            labels.append("1tau_a")
        else:
            labels.append(f"t={x:g}" if math.isfinite(x) else f"t{k}")
    return labels, tau


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
    types = glassbench_types(data["types"], p)
    n = len(types)
    pos = np.asarray(data[GLASSBENCH_POSITIONS[positions]], dtype=np.float64)
    _check_shape(pos, (n, 3), GLASSBENCH_POSITIONS[positions], p)
    prop = per_time_array(data["md_prop"], n, "md_prop", p)
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
    labels, tau = glassbench_labels(t, tkey)
    return ImportedSample(state=state, propensity=prop, times=t, labels=labels, temperature=float(tkey),
                          tau_alpha=tau, source=str(p), extra=extra)


def read_glassbench_predictions(path: str | Path, keys: list[str] | tuple[str, ...]) -> dict[str, np.ndarray]:
    """The deposited predictions ``keys`` of one GlassBench test file that it has, as (n_times, N)
    (orientation told apart by N; a [N] descriptor is repeated at every time), plus ``md_prop``
    and ``types`` (0 = A) under those names."""
    p = Path(path)
    data = load_npz(p)
    missing = [k for k in GLASSBENCH_KEYS if k not in data]
    if missing:
        raise InputError(f"{p}: not the GlassBench layout, missing {missing} (found {sorted(data)}); {ORIGINAL}")
    types = glassbench_types(data["types"], p)
    n = len(types)
    prop = per_time_array(data["md_prop"], n, "md_prop", p)
    out = {"md_prop": prop, "types": types}
    for k in keys:
        if k in data:
            out[k] = per_time_array(data[k], n, k, p, n_times=len(prop))
    return out


def glassbench_file(root: str | Path, temperature_key: str, part: str, index: int, n_particles: int) -> str:
    """Path of one GlassBench file: ``<root>/T0.44/train/N4096T0.44_1.npz`` (the names the EIGNN
    repository's loader opens)."""
    return str(Path(root) / f"T{temperature_key}" / part / f"N{n_particles}T{temperature_key}_{index}.npz")


def plan_glassbench(root: str | Path, temps: list[str], n_particles: int, n_train: dict[str, int], n_test: int,
                    first_train: int = 1, first_test: int = 401, can_fetch: bool = True,
                    ) -> tuple[dict[str, dict[str, list[str]]], list[str]]:
    """Files per temperature ({T: {"train": [...], "test": [...]}}) and the temperatures to download.

    A temperature whose folder under ``root`` holds enough .npz files (``n_train[T]`` train and
    ``n_test`` test) is read from disk (the files found, in natural order), as is any temperature
    found when nothing can be fetched (``can_fetch`` false); any other is planned by GlassBench's
    names (train ``first_train`` …, test ``first_test`` …) and returned as one to fetch.
    """
    if not can_fetch:
        return scan_dataset("glassbench", root), []
    found: dict[str, dict[str, list[str]]] = {}
    fetch = []
    base = Path(root)
    on_disk = scan_dataset("glassbench", base) if base.exists() and any(base.rglob("*.npz")) else {}
    for T in temps:
        have = on_disk.get(T)
        if have and len(have["train"]) >= n_train[T] and len(have["test"]) >= n_test:
            found[T] = have
            continue
        fetch.append(T)
        found[T] = {
            "train": [glassbench_file(base, T, "train", first_train + i, n_particles) for i in range(n_train[T])],
            "test": [glassbench_file(base, T, "test", first_test + i, n_particles) for i in range(n_test)],
        }
    return found, fetch


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


def plan_dataset(cfg: dict[str, Any], temps: list[str]) -> tuple[dict[str, dict[str, list[str]]], list[str]]:
    """Files of a published dataset per temperature and part, and the temperatures to download
    (GlassBench with ``data.fetch.url``: those not yet under ``data.path``, named by its layout)."""
    data = cfg["data"]
    if data["source"] != "glassbench":
        return scan_dataset(data["source"], data["path"]), []
    from ..config import samples_at

    first = data["first_files"]
    return plan_glassbench(data["path"], temps, cfg["system"]["n_particles"],
                           {T: samples_at(cfg, T) for T in temps}, cfg["split"]["test"], first["train"],
                           first["test"], can_fetch=bool(data["fetch"]["url"]))


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
