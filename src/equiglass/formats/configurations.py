"""Configurations in any supported format as :class:`~equiglass.state.State` objects.

:func:`read_configurations` reads every frame (or a selection) of a GSD file, a LAMMPS text dump,
an extended-XYZ file, a Bapst et al. pickle or a GlassBench ``.npz``: positions wrapped into
[-L/2, L/2) [σ_AA]; species mapped to 0 = A, 1 = B (with two species, A is the more numerous one
unless the names or type ids say otherwise: names ``A``/``B``; LAMMPS types 1/2; the documented
0/1 of the Bapst and GlassBench files); what was read is recorded in
``state.log["equiglass/input"]`` (source, format, frame, species mapping, box tilts).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..files import InputError
from ..ka import TYPE_NAMES
from ..state import State, wrap_positions

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
        pos = wrap_positions(pos, b)
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
    from .published import read_bapst, read_glassbench

    sample = read_bapst(p) if name == "bapst" else read_glassbench(p)
    select_frames(frames, 1, str(p))
    st = sample.state
    return [_make_state(st.positions, st.types, st.box, str(p), name, 0, temperature=sample.temperature,
                        codes=True)]


