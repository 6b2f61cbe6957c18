"""Use a trained model on your own configurations: read, check, predict, write.

- :func:`read_configurations` reads every frame (or a selection) of a GSD file, a LAMMPS text
  dump, an extended-XYZ file, a Bapst et al. pickle or a GlassBench ``.npz`` into
  :class:`~equiglass.state.State` objects (positions wrapped into [-L/2, L/2); species mapped to
  0 = A, 1 = B; what was read is recorded in ``state.log["equiglass/input"]``).
- :func:`check_compatible` refuses configurations the model was not trained for (species,
  box, density, box size, kind of positions) unless forced, in which case the differences are
  returned as warnings.
- :func:`predict_configurations` builds the model's inputs (graph with its cutoff, descriptors,
  local energies, inherent structures as at training) and predicts propensities.
- :func:`write_predictions` writes a GSD (per-particle log fields ``equiglass/prediction_<k>``,
  viewable in OVITO), a CSV table and a JSON sidecar (model hash, timescales, warnings, timing).

Species: with two species, A is the more numerous one unless the names or type ids say
otherwise (names ``A``/``B``; LAMMPS types 1/2; the documented 0/1 of the Bapst and GlassBench
files). Lengths are in σ_AA, as in the training data.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .files import InputError, atomic_path, read_json, write_json
from .ka import TYPE_NAMES
from .state import State, write_gsd

INFO_KEY = "equiglass/input"
FORMATS: dict[str, tuple[str, ...]] = {
    "gsd": (".gsd",),
    "lammps-dump": (".dump", ".lammpstrj"),
    "extxyz": (".xyz", ".extxyz"),
    "bapst": (".pickle", ".pkl"),
    "glassbench": (".npz",),
}
ALIASES = {"dump": "lammps-dump", "lammps": "lammps-dump", "lammpstrj": "lammps-dump",
           "lammps-dump-text": "lammps-dump", "xyz": "extxyz", "pickle": "bapst", "pkl": "bapst",
           "npz": "glassbench"}
DENSITY_TOLERANCE = 0.05
DESCRIPTOR_FAMILIES = ("descriptor_mlp", "ridge")


# ------------------------------------------------------------------------------- reading
def detect_format(path: str | Path, fmt: str | None = None) -> str:
    """Format name from ``fmt`` (or an alias) or else from the file extension."""
    if fmt:
        name = ALIASES.get(fmt.lower(), fmt.lower())
        if name not in FORMATS:
            raise InputError(f"{path}: unknown format {fmt!r}; choose from {sorted(FORMATS)}")
        return name
    suffix = Path(path).suffix.lower()
    for name, exts in FORMATS.items():
        if suffix in exts:
            return name
    known = ", ".join(f"{e} ({n})" for n, exts in FORMATS.items() for e in exts)
    raise InputError(f"{path}: cannot tell the format from the extension {suffix or '(none)'!r}; "
                     f"known: {known}; or pass --format")


def select_frames(selection: str | int | list[int] | None, n_frames: int, source: str) -> list[int]:
    """Frame indices from a selection: None (all), an int, a list, or text like ``0,5,-1`` / ``::10``."""
    if selection is None:
        return list(range(n_frames))
    items: list[Any]
    if isinstance(selection, int | np.integer):
        items = [int(selection)]
    elif isinstance(selection, str):
        items = [s.strip() for s in selection.split(",") if s.strip()]
    else:
        items = list(selection)
    out: list[int] = []
    for item in items:
        if isinstance(item, str) and ":" in item:
            parts = item.split(":")
            try:
                if len(parts) > 3:
                    raise ValueError
                sl = slice(*[int(x) if x.strip() else None for x in parts])
            except ValueError as err:
                raise InputError(f"{source}: bad frame selection {item!r} (use e.g. 0,5,-1 or ::10)") from err
            if sl.step == 0:
                raise InputError(f"{source}: frame selection {item!r} has step 0")
            out.extend(range(n_frames)[sl])
            continue
        try:
            k = int(item)
        except (TypeError, ValueError) as err:
            raise InputError(f"{source}: bad frame selection {item!r} (use e.g. 0,5,-1 or ::10)") from err
        if not -n_frames <= k < n_frames:
            raise InputError(f"{source}: frame {k} does not exist (the file has {n_frames} frames); change --frames")
        out.append(k % n_frames)
    if not out:
        raise InputError(f"{source}: frame selection {selection!r} selects none of its {n_frames} frames")
    return out


def map_species(labels: np.ndarray, lammps_types: bool = False, codes: bool = False) -> tuple[np.ndarray, dict]:
    """Type codes (N,) and the mapping {label: {"type", "count"}} of per-particle species labels.

    ``codes``: labels already are 0 = A, 1 = B (Bapst, GlassBench); ``lammps_types``: labels
    are LAMMPS type ids (1 = A, 2 = B). Else names A/B are used when present, and otherwise
    species are ordered by decreasing count (A = the most numerous).
    """
    text = np.asarray(labels).astype(str)
    names, inverse, counts = np.unique(text, return_inverse=True, return_counts=True)
    names = [str(x) for x in names]
    if codes and set(names) <= {"0", "1"}:
        order = {name: int(name) for name in names}
    elif set(names) <= {"A", "B"}:
        order = {name: TYPE_NAMES.index(name) for name in names}
    elif (lammps_types or all(n.isdigit() for n in names)) and set(names) <= {"1", "2"}:
        order = {name: int(name) - 1 for name in names}
    else:
        ranked = sorted(range(len(names)), key=lambda i: (-counts[i], names[i]))
        order = {names[i]: r for r, i in enumerate(ranked)}
    lut = np.array([order[n] for n in names], dtype=np.int32)
    mapping = {n: {"type": order[n], "count": int(c)} for n, c in zip(names, counts)}
    return lut[inverse.reshape(-1)], mapping


def _wrap(positions: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Fold into [-L/2, L/2): the same periodic configuration (inputs in [0, L) included)."""
    out = positions - box * np.floor(positions / box + 0.5)
    return np.where(out >= box / 2, out - box, out)


