"""The SE(3)-equivariant GNN of Pezzicoli, Charpiat & Landes (SciPost Phys. 2024), in e3nn.

Architecture
------------
- Node input: particle type → learned embedding of ``n_scalars`` 0e channels.
- Edge attributes: real spherical harmonics Y_l(r̂_ij), l ≤ ``l_max``, and a Bessel radial
  basis of |r_ij| with a smooth cutoff at ``cutoff``.
- Interaction layer (``n_layers`` of them): a linear mix of the node features, an equivariant
  convolution ``h_i' = Σ_j TP(h_j, Y(r̂_ij); w(|r_ij|)) / √⟨n_neigh⟩`` whose tensor-product
  weights come from an MLP of the radial basis, a linear map to the gate's input, a gated
  nonlinearity (SiLU on even scalars, tanh on odd scalars, sigmoid gates on l > 0), and a
  residual self-connection. Hidden features carry ``mul`` channels of every l ≤ l_max with
  both parities (e.g. 0e, 0o, 1o, 1e, 2e, 2o) as in the paper.
- Readout: the invariant 0e channels of every layer, concatenated, through an MLP to one
  output per (particle type, timescale); each particle reads its type's head, so all
  timescales are predicted at once (multi-variate regression).

Tensor products: ``tp_mode='uvu'`` (default) is the depthwise "uvu" product of NequIP (each
channel of h_j is combined with Y_l, weights per channel and path): the paper-sized model
stays in tens of thousands of parameters and trains on a CPU. ``tp_mode='fc'`` is the fully
connected ("uvw") product, ~7× costlier (measured on one N = 1000 graph). Exact widths of the
published model (code: Zenodo 10805522) could not be checked here; its public review reports
≈ 50 k parameters (hackmd.io/@flandes/SJHejb5ja), which the paper preset matches.
"""

from __future__ import annotations

import torch
import torch.utils.checkpoint
from e3nn import o3
from e3nn.nn import FullyConnectedNet, Gate
from torch import nn

from . import cpu_kernel, cueq_tp
from .common import GraphBatch, edge_spherical_harmonics, radial_basis, scatter_sum, select_by_type
from .cpu_kernel import KernelEdges, KernelPlan, UVUConvolution
from .fused_tp import FusedUVUTensorProduct
from .spec import ModelSpec


def hidden_irreps(mul: int, l_max: int, mul_scalar: int | None = None) -> o3.Irreps:
    """``mul`` channels of each l ≤ l_max with both parities (scalars: ``mul_scalar``)."""
    ms = mul if mul_scalar is None else mul_scalar
    parts = [(ms, (0, 1)), (ms, (0, -1))]
    for l in range(1, l_max + 1):
        parts += [(mul, (l, (-1) ** l)), (mul, (l, -((-1) ** l)))]
    return o3.Irreps(parts).simplify()


