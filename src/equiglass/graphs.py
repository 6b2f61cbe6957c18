"""Neighbour graphs (freud, periodic boxes) and the arrays the models read.

Edge convention: a directed edge e = (src[e] → dst[e]) carries a message from particle
``src`` to particle ``dst``; its vector is ``vec[e] = r_src − r_dst`` under the minimum
image (the bond seen from the receiving particle). Every pair within the cutoff appears in
both directions; self-pairs are excluded. freud's neighbour-list vectors point from the
query point (here ``dst``) to its neighbour (``src``), which is exactly this convention.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import freud
import numpy as np

from .files import InputError, load_npz, save_npz
from .state import State


@dataclass
class Graph:
    """One configuration as a graph.

    positions (N, 3) float32 [σ_AA]; types (N,) int64; box (3,) [σ_AA];
    src, dst (E,) int64; vec (E, 3) float32 [σ_AA]; cutoff [σ_AA].
    """

    positions: np.ndarray
    types: np.ndarray
    box: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    vec: np.ndarray
    cutoff: float

    @property
    def n_nodes(self) -> int:
        return len(self.types)

    @property
    def n_edges(self) -> int:
        return len(self.src)


def freud_box(box: np.ndarray) -> freud.box.Box:
    return freud.box.Box(Lx=float(box[0]), Ly=float(box[1]), Lz=float(box[2]))


def neighbor_list(positions: np.ndarray, box: np.ndarray, r_max: float) -> freud.locality.NeighborList:
    """All pairs closer than ``r_max`` (both directions, no self-pairs), periodic."""
    if r_max >= 0.5 * float(np.min(box)):
        raise InputError(
            f"graph cutoff {r_max} must be smaller than half the box edge {0.5 * np.min(box):.4g}:"
            " lower graphs.cutoff or use more particles"
        )
    pts = np.ascontiguousarray(positions, dtype=np.float32)
    query = freud.locality.AABBQuery(freud_box(box), pts)
    return query.query(pts, {"r_max": float(r_max), "exclude_ii": True}).toNeighborList(sort_by_distance=False)


def build_graph(state: State, cutoff: float) -> Graph:
    """Radius graph of a configuration (positions wrapped into the box first)."""
    st = state.wrapped()
    nl = neighbor_list(st.positions, st.box, cutoff)
    return Graph(
        positions=st.positions.astype(np.float32),
        types=st.types.astype(np.int64),
        box=st.box.copy(),
        src=np.asarray(nl.point_indices, dtype=np.int64),
        dst=np.asarray(nl.query_point_indices, dtype=np.int64),
        vec=np.asarray(nl.vectors, dtype=np.float32),
        cutoff=float(cutoff),
    )


def save_graph(path: str | Path, graph: Graph, descriptors: np.ndarray, names: list[str], meta: dict,
               extra: np.ndarray | None = None) -> None:
    """Write graph arrays, descriptors (N, D), optional extra node inputs (N, F) and metadata (.npz)."""
    meta = {
        **meta,
        "cutoff": graph.cutoff,
        "self_pairs": "excluded",
        "edge_vector": "r_src - r_dst (minimum image), message src -> dst",
        "positions": "wrapped into [-L/2, L/2)",
        "descriptor_names": names,
        "units": {"length": "sigma_AA"},
    }
    save_npz(
        path,
        positions=graph.positions, types=graph.types, box=graph.box, src=graph.src, dst=graph.dst,
        vec=graph.vec, cutoff=np.float64(graph.cutoff), descriptors=descriptors.astype(np.float32),
        metadata=json.dumps(meta, default=str),
        **({"extra": extra.astype(np.float32)} if extra is not None else {}),
    )


GRAPH_KEYS = ("positions", "types", "box", "src", "dst", "vec", "cutoff", "descriptors")


def load_graph(path: str | Path) -> tuple[Graph, np.ndarray, dict]:
    """Read (graph, descriptors (N, D), metadata) written by :func:`save_graph`.

    Extra node inputs, if any, are in ``metadata['extra']`` as an (N, F) array.
    """
    data = load_npz(path, required=GRAPH_KEYS)
    g = Graph(
        positions=data["positions"], types=data["types"], box=data["box"], src=data["src"],
        dst=data["dst"], vec=data["vec"], cutoff=float(data["cutoff"]),
    )
    n = len(g.types)
    if g.positions.shape != (n, 3) or g.vec.shape != (len(g.src), 3) or len(g.dst) != len(g.src):
        raise InputError(f"{path}: inconsistent graph arrays (N={n}, E={len(g.src)}); rebuild it")
    if g.n_edges and (g.src.max() >= n or g.dst.max() >= n or g.src.min() < 0):
        raise InputError(f"{path}: edge indices out of range for N={n}; rebuild it")
    meta = json.loads(str(data["metadata"]))
    if "extra" in data:
        if data["extra"].shape[0] != n:
            raise InputError(f"{path}: extra node inputs have {data['extra'].shape[0]} rows for N={n}; rebuild it")
        meta["extra"] = data["extra"]
    return g, data["descriptors"], meta