def _make_state(positions: Any, labels: Any, box: Any, source: str, fmt: str, frame: int,
                tilt: Any = None, temperature: float | None = None, **species_kw: bool) -> State:
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 3 or len(pos) == 0:
        raise InputError(f"{source}: frame {frame}: positions must be (N, 3) with N > 0, got {pos.shape}; "
                         "check the file and --format")
    if not np.all(np.isfinite(pos)):
        bad = np.flatnonzero(~np.isfinite(pos).all(axis=1))
        raise InputError(f"{source}: frame {frame}: non-finite positions for particles {bad[:10].tolist()}; "
                         "select other frames with --frames")
    if len(np.asarray(labels).reshape(-1)) != len(pos):
        raise InputError(f"{source}: frame {frame}: {len(labels)} species labels for {len(pos)} particles; "
                         "check the file and --format")
    types, mapping = map_species(np.asarray(labels).reshape(-1), **species_kw)
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.shape != (3,):
        raise InputError(f"{source}: frame {frame}: box must have 3 edges, got {b.tolist()}; give an "
                         "orthorhombic box (or --box)")
    box_ok = bool(np.all(np.isfinite(b)) and np.all(b > 0))
    if box_ok:
        pos = _wrap(pos, b)
    tilts = [float(t) for t in np.asarray(tilt if tilt is not None else [], dtype=float).reshape(-1)]
    log: dict[str, Any] = {INFO_KEY: {"source": source, "format": fmt, "frame": int(frame), "species": mapping,
                                      "tilt": tilts, "box_given": box_ok}}
    if temperature is not None and math.isfinite(temperature):
        log["equiglass/temperature"] = np.array([float(temperature)])
    return State(pos, types, b, log=log)


def _read_gsd(p: Path, frames: Any) -> list[State]:
    import gsd.hoomd

    try:
        with gsd.hoomd.open(p, mode="r") as traj:
            n = len(traj)
            if n == 0:
                raise InputError(f"{p}: GSD file has no frames (empty or interrupted write)")
            out = []
            for k in select_frames(frames, n, str(p)):
                f = traj[k]
                box = np.asarray(f.configuration.box, dtype=np.float64)
                names = list(f.particles.types or [])
                typeid = np.asarray(f.particles.typeid, dtype=np.int64)
                if len(names) == 0 or (len(typeid) and typeid.max() >= len(names)):
                    names = [str(i) for i in range(int(typeid.max(initial=0)) + 1)]
                labels = np.asarray(names, dtype=object)[typeid]
                temp = f.log.get("equiglass/temperature")
                out.append(_make_state(f.particles.position, labels, box[:3], str(p), "gsd", k,
                                       tilt=box[3:], temperature=float(temp[0]) if temp is not None else None))
            return out
    except InputError:
        raise
    except Exception as err:
        raise InputError(f"{p}: cannot read GSD file ({type(err).__name__}: {err}); it is truncated, corrupt "
                         "or not a GSD file: check it, or pass --format") from err