class EquivariantConv(nn.Module):
    """One interaction layer: linear → radial-weighted TP convolution → linear → gate (+ skip).

    Shapes: x (N, irreps_in.dim) → (N, irreps_out.dim); edge_sh (E, (l_max+1)²);
    edge_basis (E, n_basis); src, dst (E,). ``use_cueq``: run the uvu convolution on
    cuEquivariance (:mod:`.cueq_tp`): None (default) on CUDA tensors where its CUDA ops import,
    True wherever cuequivariance-torch imports (its PyTorch path off CUDA), False never.
    """

    def __init__(
        self,
        irreps_in: o3.Irreps,
        irreps_out: o3.Irreps,
        irreps_sh: o3.Irreps,
        n_basis: int,
        radial_hidden: int,
        avg_neighbors: float,
        tp_mode: str = "uvu",
        fused: bool = True,
        edge_chunk: int | None = None,
    ) -> None:
        super().__init__()
        self.edge_chunk = edge_chunk
        self.irreps_in, self.irreps_out = o3.Irreps(irreps_in), o3.Irreps(irreps_out)
        self.avg_neighbors = float(avg_neighbors)
        scalars = o3.Irreps([(m, ir) for m, ir in self.irreps_out if ir.l == 0])
        gated = o3.Irreps([(m, ir) for m, ir in self.irreps_out if ir.l > 0])
        gates = o3.Irreps([(m, "0e") for m, _ in gated])
        acts = {1: torch.nn.functional.silu, -1: torch.tanh}
        self.gate = Gate(scalars, [acts[ir.p] for _, ir in scalars], gates, [torch.sigmoid] * len(gates), gated)
        self.lin1 = o3.Linear(self.irreps_in, self.irreps_in)
        if tp_mode == "uvu":
            # every path (l_in ⊗ l_sh → l_out) allowed by parity and l_out ≤ l_max keeps channels apart
            targets = {ir for _, ir in self.gate.irreps_in}
            mid, instr = [], []
            for i, (mul, ir_in) in enumerate(self.irreps_in):
                for j, (_, ir_sh) in enumerate(irreps_sh):
                    for ir_out in ir_in * ir_sh:
                        if ir_out in targets:  # a path feeds the gate only if its output exists
                            mid.append((mul, ir_out))
                            instr.append((i, j, len(mid) - 1, "uvu", True))
            irreps_mid = o3.Irreps(mid)
            irreps_mid, perm, _ = irreps_mid.sort()
            instr = [(a, b, perm[c], mode, w) for a, b, c, mode, w in instr]
            self.tp = o3.TensorProduct(
                self.irreps_in, irreps_sh, irreps_mid, instr, shared_weights=False, internal_weights=False
            )
        elif tp_mode == "fc":
            self.tp = o3.FullyConnectedTensorProduct(
                self.irreps_in, irreps_sh, self.gate.irreps_in, shared_weights=False, internal_weights=False
            )
        else:
            raise ValueError(f"tp_mode must be 'uvu' or 'fc', got {tp_mode!r}")
        self.fused = FusedUVUTensorProduct(self.tp) if (fused and tp_mode == "uvu") else None
        self.plan = KernelPlan(self.tp) if self.fused is not None else None  # the compiled CPU kernel's layout
        self.radial = FullyConnectedNet(
            [n_basis, radial_hidden, radial_hidden, self.tp.weight_numel], torch.nn.functional.silu
        )
        self.lin2 = o3.Linear(self.tp.irreps_out, self.gate.irreps_in)
        self.skip = o3.Linear(self.irreps_in, self.irreps_out)
        self.use_cueq: bool | None = None

    def uses_cueq(self, x: torch.Tensor) -> bool:
        """Whether the convolution runs on cuEquivariance for node features like ``x``."""
        return self.fused is not None and cueq_tp.wanted(self.tp, x, self.use_cueq)

    def forward(
        self, x: torch.Tensor, edge_sh: torch.Tensor, edge_basis: torch.Tensor, src: torch.Tensor, dst: torch.Tensor,
        coupling_cache: dict | None = None,
    ) -> torch.Tensor:
        h = self.lin1(x)
        w = self.radial(edge_basis)
        if self.uses_cueq(h):  # gather, products and sum over edges in one kernel (edge_chunk unused)
            agg = cueq_tp.adapter(self.tp, h.device, h.dtype).aggregate(h, w, src, dst, x.shape[0], edge_sh)
        elif self.fused is not None:
            # geometry couplings: read from coupling_cache when SE3GNN filled it, else computed
            agg = self.fused.aggregate(h, w, src, dst, x.shape[0], x2=edge_sh, cache=coupling_cache,
                                       edge_chunk=self.edge_chunk)
        else:
            agg = scatter_sum(self.tp(h[src], edge_sh, w), dst, x.shape[0])
        agg = agg / self.avg_neighbors**0.5
        return self.skip(x) + self.gate(self.lin2(agg))

    def forward_kernel(self, x: torch.Tensor, edges: KernelEdges) -> torch.Tensor:
        """The same layer on the compiled CPU kernel (:mod:`.cpu_kernel`): radial weights per
        undirected pair, messages summed without per-edge tensors. x (N, irreps_in.dim) float32."""
        h = self.lin1(x)
        w = self.radial(edges.basis)  # (P, weight_numel): equal for both directions of a pair
        agg = UVUConvolution.apply(h[:, self.plan.x_index], w, edges.coupling(self.plan), edges.pairs, self.plan)
        agg = agg[:, self.plan.out_index] / self.avg_neighbors**0.5
        return self.skip(x) + self.gate(self.lin2(agg))


