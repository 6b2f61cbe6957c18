"""A fused drop-in for e3nn's depthwise ("uvu") tensor product with per-edge weights.

e3nn builds one small einsum per instruction (path) plus zero-filled buffers and copies; on
a CPU with tens of thousands of edges the per-op overhead and memory traffic dominate. Here
every path that reads the same input irrep block is evaluated in one batched matrix product:

    M_p[e, i, k] = α_p Σ_j C^{l1 l2 l3}_{ijk} Y_{l2}[e, j]                (geometry only)
    out_p[e, u, k] = w_p[e, u] · Σ_i x_{l1}[e, u, i] · M_p[e, i, k]

with C the Wigner 3j symbols and α_p e3nn's path normalization, so the output equals
``TensorProduct.forward(x1, x2, weight)`` of the module it was built from (same weight layout),
to float round-off. The M_p depend only on the bond directions: :meth:`precompute` builds them
once per graph and all layers of a network reuse them. Within a block the paths are ordered
by output dimension, so the per-edge weights multiply by broadcasting (no expanded copy), and
:meth:`aggregate` sums each piece over edges before concatenating (on N rows, not E).
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch
import torch.utils.checkpoint
from e3nn import o3
from torch import nn

from .common import scatter_sum


class FusedUVUTensorProduct(nn.Module):
    """Same maps as the e3nn ``TensorProduct`` ``tp`` (all instructions ``uvu``, weighted, per-sample weights).

    forward(x1 (E, irreps_in1.dim), weights (E, weight_numel), x2 (E, irreps_in2.dim)) → (E, irreps_out.dim);
    aggregate(...) → its sum over edges into destination nodes (N, irreps_out.dim).
    """

    def __init__(self, tp: o3.TensorProduct) -> None:
        super().__init__()
        if tp.shared_weights or tp.internal_weights:
            raise ValueError("FusedUVUTensorProduct needs per-sample external weights")
        self.irreps_in1, self.irreps_in2, self.irreps_out = tp.irreps_in1, tp.irreps_in2, tp.irreps_out
        self.weight_numel = tp.weight_numel
        offset = 0
        groups: dict[int, list[dict]] = defaultdict(list)
        self.triples: list[tuple[int, int, int, int]] = []  # (i_in2, l1, l2, l3) couplings needed
        for ins in tp.instructions:
            if ins.connection_mode != "uvu" or not ins.has_weight:
                raise ValueError(f"only weighted uvu instructions are fused, got {ins}")
            _, ir1 = self.irreps_in1[ins.i_in1]
            _, ir2 = self.irreps_in2[ins.i_in2]
            _, ir3 = self.irreps_out[ins.i_out]
            size = int(math.prod(ins.path_shape))  # (mul1, mul2 = 1) for uvu with scalar-channel SH
            key = (ins.i_in2, ir1.l, ir2.l, ir3.l)
            if key not in self.triples:
                self.triples.append(key)
            groups[ins.i_in1].append({"i_out": ins.i_out, "alpha": float(ins.path_weight), "offset": offset,
                                      "size": size, "dim": ir3.dim, "coupling": self.triples.index(key)})
            offset += size
        if offset != tp.weight_numel:
            raise AssertionError(f"weight layout mismatch: {offset} != {tp.weight_numel}")
        self.groups = dict(groups)
        for l1, l2, l3 in {(t[1], t[2], t[3]) for t in self.triples}:
            w3j = o3.wigner_3j(l1, l2, l3, dtype=torch.float64).to(torch.get_default_dtype())
            self.register_buffer(f"w3j_{l1}_{l2}_{l3}", w3j, persistent=False)
        self._slices1 = self.irreps_in1.slices()
        self._slices2 = self.irreps_in2.slices()
        self._out_dims = [mul * ir.dim for mul, ir in self.irreps_out]
        self._plan = self._make_plan()

    def _make_plan(self) -> list[dict]:
        """Per input block: paths sorted by output dimension, runs of equal dimension, and where
        every output element (slot, u, k) lands among the concatenated pieces."""
        out_offsets = [sl.start for sl in self.irreps_out.slices()]
        index = torch.full((sum(self._out_dims),), -1, dtype=torch.long)
        duplicate, contiguous, flat = False, True, 0
        plan = []
        for i_in1, paths in self.groups.items():
            mul, ir = self.irreps_in1[i_in1]
            offs = [p["offset"] for p in paths]
            contiguous &= offs == list(range(offs[0], offs[0] + mul * len(paths), mul)) and all(
                p["size"] == mul for p in paths)
            order = sorted(range(len(paths)), key=lambda j: paths[j]["dim"])  # stable
            runs, start = [], 0
            while start < len(order):
                d = paths[order[start]]["dim"]
                stop = start
                while stop < len(order) and paths[order[stop]]["dim"] == d:
                    stop += 1
                runs.append((d, start, stop))
                for u in range(mul):  # piece layout (u, path in run, k)
                    for j in range(start, stop):
                        p = paths[order[j]]
                        for k in range(d):
                            target = out_offsets[p["i_out"]] + u * d + k
                            duplicate |= bool(index[target] >= 0)
                            index[target] = flat + u * (stop - start) * d + (j - start) * d + k
                flat += mul * (stop - start) * d
                start = stop
            key = ("coupling", *[(self.triples[paths[j]["coupling"]], paths[j]["alpha"]) for j in order])
            plan.append({"i_in1": i_in1, "mul": mul, "d1": ir.dim, "w_start": offs[0], "n_paths": len(paths),
                         "order": order, "identity": order == sorted(order), "runs": runs, "key": key})
            self.register_buffer(f"order_{i_in1}", torch.tensor(order), persistent=False)
        self._simple = contiguous and not duplicate
        self.register_buffer("out_index", index.clamp(min=0), persistent=False)
        self.register_buffer("out_mask", (index >= 0).to(torch.get_default_dtype()), persistent=False)
        return plan

    def couplings(self, x2: torch.Tensor, cache: dict | None = None) -> list[torch.Tensor]:
        """Geometry-only matrices (E, 2l1+1, 2l3+1), one per (input-2 block, l1, l2, l3).

        ``cache`` (a dict) shares them between layers that read the same ``x2``.
        """
        cache = {} if cache is None else cache
        out = []
        for key in self.triples:
            if key not in cache:
                i_in2, l1, l2, l3 = key
                y = x2[:, self._slices2[i_in2]]
                w3j = getattr(self, f"w3j_{l1}_{l2}_{l3}").to(y.dtype)
                cache[key] = torch.einsum("ej,ijk->eik", y, w3j)
            out.append(cache[key])
        return out

    def precompute(self, x2: torch.Tensor, cache: dict) -> None:
        """Fill ``cache`` with every geometry-only tensor the products read: per block, the
        α-scaled couplings of its paths side by side, (E, 2l1+1, Σ_p (2l3+1)). Forward passes
        then only read the cache (needed when a layer is recomputed under gradient checkpointing)."""
        if all(plan["key"] in cache for plan in self._plan):
            return
        couplings = self.couplings(x2)  # not kept: only the α-scaled concatenations are read
        for plan in self._plan:
            if plan["key"] not in cache:
                paths = self.groups[plan["i_in1"]]
                cache[plan["key"]] = torch.cat(
                    [paths[j]["alpha"] * couplings[paths[j]["coupling"]] for j in plan["order"]], dim=2)

    def _pieces(self, x1: torch.Tensor, weights: torch.Tensor, cache: dict, src: torch.Tensor | None):
        """Per (input block, run of equal output dimension): the products on every edge, (E, mul·P·d)."""
        e = weights.shape[0]
        for plan in self._plan:
            mul, n_paths = plan["mul"], plan["n_paths"]
            xb = x1[:, self._slices1[plan["i_in1"]]].reshape(-1, mul, plan["d1"])
            if src is not None:
                xb = xb.index_select(0, src)  # slice nodes (cheap backward), then gather edges
            y = torch.bmm(xb, cache[plan["key"]])  # (E, mul, D)
            w = weights[:, plan["w_start"]: plan["w_start"] + mul * n_paths].reshape(e, n_paths, mul)
            if not plan["identity"]:
                w = w.index_select(1, getattr(self, f"order_{plan['i_in1']}"))
            w = w.transpose(1, 2)  # (E, mul, P) in the sorted path order
            # split, not slices: its backward is one concatenation instead of a zero-filled
            # (E, mul, D) gradient per run
            y_runs = torch.split(y, [(b - a) * d for d, a, b in plan["runs"]], dim=2)
            w_runs = torch.split(w, [b - a for _, a, b in plan["runs"]], dim=2)
            for (d, a, b), y_run, w_run in zip(plan["runs"], y_runs, w_runs):
                yield (y_run.reshape(e, mul, b - a, d) * w_run[..., None]).reshape(e, -1)

    def _permute(self, flat: torch.Tensor) -> torch.Tensor:
        """Concatenated pieces → e3nn's ``irreps_out`` layout: (R, width) → (R, irreps_out.dim)."""
        return flat.index_select(1, self.out_index) * self.out_mask

    def _cache(self, x2: torch.Tensor | None, cache: dict | None) -> dict:
        if cache is None:
            if x2 is None:
                raise ValueError("pass the edge spherical harmonics x2 or a cache filled by precompute")
            cache = {}
        if x2 is not None:
            self.precompute(x2, cache)
        return cache

    def forward(self, x1: torch.Tensor, weights: torch.Tensor, x2: torch.Tensor | None = None,
                src: torch.Tensor | None = None, cache: dict | None = None) -> torch.Tensor:
        """Per-edge products (E, irreps_out.dim). x1: (E, dim1) per-edge inputs, or (N, dim1) node
        features gathered by ``src`` (E,); x2 (E, dim2), or None when ``cache`` holds :meth:`precompute`'s tensors."""
        if not self._simple:
            return self._forward_general(x1, weights, self.couplings(x2, cache), src)
        cache = self._cache(x2, cache)
        return self._permute(torch.cat(list(self._pieces(x1, weights, cache, src)), dim=1))

    def aggregate(self, x1: torch.Tensor, weights: torch.Tensor, src: torch.Tensor, dst: torch.Tensor, n: int,
                  x2: torch.Tensor | None = None, cache: dict | None = None,
                  edge_chunk: int | None = None) -> torch.Tensor:
        """Σ over edges e with dst[e] = i of the products: (n, irreps_out.dim). Each piece is summed
        over edges on its own, so no (E, width) concatenation or permutation is ever built.

        ``edge_chunk``: evaluate the edges in chunks of this many, each under gradient
        checkpointing, so that only one chunk's (E_chunk, width) messages are alive at a time
        (memory for compute: the chunk's products are evaluated again during backward).
        """
        if not self._simple:
            return scatter_sum(self._forward_general(x1, weights, self.couplings(x2, cache), src), dst, n)
        cache = self._cache(x2, cache)
        keys = [pl["key"] for pl in self._plan]
        e = weights.shape[0]
        if not edge_chunk or edge_chunk >= e:
            return self._permute(self._sum_pieces(x1, weights, src, dst, n, *[cache[k] for k in keys]))
        total = None
        for start in range(0, e, edge_chunk):
            sl = slice(start, min(start + edge_chunk, e))
            args = (x1, weights[sl], src[sl], dst[sl], n, *[cache[k][sl] for k in keys])
            part = (torch.utils.checkpoint.checkpoint(self._sum_pieces, *args, use_reentrant=False)
                    if torch.is_grad_enabled() else self._sum_pieces(*args))
            total = part if total is None else total + part
        return self._permute(total)

    def _sum_pieces(self, x1, weights, src, dst, n, *couplings) -> torch.Tensor:
        """Pieces summed over edges and concatenated, internal column order: (n, width)."""
        cache = {pl["key"]: m for pl, m in zip(self._plan, couplings)}
        return torch.cat([scatter_sum(piece, dst, n) for piece in self._pieces(x1, weights, cache, src)], dim=1)

    def _forward_general(self, x1, weights, couplings, src):
        if src is not None:
            x1 = x1.index_select(0, src)
        e = x1.shape[0]
        slots: list[torch.Tensor | None] = [None] * len(self._out_dims)
        for i_in1, paths in self.groups.items():
            mul, ir = self.irreps_in1[i_in1]
            xb = x1[:, self._slices1[i_in1]].reshape(e, mul, ir.dim)
            m = torch.cat([couplings[p["coupling"]] for p in paths], dim=2)  # (E, d1, D)
            y = torch.bmm(xb, m)  # (E, mul, D)
            w = torch.cat([
                (p["alpha"] * weights[:, p["offset"]: p["offset"] + p["size"]]).unsqueeze(-1).expand(e, mul, p["dim"])
                for p in paths
            ], dim=2)
            y = y * w
            start = 0
            for p in paths:
                block = y[:, :, start: start + p["dim"]].reshape(e, mul * p["dim"])
                start += p["dim"]
                j = p["i_out"]
                slots[j] = block if slots[j] is None else slots[j] + block
        parts = [s if s is not None else x1.new_zeros((e, d)) for s, d in zip(slots, self._out_dims)]
        return torch.cat(parts, dim=1)