def _read_ase(p: Path, frames: Any, fmt: str) -> list[State]:
    import ase.io

    try:
        images = ase.io.read(p, format="lammps-dump-text" if fmt == "lammps-dump" else "extxyz", index=":")
    except Exception as err:
        if fmt == "extxyz" and isinstance(err, KeyError):  # species names that are no elements (A, B, 1, 2)
            return _read_xyz_names(p, frames)
        kind = "LAMMPS text dump" if fmt == "lammps-dump" else "extended-XYZ file"
        raise InputError(f"{p}: cannot read as a {kind} ({type(err).__name__}: {err}); it is truncated, "
                         "corrupt or in another format (pass --format)") from err
    if not images:
        raise InputError(f"{p}: no frames found; check the file and --format")
    scaled = False
    if fmt == "lammps-dump":
        counts, scaled = _dump_header(p)
        got = [len(a) for a in images]
        if counts[: len(got)] != got or len(counts) != len(got):
            bad = next((k for k, (c, g) in enumerate(zip(counts, got)) if c != g), min(len(counts), len(got)))
            raise InputError(f"{p}: frame {bad} announces {counts[bad] if bad < len(counts) else '?'} atoms but "
                             f"{got[bad] if bad < len(got) else 0} were read: the dump is truncated or corrupt; "
                             "select complete frames with --frames")
    out = []
    for k in select_frames(frames, len(images), str(p)):
        atoms = images[k]
        cell = np.asarray(atoms.cell.array, dtype=np.float64)
        box = np.diag(cell).copy()
        off = cell[~np.eye(3, dtype=bool)]
        if fmt == "lammps-dump" and "type" in atoms.arrays:
            labels, kw = atoms.arrays["type"], {"lammps_types": True}
        else:
            labels, kw = np.asarray(atoms.get_chemical_symbols()), {}
        temp = atoms.info.get("temperature")
        pos = atoms.positions + (atoms.get_celldisp().reshape(3) if scaled else 0.0)
        out.append(_make_state(pos, labels, box, str(p), fmt, k, tilt=off,
                               temperature=float(temp) if isinstance(temp, int | float) else None, **kw))
    return out


def _dump_header(p: Path) -> tuple[list[int], bool]:
    """Atom counts announced per frame of a LAMMPS text dump, and whether it holds scaled coordinates.

    ase places scaled coordinates (xs ys zs) relative to the box origin; the caller adds it back.
    """
    counts: list[int] = []
    scaled = None
    with open(p, errors="replace") as fh:
        for line in fh:
            if line.startswith("ITEM: NUMBER OF ATOMS"):
                try:
                    counts.append(int(next(fh).split()[0]))
                except (StopIteration, ValueError, IndexError):
                    counts.append(-1)
            elif scaled is None and line.startswith("ITEM: ATOMS"):
                cols = line.split()[2:]
                scaled = "x" not in cols and "xu" not in cols and ("xs" in cols or "xsu" in cols)
    return counts, bool(scaled)


def _read_xyz_names(p: Path, frames: Any) -> list[State]:
    """Extended XYZ whose species are names such as A/B (ase only knows chemical elements)."""
    lines = p.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        try:
            n = int(lines[i].split()[0])
        except ValueError as err:
            raise InputError(f"{p}: line {i + 1} should hold the particle count, got {lines[i][:40]!r}; "
                               "check the file and --format") from err
        if i + 2 + n > len(lines):
            raise InputError(f"{p}: frame {len(blocks)} announces {n} particles but the file ends after "
                             f"{max(len(lines) - i - 2, 0)}: truncated; select complete frames with --frames")
        blocks.append((lines[i + 1], lines[i + 2: i + 2 + n]))
        i += 2 + n
    if not blocks:
        raise InputError(f"{p}: no frames found; check the file and --format")
    out = []
    for k in select_frames(frames, len(blocks), str(p)):
        comment, rows = blocks[k]
        cols = _xyz_columns(comment)
        try:
            table = [r.split() for r in rows]
            labels = np.array([t[cols["species"]] for t in table])
            pos = np.array([[float(t[cols["pos"] + d]) for d in range(3)] for t in table])
        except (IndexError, ValueError) as err:
            raise InputError(f"{p}: frame {k}: unreadable particle line ({err}); check the file and --format") from err
        m = re.search(r'Lattice="([^"]+)"', comment)
        cell = np.array([float(x) for x in m.group(1).split()]).reshape(3, 3) if m else np.zeros((3, 3))
        out.append(_make_state(pos, labels, np.diag(cell), str(p), "extxyz", k, tilt=cell[~np.eye(3, dtype=bool)]))
    return out