class SE3GNN(nn.Module):
    """SE(3)-equivariant GNN predicting per-particle propensities at ``n_outputs`` timescales.

    Parameters
    ----------
    n_outputs : timescales predicted at once; n_types : particle species (2 for KA);
    mul : channels per (l, parity) in hidden layers; mul_scalar : 0e/0o channels (default mul);
    l_max : highest order of spherical harmonics and features; n_layers : interaction layers;
    cutoff : graph radius [σ_AA]; n_basis : radial basis size; radial_hidden : width of the
    radial MLP; readout_hidden : width of the decoder MLP; avg_neighbors : typical neighbour
    count (normalizes sums); tp_mode : 'uvu' or 'fc'; n_extra : extra scalar node inputs;
    fused : evaluate the uvu products with :class:`FusedUVUTensorProduct` (same outputs, faster)
    instead of e3nn's per-path code (kept as the reference implementation); checkpoint :
    gradient checkpointing per layer (memory of one layer's edge messages instead of all of
    them, for ~30 % more compute); edge_chunk : evaluate the fused products on this many edges
    at a time, each chunk checkpointed (with ``checkpoint``, what lets the paper-size model train
    on N = 4096 in < 4 GiB; also bounds inference memory; unused on cuEquivariance, which builds
    no per-edge messages); readout_dropout : dropout in the
    decoder MLP; readout_coarse_grain : rounds of neighbour averaging of the learned invariants
    appended before the decoder (0: off).

    Backends of the uvu convolution (same weights, same outputs): on CPU the compiled kernel
    (:mod:`.cpu_kernel`, attribute ``use_cpu_kernel``), on CUDA cuEquivariance (:mod:`.cueq_tp`,
    attribute ``use_cueq``: None = automatic, True = forced, False = off; ``EQUIGLASS_CUEQ=0``
    turns it off everywhere), else :class:`FusedUVUTensorProduct`.
    """

    def __init__(
        self,
        n_outputs: int,
        n_types: int = 2,
        mul: int = 8,
        mul_scalar: int | None = None,
        l_max: int = 2,
        n_layers: int = 4,
        cutoff: float = 2.0,
        n_basis: int = 8,
        radial_hidden: int = 32,
        readout_hidden: int = 32,
        avg_neighbors: float = 40.0,
        tp_mode: str = "uvu",
        n_extra: int = 0,
        fused: bool = True,
        checkpoint: bool = False,
        edge_chunk: int | None = None,
        readout_dropout: float = 0.0,
        readout_coarse_grain: int = 0,
    ) -> None:
        super().__init__()
        self.n_outputs, self.n_types = n_outputs, n_types
        self.checkpoint = bool(checkpoint)
        self.use_cpu_kernel = True
        self.l_max, self.cutoff, self.n_basis = l_max, float(cutoff), n_basis
        ms = mul if mul_scalar is None else mul_scalar
        self.embed = nn.Embedding(n_types, ms)
        self.extra = nn.Linear(n_extra, ms, bias=False) if n_extra else None
        irreps_sh = o3.Irreps.spherical_harmonics(l_max)
        irreps_h = hidden_irreps(mul, l_max, mul_scalar)
        irreps = o3.Irreps(f"{ms}x0e")
        layers = []
        for _ in range(n_layers):
            layers.append(
                EquivariantConv(irreps, irreps_h, irreps_sh, n_basis, radial_hidden, avg_neighbors, tp_mode, fused,
                                edge_chunk)
            )
            irreps = irreps_h
        self.layers = nn.ModuleList(layers)
        self.irreps_hidden = irreps_h
        if irreps_h[0].ir != o3.Irrep("0e"):
            raise AssertionError(f"hidden irreps must start with 0e, got {irreps_h}")
        self._scalar_slice = irreps_h.slices()[0]  # the 0e block
        n_inv = ms * (n_layers + 1)
        self.readout_coarse_grain = int(readout_coarse_grain)
        drop = [nn.Dropout(readout_dropout)] if readout_dropout > 0 else []
        self.readout = nn.Sequential(
            nn.Linear(n_inv * (1 + self.readout_coarse_grain), readout_hidden), nn.SiLU(), *drop,
            nn.Linear(readout_hidden, readout_hidden), nn.SiLU(), *drop,
            nn.Linear(readout_hidden, n_types * n_outputs),
        )

    @property
    def use_cueq(self) -> bool | None:
        """cuEquivariance for the convolutions: None automatic (CUDA), True forced, False off."""
        return self.layers[0].use_cueq if len(self.layers) else None

    @use_cueq.setter
    def use_cueq(self, value: bool | None) -> None:
        for layer in self.layers:
            layer.use_cueq = value

    def edge_features(self, vec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(E, 3) bond vectors → (spherical harmonics (E, (l_max+1)²), radial basis (E, n_basis))."""
        r = vec.norm(dim=-1)
        return edge_spherical_harmonics(vec, self.l_max), radial_basis(r, self.cutoff, self.n_basis)

    def kernel_usable(self, vec: torch.Tensor) -> bool:
        """Whether the compiled CPU kernel can run this model on these bond vectors."""
        return (self.use_cpu_kernel and not self.use_cueq and vec.device.type == "cpu" and vec.dtype == torch.float32
                and not vec.requires_grad and all(layer.plan is not None for layer in self.layers)
                and self.embed.weight.dtype == torch.float32 and cpu_kernel.library() is not None)

    def edge_geometry(self, src: torch.Tensor, dst: torch.Tensor, vec: torch.Tensor, n_nodes: int,
                      couplings: bool = True) -> KernelEdges | tuple[torch.Tensor, torch.Tensor]:
        """What the layers read of a graph's geometry (no gradient): per undirected pair for the
        CPU kernel (:class:`KernelEdges`, with every layer's couplings if ``couplings``), else the
        per-edge (spherical harmonics, radial basis)."""
        with torch.no_grad():
            pairs = cpu_kernel.pair_geometry(src, dst, vec, n_nodes) if self.kernel_usable(vec) else None
            if pairs is None:
                return self.edge_features(vec)
            edges = KernelEdges(pairs, *self.edge_features(pairs.vec), {})
            if couplings:
                for layer in self.layers:
                    edges.coupling(layer.plan)
            return edges

    def features(self, batch: GraphBatch, edge_feats: KernelEdges | tuple[torch.Tensor, torch.Tensor] | None = None
                 ) -> list[torch.Tensor]:
        """Node features after the embedding and after each layer: list of (N, dim_k)."""
        if edge_feats is None:
            edge_feats = self.edge_geometry(batch.src, batch.dst, batch.vec, batch.n_nodes, couplings=False)
        x = self.embed(batch.types)
        if self.extra is not None and batch.extra is not None:
            x = x + self.extra(batch.extra)
        feats = [x]
        if isinstance(edge_feats, KernelEdges):
            for layer in self.layers:
                if self.checkpoint and torch.is_grad_enabled():
                    x = torch.utils.checkpoint.checkpoint(layer.forward_kernel, x, edge_feats, use_reentrant=False)
                else:
                    x = layer.forward_kernel(x, edge_feats)
                feats.append(x)
            return feats
        sh, basis = edge_feats
        cache: dict = {}  # geometry couplings shared by all layers, computed before any layer runs
        for layer in self.layers:
            if layer.fused is not None and not layer.uses_cueq(x):
                layer.fused.precompute(sh, cache)
        for layer in self.layers:
            if self.checkpoint and torch.is_grad_enabled():
                # keep only each layer's input; its edge messages are recomputed during backward
                x = torch.utils.checkpoint.checkpoint(layer, x, sh, basis, batch.src, batch.dst, cache,
                                                      use_reentrant=False)
            else:
                x = layer(x, sh, basis, batch.src, batch.dst, cache)
            feats.append(x)
        return feats

    def invariants(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """Concatenated 0e channels of the embedding and every layer: (N, mul_scalar·(L+1))."""
        return torch.cat([feats[0]] + [f[:, self._scalar_slice] for f in feats[1:]], dim=-1)

    def coarse_grained(self, inv: torch.Tensor, batch: GraphBatch) -> torch.Tensor:
        """``inv`` with ``readout_coarse_grain`` rounds of neighbour averages appended: (N, F·(1 + rounds)).

        Each round averages the previous one over the graph neighbours (r < cutoff), as coarse-grained
        descriptors average bond-order parameters over a neighbourhood (Boattini et al. 2021).
        """
        parts, x = [inv], inv
        deg = scatter_sum(torch.ones_like(batch.dst, dtype=inv.dtype)[:, None], batch.dst, inv.shape[0]).clamp(min=1)
        for _ in range(self.readout_coarse_grain):
            x = scatter_sum(x[batch.src], batch.dst, inv.shape[0]) / deg
            parts.append(x)
        return torch.cat(parts, dim=-1)

    def readout_features(self, batch: GraphBatch, edge_feats: tuple[torch.Tensor, torch.Tensor] | None = None
                         ) -> torch.Tensor:
        """What the decoder reads: the invariants, coarse-grained if configured."""
        inv = self.invariants(self.features(batch, edge_feats))
        return self.coarse_grained(inv, batch) if self.readout_coarse_grain else inv

    def forward(self, batch: GraphBatch, edge_feats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Standardized propensities (N, n_outputs)."""
        return select_by_type(self.readout(self.readout_features(batch, edge_feats)), batch.types, self.n_outputs)


def _hparams(hp: dict, context: dict) -> dict:
    """Constructor arguments: the graph cutoff, the neighbour count and node extras of the data."""
    out = dict(hp)
    out.setdefault("cutoff", float(context["graph_cutoff"]))
    out.setdefault("avg_neighbors", float(context["avg_neighbors"]))
    if context.get("n_extra"):
        out["n_extra"] = int(context["n_extra"])
    return out


COUPLING_CACHE_BYTES = 2 * 2**30  # couplings kept per training sample up to this total (else recomputed)


def _forward(model: SE3GNN, batch: GraphBatch, samples, cache: dict | None) -> torch.Tensor:
    """With ``cache``, each sample's geometry (pairs, spherical harmonics, radial bases and, within
    :data:`COUPLING_CACHE_BYTES`, the couplings) is computed once."""
    if cache is None:
        return model(batch)
    parts = []
    for s in samples:
        if id(s) not in cache:
            g = s.graph
            dev = batch.vec.device
            vec = torch.tensor(g.vec, dtype=torch.float32, device=dev)
            src, dst = torch.as_tensor(g.src, device=dev), torch.as_tensor(g.dst, device=dev)
            kept = cache.get("_coupling_bytes", 0)
            geo = model.edge_geometry(src, dst, vec, s.n, couplings=kept < COUPLING_CACHE_BYTES)
            if isinstance(geo, KernelEdges):
                cache["_coupling_bytes"] = kept + sum(m.numel() * 4 for m in geo.couplings.values())
            cache[id(s)] = geo
        parts.append(cache[id(s)])
    if isinstance(parts[0], KernelEdges):
        edges = cpu_kernel.concat_edges(parts, [s.n for s in samples])
        if len(parts) > 1 or not parts[0].couplings:
            edges = KernelEdges(edges.pairs, edges.sh, edges.basis, dict(edges.couplings))  # never grow the cache
        return model(batch, edges)
    return model(batch, (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])))


def _match_parameters(hp: dict, reference: dict, vary: str, n_outputs: int, context: dict) -> dict:
    """``hp`` with ``vary`` (e.g. ``mul``) set so the parameter count is nearest the reference's."""
    from .common import count_parameters

    def n_params(h: dict) -> int:
        return count_parameters(SE3GNN(n_outputs=n_outputs, **_hparams(h, context)))

    target = n_params({**reference, **{k: v for k, v in hp.items() if k not in reference}})
    lo, hi = 1, 2  # parameters grow with the width: bracket the target, then bisect
    while n_params({**hp, vary: hi}) < target and hi < 512:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if n_params({**hp, vary: mid}) < target else (lo, mid)
    best = min((lo, hi), key=lambda v: (abs(n_params({**hp, vary: v}) - target), v))
    return {**hp, vary: best, "matched_parameters": target}


SPEC = ModelSpec(build=lambda n_outputs, hp, n_descriptors=0: SE3GNN(
    n_outputs=n_outputs, **{k: v for k, v in hp.items() if k != "matched_parameters"}),
                 hparams=_hparams, forward=_forward, match_parameters=_match_parameters)
