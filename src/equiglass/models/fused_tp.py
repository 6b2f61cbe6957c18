"""A fused drop-in for e3nn's depthwise ("uvu") tensor product with per-edge weights.

e3nn builds one small einsum per instruction (path) plus zero-filled buffers and copies; on
a CPU with tens of thousands of edges the per-op overhead dominates. Here every path that
reads the same input irrep block is evaluated in one batched matrix product:

    M_p[e, i, k] = Σ_j C^{l1 l2 l3}_{ijk} Y_{l2}[e, j]                 (geometry only)
    out_p[e, u, k] = α_p · w_p[e, u] · Σ_i x_{l1}[e, u, i] · M_p[e, i, k]

with C the Wigner 3j symbols and α_p e3nn's path normalization, so the output equals
``TensorProduct.forward(x1, x2, weight)`` of the module it was built from (same weight layout),
to float round-off. The M_p depend only on the bond directions: :meth:`couplings` computes them
once and all layers of a network reuse them.
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch
from e3nn import o3
from torch import nn


class FusedUVUTensorProduct(nn.Module):
    """Same maps as the e3nn ``TensorProduct`` ``tp`` (all instructions ``uvu``, weighted, per-sample weights).

    forward(x1 (E, irreps_in1.dim), weights (E, weight_numel), couplings) → (E, irreps_out.dim).
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
        # Per input block: its paths' weights are one contiguous slice (e3nn orders instructions
        # that way when they are listed by input block), α per path, and each path's width.
        self._plan = []
        out_offsets = [sl.start for sl in self.irreps_out.slices()]
        total = 0
        for i_in1, paths in self.groups.items():
            mul, ir = self.irreps_in1[i_in1]
            offs = [p["offset"] for p in paths]
            contiguous = offs == list(range(offs[0], offs[0] + mul * len(paths), mul)) and all(
                p["size"] == mul for p in paths)
            dims = [p["dim"] for p in paths]
            width = sum(dims)
            self._plan.append({"i_in1": i_in1, "mul": mul, "d1": ir.dim, "contiguous": contiguous,
                               "w_start": offs[0], "w_stop": offs[0] + mul * len(paths), "dims": dims,
                               "flat_start": total})
            self.register_buffer(f"alpha_{i_in1}", torch.tensor([p["alpha"] for p in paths]), persistent=False)
            self.register_buffer(f"repeats_{i_in1}", torch.tensor(dims), persistent=False)
            total += mul * width
        self._flat_width = total
        # where each output element (slot, u, k) sits in the concatenated per-block outputs (E, mul·D)
        index = torch.full((sum(self._out_dims),), -1, dtype=torch.long)
        duplicate = False
        for plan, paths in zip(self._plan, self.groups.values()):
            mul, width, col = plan["mul"], sum(plan["dims"]), 0
            for p in paths:
                base = out_offsets[p["i_out"]]
                for u in range(mul):
                    for k in range(p["dim"]):
                        target = base + u * p["dim"] + k
                        duplicate |= bool(index[target] >= 0)
                        index[target] = plan["flat_start"] + u * width + col + k
                col += p["dim"]
        self._simple = (not duplicate) and all(pl["contiguous"] for pl in self._plan)
        self.register_buffer("out_index", index.clamp(min=0), persistent=False)
        self.register_buffer("out_mask", (index >= 0).to(torch.get_default_dtype()), persistent=False)

    def couplings(self, x2: torch.Tensor, cache: dict | None = None) -> list[torch.Tensor]:
        """Geometry-only matrices M (E, 2l1+1, 2l3+1), one per (input-2 block, l1, l2, l3).

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
        """Fill ``cache`` with every geometry-only tensor :meth:`forward` reads (couplings and
        their per-block concatenations), so that forward passes only read it (needed when a
        layer is recomputed under gradient checkpointing)."""
        couplings = self.couplings(x2, cache)
        for paths in self.groups.values():
            key = ("cat", *[self.triples[p["coupling"]] for p in paths])
            if key not in cache:
                cache[key] = torch.cat([couplings[p["coupling"]] for p in paths], dim=2)

    def forward(self, x1: torch.Tensor, weights: torch.Tensor, couplings: list[torch.Tensor],
                src: torch.Tensor | None = None, permute: bool = True,
                cache: dict | None = None) -> torch.Tensor:
        """x1: (E, dim1) per-edge inputs, or (N, dim1) node features gathered by ``src`` (E,).

        With ``permute=False`` the columns come in an internal order; :meth:`permute` maps any
        linear function of them (e.g. their sum over edges) to e3nn's layout, on fewer rows.
        ``cache`` shares the concatenated couplings between layers with the same paths.
        """
        if not self._simple:
            out = self._forward_general(x1, weights, couplings, src)
            return out if permute else self._unpermute_general(out)
        e = weights.shape[0]
        flats = []
        for plan, paths in zip(self._plan, self.groups.values()):
            i_in1, mul, d1 = plan["i_in1"], plan["mul"], plan["d1"]
            xb = x1[:, self._slices1[i_in1]].reshape(-1, mul, d1)
            if src is not None:
                xb = xb.index_select(0, src)  # slice nodes (cheap backward), then gather edges
            key = ("cat", *[self.triples[p["coupling"]] for p in paths])
            if cache is not None and key in cache:
                m = cache[key]
            else:
                m = torch.cat([couplings[p["coupling"]] for p in paths], dim=2)  # (E, d1, D)
                if cache is not None:
                    cache[key] = m
            y = torch.bmm(xb, m)  # (E, mul, D)
            w = weights[:, plan["w_start"]: plan["w_stop"]].reshape(e, len(paths), mul).transpose(1, 2)
            w = (w * getattr(self, f"alpha_{i_in1}")).repeat_interleave(getattr(self, f"repeats_{i_in1}"), dim=2)
            flats.append((y * w).reshape(e, -1))
        flat = torch.cat(flats, dim=1)
        return self.permute(flat) if permute else flat

    def permute(self, flat: torch.Tensor) -> torch.Tensor:
        """Internal column order → e3nn's ``irreps_out`` layout: (R, width) → (R, irreps_out.dim)."""
        if not self._simple:
            return flat
        return flat.index_select(1, self.out_index) * self.out_mask

    @staticmethod
    def _unpermute_general(out: torch.Tensor) -> torch.Tensor:
        return out  # the general path already returns e3nn's layout (permute is then the identity)

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