def _xyz_columns(comment: str) -> dict[str, int]:
    m = re.search(r"Properties=(\S+)", comment)
    spec = m.group(1).split(":") if m else ["species", "S", "1", "pos", "R", "3"]
    cols, at = {}, 0
    for name, _kind, count in zip(spec[0::3], spec[1::3], spec[2::3]):
        cols[name] = at
        at += int(count)
    return {"species": cols.get("species", 0), "pos": cols.get("pos", 1)}


def read_configurations(path: str | Path, frames: str | int | list[int] | None = None,
                        fmt: str | None = None) -> list[State]:
    """Read every frame (or the ``frames`` selection, e.g. ``"0,5,-1"`` or ``"::10"``) of a file.

    Formats: ``gsd``, ``lammps-dump`` (text dump), ``extxyz``, ``bapst`` (pickle), ``glassbench``
    (.npz), detected from the extension unless ``fmt`` is given. Returns States with positions
    wrapped into [-L/2, L/2) when the file has a box, types 0 = A / 1 = B (2, 3… for further
    species, which :func:`check_compatible` refuses), and ``log["equiglass/input"]`` recording the
    source, frame, species mapping and box tilts. Raises InputError naming the file.
    """
    p = Path(path)
    name = detect_format(p, fmt)
    if not p.exists():
        raise InputError(f"{p}: file not found; check the path")
    if name == "gsd":
        return _read_gsd(p, frames)
    if name in ("lammps-dump", "extxyz"):
        return _read_ase(p, frames, name)
    from .readers import read_bapst, read_glassbench

    sample = read_bapst(p) if name == "bapst" else read_glassbench(p)
    select_frames(frames, 1, str(p))
    st = sample.state
    return [_make_state(st.positions, st.types, st.box, str(p), name, 0, temperature=sample.temperature,
                        codes=True)]


# ---------------------------------------------------------------------------- checking
def _inputs(info: dict[str, Any], source: str = "model") -> dict[str, Any]:
    inputs = info.get("inputs")
    if not isinstance(inputs, dict) or "graph_cutoff" not in inputs:
        raise InputError(f"{source}: the model file does not record its input settings (info['inputs'] with "
                         "graph_cutoff); it was not written by `equiglass train`: retrain it with the pipeline")
    return inputs


def neighbour_radius(info: dict[str, Any], family: str | None = None) -> float:
    """Largest neighbour radius the model's inputs need [σ_AA] (graph cutoff; descriptor shells)."""
    inputs = _inputs(info)
    r = float(inputs["graph_cutoff"])
    d = inputs.get("descriptors") or {}
    if family in DESCRIPTOR_FAMILIES and d:
        r = max(r, float(d.get("shell_cutoff", 0.0)),
                float(d.get("radial_max", 0.0)) + 3 * float(d.get("radial_width", 0.0)),
                float(d.get("coarse_grain_cutoff", 0.0)) if d.get("coarse_grain") else 0.0)
    return r


def _species_text(state: State) -> str:
    mapping = state.log.get(INFO_KEY, {}).get("species")
    if mapping:
        return ", ".join(f"{k} ({v['count']})" for k, v in mapping.items())
    return ", ".join(f"type {t} ({c})" for t, c in zip(*np.unique(state.types, return_counts=True)))


