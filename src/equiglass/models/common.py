"""Pieces shared by the GNNs: batched graphs, edge features, scatter sums, per-type heads.

A batch is one disconnected graph: node arrays are concatenated and edge indices offset, so
every model runs with plain PyTorch ``index_add_`` (no torch-scatter/PyG needed).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from e3nn import o3
from e3nn.math import soft_one_hot_linspace, soft_unit_step


@dataclass
class GraphBatch:
    """Tensors of a batch of graphs (N nodes, E edges in total).

    types (N,) long; src, dst (E,) long; vec (E, 3) [σ_AA] = r_src − r_dst; node_graph (N,)
    long graph index; y (N, n_t) standardized targets or None; temperature (N,) [ε/k_B];
    extra (N, F) optional extra per-node scalar inputs (e.g. local potential energy) or None.
    """

    types: torch.Tensor
    src: torch.Tensor
    dst: torch.Tensor
    vec: torch.Tensor
    node_graph: torch.Tensor
    temperature: torch.Tensor
    y: torch.Tensor | None = None
    extra: torch.Tensor | None = None

    @property
    def n_nodes(self) -> int:
        return int(self.types.shape[0])

    def to(self, device: torch.device | str) -> GraphBatch:
        kw = {}
        for f in fields(self):
            v = getattr(self, f.name)
            kw[f.name] = v.to(device) if isinstance(v, torch.Tensor) else v
        return GraphBatch(**kw)


def scatter_sum(values: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """Sum rows of ``values`` (E, F) into (n, F) by ``index`` (E,)."""
    out = values.new_zeros((n, *values.shape[1:]))
    return out.index_add_(0, index, values)


def radius_graph(positions: torch.Tensor, box: torch.Tensor, cutoff: float, block: int = 2**22
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Periodic radius graph by brute force on the tensors' device (no freud: for GPU checks).

    positions (N, 3) [σ_AA], box (3,) edge lengths → src, dst (E,) long and vec (E, 3) = r_src − r_dst
    under the minimum image, for every ordered pair closer than ``cutoff`` (both directions, no
    self-pairs), sorted by destination then source: the convention of :func:`equiglass.graphs.build_graph`.
    O(N²) work in blocks of about ``block`` pairs.
    """
    box = torch.as_tensor(box, dtype=positions.dtype, device=positions.device)
    if cutoff >= 0.5 * float(box.min()):
        raise ValueError(f"cutoff {cutoff} must be smaller than half the box edge {0.5 * float(box.min()):.4g}")
    n = positions.shape[0]
    rows = max(1, block // max(n, 1))
    parts = []
    for start in range(0, n, rows):
        vec = positions[None, :, :] - positions[start: start + rows, None, :]  # (rows, N, 3): r_src − r_dst
        vec = vec - box * torch.round(vec / box)
        inside = (vec * vec).sum(-1) < cutoff * cutoff
        local = torch.arange(inside.shape[0], device=positions.device)
        inside[local, local + start] = False
        dst, src = inside.nonzero(as_tuple=True)
        parts.append((src, dst + start, vec[dst, src]))
    return tuple(torch.cat(p) for p in zip(*parts))  # type: ignore[return-value]


def radial_basis(r: torch.Tensor, cutoff: float, n_basis: int) -> torch.Tensor:
    """Bessel radial basis with a smooth cutoff envelope: (E,) → (E, n_basis), zero at r_c.

    The basis is scaled by √n_basis so its entries are of order one (e3nn's convention).
    """
    basis = soft_one_hot_linspace(r, 0.0, cutoff, n_basis, basis="bessel", cutoff=True)
    envelope = soft_unit_step(10.0 * (1.0 - r / cutoff))
    return basis * envelope[:, None] * n_basis**0.5


def edge_spherical_harmonics(vec: torch.Tensor, l_max: int) -> torch.Tensor:
    """Real spherical harmonics Y_l(r̂) for l ≤ l_max, 'component' normalization: (E, (l_max+1)²)."""
    irreps = o3.Irreps.spherical_harmonics(l_max)
    return o3.spherical_harmonics(irreps, vec, normalize=True, normalization="component")


def select_by_type(out: torch.Tensor, types: torch.Tensor, n_outputs: int) -> torch.Tensor:
    """Per-type heads: (N, n_types·n_outputs) → (N, n_outputs), picking each node's type."""
    n = out.shape[0]
    out = out.view(n, -1, n_outputs)
    return out[torch.arange(n, device=out.device), types]


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