def check_compatible(state: State, artifact_info: dict[str, Any], source: str, force: bool = False,
                     family: str | None = None) -> list[str]:
    """Problems that make ``state`` unfit for the model; InputError unless ``force`` (then warnings).

    Checks: at most 2 species; a periodic orthorhombic box with positive edges; density within
    the training range ``info["inputs"]["density_range"]`` ± 5 %; box edges larger than twice the
    neighbour radius (graph cutoff, descriptor shells for descriptor models); thermal or inherent
    positions expected (cage-state models need cage-state inputs, which cannot be made here).
    """
    inputs = _inputs(artifact_info, source)
    problems: list[str] = []
    n_species = len(np.unique(state.types))
    if n_species > 2 or state.types.max(initial=0) > 1:
        problems.append(f"{n_species} species [{_species_text(state)}] but the model knows 2 (A, B); "
                        "with --force every species after the two most numerous is treated as B")
    box = state.box
    box_ok = bool(np.all(np.isfinite(box)) and np.all(box > 0))
    if not box_ok:
        problems.append(f"no periodic box (edges {box.tolist()}); with --force the box is guessed from the "
                        "extent of the positions")
    tilt = np.asarray(state.log.get(INFO_KEY, {}).get("tilt", []), dtype=float)
    if tilt.size and np.any(np.abs(tilt) > 1e-9 * max(float(np.max(np.abs(box))), 1.0)):
        problems.append(f"non-orthorhombic box (tilts {np.round(tilt, 6).tolist()}); the model was trained in "
                        "orthorhombic boxes; with --force the tilts are ignored")
    if box_ok:
        rho = state.density
        dr = inputs.get("density_range")
        if dr:
            lo, hi = float(dr[0]) * (1 - DENSITY_TOLERANCE), float(dr[1]) * (1 + DENSITY_TOLERANCE)
            if not lo <= rho <= hi:
                problems.append(f"density {rho:.4g} is outside the training range [{dr[0]:.4g}, {dr[1]:.4g}] by "
                                f"more than 5 % (accepted {lo:.4g} to {hi:.4g})")
        r = neighbour_radius(artifact_info, family)
        if float(np.min(box)) <= 2 * r:
            problems.append(f"box edge {float(np.min(box)):.4g} is not larger than twice the model's neighbour "
                            f"cutoff {r:g} (needs > {2 * r:g}); with --force the box is replicated periodically")
    if inputs.get("positions") == "cage":
        problems.append("the model was trained on cage states (positions averaged over short NVE runs), which "
                        "cannot be computed here; with --force the given positions are used as cage states")
    if problems and not force:
        raise InputError(f"{source}: does not fit the model: " + "; ".join(problems)
                         + ". Pass --force (force=True) to predict anyway; the differences are then recorded "
                         "as warnings.")
    return [f"{source}: {p}" for p in problems]


# ---------------------------------------------------------------------------- predicting
def _source(state: State, k: int) -> str:
    inf = state.log.get(INFO_KEY)
    return f"{inf['source']} frame {inf['frame']}" if inf else f"configuration {k}"


def _forced(state: State, radius: float) -> tuple[State, dict[str, Any]]:
    """Make a refused configuration usable: types 0/1, a box, tilts dropped, replicated if small."""
    done: dict[str, Any] = {}
    types = np.minimum(state.types, 1)
    box = state.box.copy()
    pos = state.positions
    if not (np.all(np.isfinite(box)) and np.all(box > 0)):
        span = np.ptp(pos, axis=0)
        if np.any(span <= 0):
            raise InputError(f"no box and the positions are flat (extent {span.tolist()}): cannot guess a box")
        box = span + (float(np.prod(span)) / len(pos)) ** (1 / 3)
        done["box_guessed"] = box.tolist()
    pos = _wrap(pos - (pos.min(axis=0) + box / 2 if "box_guessed" in done else 0.0), box)
    reps = [int(2 * radius // L) + 1 if L <= 2 * radius else 1 for L in box]
    if max(reps) > 1:
        shifts = np.array(list(itertools.product(*[range(k) for k in reps])), dtype=np.float64)
        pos = np.concatenate([pos + s * box for s in shifts])
        types = np.tile(types, len(shifts))
        box = box * np.array(reps)
        pos = _wrap(pos, box)
        done["replicated"] = reps
    return State(pos, types, box), done


def _model_sample(state: State, art: dict[str, Any], inputs: dict[str, Any], timing: dict[str, Any]):
    from .dataset import Sample
    from .graphs import build_graph

    family = art["family"]
    names: list[str] = []
    desc = np.zeros((state.n, 0), dtype=np.float32)
    extra = None
    if inputs.get("positions") == "inherent" or inputs.get("local_energy"):
        from .md import MDSettings

        t0 = time.perf_counter()
        with MDSettings(engine="lammps").engine_for(state, seed=0) as eng:
            if inputs.get("positions") == "inherent":
                eng.minimize(etol=0.0, ftol=1e-6, max_steps=200_000)
                state = eng.get_state()
            energy = eng.per_particle_energy() if inputs.get("local_energy") else None
        timing["energy_s"] = timing.get("energy_s", 0.0) + time.perf_counter() - t0
        if energy is not None:
            extra = energy[:, None].astype(np.float32)
    t0 = time.perf_counter()
    graph = build_graph(state, float(inputs["graph_cutoff"]))
    timing["graph_s"] = timing.get("graph_s", 0.0) + time.perf_counter() - t0
    if family in DESCRIPTOR_FAMILIES:
        from .descriptors import DescriptorSettings, compute_descriptors

        t0 = time.perf_counter()
        d = dict(inputs.get("descriptors") or {})
        if "l_values" in d:
            d["l_values"] = tuple(d["l_values"])
        values, names = compute_descriptors(state, DescriptorSettings(**d))
        if extra is not None:
            values = np.concatenate([values, extra], axis=1)
            names = [*names, "local_energy"]
        desc = values.astype(np.float32)
        timing["descriptors_s"] = timing.get("descriptors_s", 0.0) + time.perf_counter() - t0
        if desc.shape[1] != int(art["n_descriptors"]):
            raise InputError(f"the model reads {art['n_descriptors']} descriptors but its recorded settings give "
                             f"{desc.shape[1]}: the model file's info['inputs'] does not match its weights")
    temp = state.log.get("equiglass/temperature")
    return Sample("predict", graph, desc, names, float(temp[0]) if temp is not None else float("nan"), extra=extra)


def predict_configurations(model_path: str | Path | dict[str, Any], states: list[State], device: str = "cpu",
                           force: bool = False, timing: dict[str, Any] | None = None
                           ) -> tuple[list[np.ndarray], list[str]]:
    """Propensities (N, n_t) float32 per configuration, and the warnings of forced checks.

    ``model_path``: a model file or a loaded artifact. Inputs are built as at training: radius
    graph with ``info["inputs"]["graph_cutoff"]``; descriptors with ``info["inputs"]["descriptors"]``
    (descriptor models); inherent structures (FIRE, LAMMPS) and per-particle local energies
    (LAMMPS) when the model used them. ``device``: cpu, gpu or auto. ``timing`` (optional dict)
    receives seconds spent per stage. What a forced prediction changed (guessed box,
    replication) is added to ``state.log["equiglass/input"]``.
    """
    from .artifact import Predictor, load_artifact
    from .progress import Reporter
    from .training import pick_device

    art = model_path if isinstance(model_path, dict) else load_artifact(model_path)
    info = art["info"]
    inputs = _inputs(info, str(model_path) if not isinstance(model_path, dict) else "model")
    radius = neighbour_radius(info, art["family"])
    try:
        dev = pick_device(device)
    except RuntimeError as err:
        raise InputError(str(err).replace("use device: auto", "use --device auto or cpu")) from err
    predictor = Predictor(art, str(dev))
    timing = timing if timing is not None else {}
    predictions: list[np.ndarray] = []
    warnings: list[str] = []
    rep = Reporter("predict", len(states), "configurations")
    for k, st in enumerate(states):
        source = _source(st, k)
        found = check_compatible(st, info, source, force=force, family=art["family"])
        warnings.extend(found)
        if found:
            try:
                work, done = _forced(st, radius)
            except InputError as err:
                raise InputError(f"{source}: {err}") from err
            st.log.setdefault(INFO_KEY, {}).update(done)
            if "box_guessed" in done:
                st.box = np.asarray(done["box_guessed"])
                st.positions = work.positions[: st.n]
        else:
            work = st.wrapped()
        work.log = {k2: v for k2, v in st.log.items() if k2 == "equiglass/temperature"}
        sample = _model_sample(work, art, inputs, timing)
        t0 = time.perf_counter()
        pred = predictor.predict(sample)[: st.n]
        timing["model_s"] = timing.get("model_s", 0.0) + time.perf_counter() - t0
        predictions.append(np.asarray(pred, dtype=np.float32))
        rep.update(k + 1, N=st.n)
    rep.close(f"{len(states)} configurations on {dev}")
    timing["device"] = str(dev)
    return predictions, warnings


# ------------------------------------------------------------------------------ writing
def timescales_meta(info: dict[str, Any]) -> dict[str, Any]:
    """Timescale labels, absolute times per training temperature [τ] and the same in units of τ_α."""
    ts = info.get("timescales") or {}
    times = ts.get("times_by_temperature") or {}
    taus = ts.get("tau_alpha_by_temperature") or {}
    in_tau = {}
    for tkey, tt in times.items():
        tau = taus.get(tkey)
        ok = tau is not None and isinstance(tau, int | float) and math.isfinite(tau) and tau > 0
        in_tau[tkey] = [float(t) / tau if ok and t is not None else None for t in tt]
    return {"labels": list(ts.get("labels", [])), "mode": ts.get("mode"), "values": ts.get("values"),
            "times_by_temperature": times, "tau_alpha_by_temperature": taus,
            "times_tau_alpha_by_temperature": in_tau, "units": {"time": "tau"}}


def _frame_times(state: State, tsm: dict[str, Any], n_t: int) -> tuple[list, list]:
    from .config import temperature_key

    temp = state.log.get("equiglass/temperature")
    if temp is not None:
        key = temperature_key(float(temp[0]))
        if key in tsm["times_by_temperature"]:
            return list(tsm["times_by_temperature"][key]), list(tsm["times_tau_alpha_by_temperature"][key])
    return [None] * n_t, [None] * n_t


def write_predictions(out_prefix: str | Path, states: list[State], predictions: list[np.ndarray],
                      labels: list[str], meta: dict[str, Any]) -> dict[str, Path]:
    """Write ``<out>.gsd``, ``<out>.csv`` and ``<out>.json`` atomically; return their paths.

    GSD: one frame per configuration, per-particle log fields ``equiglass/prediction_<k>``
    (float32; k indexes ``labels``) and ``equiglass/prediction_times`` (absolute times [τ] when
    the configuration's temperature is a training temperature, else NaN). CSV: columns frame,
    particle, type, x, y, z and one per label. JSON: ``meta`` plus labels, columns, files and
    one record per frame (source file and frame, N, density, species mapping, times).
    """
    out = Path(out_prefix)
    if out.suffix in (".gsd", ".csv", ".json"):
        out = out.with_suffix("")
    paths = {"gsd": Path(f"{out}.gsd"), "csv": Path(f"{out}.csv"), "json": Path(f"{out}.json")}
    if len(states) != len(predictions):
        raise ValueError(f"{len(states)} configurations but {len(predictions)} predictions")
    n_t = len(labels)
    tsm = meta.get("timescales") or {"times_by_temperature": {}, "times_tau_alpha_by_temperature": {}}
    frames, logs, outs = [], [], []
    for f, (st, pred) in enumerate(zip(states, predictions)):
        if pred.shape != (st.n, n_t):
            raise ValueError(f"frame {f}: predictions {pred.shape} but N = {st.n} and {n_t} labels")
        box = st.box if np.all(np.isfinite(st.box)) and np.all(st.box > 0) else np.ptp(st.positions, axis=0)
        outs.append(State(_wrap(st.positions, box), np.minimum(st.types, 1), box))
        times, times_tau = _frame_times(st, tsm, n_t)
        lg: dict[str, Any] = {f"equiglass/prediction_{k}": pred[:, k].astype(np.float32) for k in range(n_t)}
        lg["equiglass/prediction_times"] = np.array([np.nan if t is None else t for t in times], dtype=np.float64)
        if "equiglass/temperature" in st.log:
            lg["equiglass/temperature"] = np.asarray(st.log["equiglass/temperature"], dtype=np.float64)
        logs.append(lg)
        inf = dict(st.log.get(INFO_KEY, {}))
        frames.append({"frame": f, "source_frame": inf.pop("frame", None), **inf, "n": st.n, "box": box.tolist(),
                       "density": float(st.n / np.prod(box)),
                       "temperature": float(st.log["equiglass/temperature"][0])
                       if "equiglass/temperature" in st.log else None,
                       "times": times, "times_tau_alpha": times_tau})
    write_gsd(paths["gsd"], outs, logs)
    columns = ["frame", "particle", "type", "x", "y", "z", *labels]
    with atomic_path(paths["csv"]) as tmp, open(tmp, "w", newline="") as fh:
        csv.writer(fh).writerow(columns)
        for f, (st, pred) in enumerate(zip(outs, predictions)):
            buf = io.StringIO()
            np.savetxt(buf, np.column_stack([st.positions, pred]), fmt="%.7g", delimiter=",")
            rows = buf.getvalue().splitlines()
            fh.write("".join(f"{f},{i},{TYPE_NAMES[t]},{r}\n" for i, (t, r) in enumerate(zip(st.types, rows))))
    write_json(paths["json"], {**meta, "labels": list(labels), "columns": columns,
                               "files": {k: str(v) for k, v in paths.items()}, "frames": frames,
                               "gsd_fields": {f"equiglass/prediction_{k}": lab for k, lab in enumerate(labels)}})
    return paths


def run_predict(model: str | Path, inputs: list[str | Path], out_prefix: str | Path, frames: str | None = None,
                fmt: str | None = None, device: str = "cpu", force: bool = False) -> dict[str, Any]:
    """``equiglass predict``: read every input, predict, write; returns a summary."""
    from .artifact import load_artifact
    from .provenance import provenance

    t_start = time.perf_counter()
    art = load_artifact(model)
    info = art["info"]
    _inputs(info, str(model))
    states: list[State] = []
    for path in inputs:
        states.extend(read_configurations(path, frames, fmt))
    t_read = time.perf_counter() - t_start
    timing: dict[str, Any] = {}
    t0 = time.perf_counter()
    preds, warnings = predict_configurations(art, states, device=device, force=force, timing=timing)
    t_pred = time.perf_counter() - t0
    n_t = int(art["n_outputs"])
    tsm = timescales_meta(info)
    labels = tsm["labels"] if len(tsm["labels"]) == n_t else [f"t{k}" for k in range(n_t)]
    settings = {"model": str(model), "inputs": [str(p) for p in inputs], "frames": frames, "format": fmt,
                "device": device, "force": force}
    meta = {
        "model": {"path": str(model), "family": art["family"], "content_hash": art["content_hash"],
                  "n_outputs": n_t, "train_temperatures": info.get("temperatures"), "inputs": info.get("inputs"),
                  "target": info.get("target"), "versions": art.get("versions")},
        "timescales": tsm,
        "input_files": [str(p) for p in inputs],
        "warnings": warnings,
        "forced": bool(force and warnings),
        "units": {"length": "sigma_AA", "propensity": (info.get("target") or {}).get("units", "sigma_AA"),
                  "time": "tau"},
        "timing": {"read_s": round(t_read, 4), "predict_s": round(t_pred, 4),
                   "s_per_configuration": round(t_pred / max(len(states), 1), 4),
                   **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in timing.items()}},
    }
    meta["provenance"] = provenance("predict", settings, time.perf_counter() - t_start)
    paths = write_predictions(out_prefix, states, preds, labels, meta)
    for w in warnings:
        print(f"equiglass predict: warning: {w}", file=sys.stderr)
    return {"n_configurations": len(states), "n_particles": int(sum(s.n for s in states)),
            "s_per_configuration": t_pred / max(len(states), 1), "warnings": warnings,
            "paths": paths, "family": art["family"], "content_hash": art["content_hash"]}


# ------------------------------------------------------------------------------ figure
def fig_predictions(predictions_gsd: str | Path, output: str | Path, frame: int = 0, slab: float = 2.0,
                    caption: str = "") -> None:
    """Slab |z| < slab/2 of one predicted configuration, coloured by the prediction at ≈ τ_α (PNG + PDF)."""
    import gsd.hoomd
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .figures import savefig

    p = Path(predictions_gsd)
    meta = read_json(p.with_suffix(".json"))
    labels = meta["labels"]
    k = next((i for i, lab in enumerate(labels) if lab in ("Fs=0.368", "1tau_a")), len(labels) // 2)
    try:
        with gsd.hoomd.open(p, mode="r") as traj:
            f = traj[frame]
            pos = np.asarray(f.particles.position, dtype=np.float64)
            types = np.asarray(f.particles.typeid)
            values = np.asarray(f.log[f"equiglass/prediction_{k}"], dtype=np.float64)
    except Exception as err:
        raise InputError(f"{p}: cannot read predictions of frame {frame} ({type(err).__name__}: {err}); "
                         "rerun equiglass predict") from err
    mask = np.abs(pos[:, 2]) < slab / 2
    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    vmin, vmax = (float(np.percentile(values, q)) for q in (2, 98))
    sc = ax.scatter(pos[mask, 0], pos[mask, 1], c=values[mask], s=np.where(types[mask] == 0, 60, 35),
                    cmap="viridis", vmin=vmin, vmax=vmax, edgecolors="k", linewidths=0.3)
    ax.set_aspect("equal")
    model = meta.get("model", {})
    rec = meta["frames"][frame]
    where = f"{Path(str(rec.get('source', p))).name} frame {rec.get('source_frame', frame)}"
    ax.set(xlabel="x [σ]", ylabel="y [σ]", title=f"predicted propensity ({model.get('family', '?')}), {labels[k]}\n"
                                                   f"{where}, slab |z| < {slab / 2:g} σ")
    unit = meta.get("units", {}).get("propensity", "sigma_AA").replace("sigma_AA", "σ")
    fig.colorbar(sc, ax=ax, label=f"propensity [{unit}]")
    if caption:
        fig.suptitle(caption, fontsize=9)
    savefig(fig, output)


def main(argv: list[str] | None = None) -> int:
    """``python -m equiglass.predict figure PREDICTIONS.gsd --output PNG`` (used by the workflow)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m equiglass.predict")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("figure", help="slab snapshot of predicted propensities (PNG + PDF)")
    s.add_argument("predictions", help="GSD written by `equiglass predict` (its .json sidecar next to it)")
    s.add_argument("--output", required=True)
    s.add_argument("--frame", type=int, default=0)
    s.add_argument("--slab", type=float, default=2.0)
    s.add_argument("--caption", default="")
    a = p.parse_args(argv)
    try:
        fig_predictions(a.predictions, a.output, a.frame, a.slab, a.caption)
    except InputError as err:
        print(f"equiglass.predict {a.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
