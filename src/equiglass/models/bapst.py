"""The non-equivariant GNN of Bapst et al., Nature Physics 16, 448 (2020), in PyTorch.

Follows DeepMind's ``glassy_dynamics/graph_model.py`` (google-deepmind/deepmind-research): node
input = particle type (a scalar), edge input = relative position vector r_receiver − r_sender (3
components: not rotation invariant), an encoder of independent MLPs for nodes and edges, one
GraphNetwork core (edge MLP on [edge, sender, receiver]; node MLP on [node, Σ incoming edges])
applied ``n_recurrences`` times with shared weights, each time fed the concatenation of its
previous output and the encoded graph (skip connection), sum aggregation at the receivers, and
an MLP decoder on nodes. All MLPs have hidden sizes ``mlp_sizes`` = (64, 64) with ReLU, final
activation on (except the decoder). Edges connect pairs closer than the threshold (2.0),
self-pairs included as in their code (``include_self_edges``). Optional extra node inputs
(``n_extra``, e.g. the local potential energy) are concatenated to the type before the node
encoder. graph_nets concatenates [edge, receiver, sender] and [Σ received edges, node] instead:
the same function with the first core layers' input columns permuted, which
:mod:`equiglass.published_models` applies when it loads DeepMind's checkpoint (checked there to
reproduce their predictions to float32 round-off).

The published recipe (their ``train.py``), the defaults of the ``bapst`` family: initialization
``init='deepmind'`` (weights variance scaling 1.0, biases 0.1), one decoder for all particles
(``per_type_heads=False``), one model per timescale with a scalar output, Adam lr 1e-4, global
gradient-norm clip 1.0, L2 loss on type A only, random axis permutations and reflections of the
edge vectors (training settings ``per_timescale``, ``lr``, ``grad_clip``, ``loss_types``,
``augment_rotations``). ``init='sonnet'`` (zero biases) and per-type multi-output heads remain
options, as do inputs standardized over the training data (``standardize_inputs``: no parameters
added) and continuous O(3) augmentation (``rotation_group='o3'``)."""

from __future__ import annotations

import torch
from torch import nn

from .common import GraphBatch, scatter_sum, select_by_type
from .spec import ModelSpec

_TRUNC = 0.87962566103423978  # std of a unit normal truncated at ±2σ (TensorFlow's variance scaling)


def deepmind_linear(n_in: int, n_out: int) -> nn.Linear:
    """nn.Linear initialized as DeepMind's glassy_dynamics (TF1): weights
    ``variance_scaling_initializer(1.0)`` (fan_in, truncated normal: std √(1/n_in)/0.8796) and
    biases ``variance_scaling_initializer(0.1)`` (a 1-D shape has fan_in = n_out: std √(0.1/n_out)/0.8796)."""
    lin = nn.Linear(n_in, n_out)
    w, b = (1.0 / n_in) ** 0.5 / _TRUNC, (0.1 / n_out) ** 0.5 / _TRUNC
    nn.init.trunc_normal_(lin.weight, std=w, a=-2 * w, b=2 * w)
    nn.init.trunc_normal_(lin.bias, std=b, a=-2 * b, b=2 * b)
    return lin


def sonnet_linear(n_in: int, n_out: int) -> nn.Linear:
    """nn.Linear initialized as Sonnet's defaults (graph_nets): truncated normal with std 1/√fan_in, zero bias."""
    lin = nn.Linear(n_in, n_out)
    nn.init.trunc_normal_(lin.weight, std=n_in**-0.5, a=-2 * n_in**-0.5, b=2 * n_in**-0.5)
    nn.init.zeros_(lin.bias)
    return lin


INITS = {"deepmind": deepmind_linear, "sonnet": sonnet_linear}


def mlp(sizes: list[int], activate_final: bool = True, linear=sonnet_linear) -> nn.Sequential:
    """Linear layers of ``sizes`` with ReLU between them (and after the last if ``activate_final``)."""
    layers: list[nn.Module] = []
    for k in range(len(sizes) - 1):
        layers.append(linear(sizes[k], sizes[k + 1]))
        if k < len(sizes) - 2 or activate_final:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class BapstGNN(nn.Module):
    """Bapst et al. graph network. Input GraphBatch → (N, n_outputs) standardized propensities."""

    def __init__(
        self,
        n_outputs: int,
        n_types: int = 2,
        mlp_sizes: tuple[int, ...] = (64, 64),
        n_recurrences: int = 7,
        include_self_edges: bool = True,
        n_extra: int = 0,
        init: str = "sonnet",
        per_type_heads: bool = True,
        standardize_inputs: bool = False,
    ) -> None:
        super().__init__()
        self.standardize_inputs = standardize_inputs
        if standardize_inputs:  # set from the training data by SPEC.setup (buffers, not parameters)
            self.register_buffer("node_mean", torch.zeros(1 + n_extra))
            self.register_buffer("node_std", torch.ones(1 + n_extra))
            self.register_buffer("edge_rms", torch.ones(()))
        h = list(mlp_sizes)
        d = h[-1]
        linear = INITS[init]
        self.n_outputs, self.n_types = n_outputs, n_types
        self.n_recurrences = n_recurrences
        self.include_self_edges = include_self_edges
        self.n_extra = n_extra
        self.per_type_heads = per_type_heads
        self.node_encoder = mlp([1 + n_extra, *h], linear=linear)
        self.edge_encoder = mlp([3, *h], linear=linear)
        # core inputs: concatenation of the current latent and the encoding (2d each)
        self.edge_core = mlp([2 * d + 2 * d + 2 * d, *h], linear=linear)
        self.node_core = mlp([2 * d + d, *h], linear=linear)
        heads = n_types * n_outputs if per_type_heads else n_outputs  # DeepMind: one decoder for all nodes
        self.decoder = mlp([d, *h, heads], activate_final=False, linear=linear)

    def _edges(self, batch: GraphBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        src, dst = batch.src, batch.dst
        rel = -batch.vec  # r_receiver − r_sender, DeepMind's convention
        if self.include_self_edges:
            idx = torch.arange(batch.n_nodes, device=src.device)
            src, dst = torch.cat([src, idx]), torch.cat([dst, idx])
            rel = torch.cat([rel, rel.new_zeros((batch.n_nodes, 3))])
        return src, dst, rel

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        src, dst, rel = self._edges(batch)
        n = batch.n_nodes
        node_in = batch.types.to(rel.dtype)[:, None]
        if self.n_extra:
            node_in = torch.cat([node_in, batch.extra.to(rel.dtype)], dim=-1)
        if self.standardize_inputs:
            node_in = (node_in - self.node_mean) / self.node_std
            rel = rel / self.edge_rms
        node0 = self.node_encoder(node_in)
        edge0 = self.edge_encoder(rel)
        node, edge = node0, edge0
        for _ in range(self.n_recurrences):
            node_in = torch.cat([node, node0], dim=-1)
            edge_in = torch.cat([edge, edge0], dim=-1)
            edge = self._edge_update(edge_in, node_in, src, dst)
            node = self.node_core(torch.cat([node_in, scatter_sum(edge, dst, n)], dim=-1))
        out = self.decoder(node)
        return select_by_type(out, batch.types, self.n_outputs) if self.per_type_heads else out

    def _edge_update(self, edge_in: torch.Tensor, node_in: torch.Tensor, src: torch.Tensor,
                     dst: torch.Tensor) -> torch.Tensor:
        """edge_core([edge_in, node_in[src], node_in[dst]]) without building the (E, 6d) input.

        The first linear layer is split by input blocks; the sender and receiver blocks act on
        the N node rows before the gather (same weights and result, ~2x fewer FLOPs per edge).
        """
        first = self.edge_core[0]
        k = edge_in.shape[1]
        w_e, w_s, w_r = first.weight[:, :k], first.weight[:, k: 2 * k], first.weight[:, 2 * k:]
        pre = edge_in @ w_e.T + (node_in @ w_s.T)[src] + (node_in @ w_r.T)[dst] + first.bias
        return self.edge_core[1:](pre)


def standardize_inputs(model: BapstGNN, train_samples) -> None:
    """Fix the input scaling of ``model`` from the training samples: node inputs (type, extras)
    to zero mean and unit variance per column, bond vectors by their rms component [σ_AA]."""
    import numpy as np

    if not model.standardize_inputs:
        return
    nodes = np.concatenate([np.column_stack([s.graph.types.astype(np.float64),
                                             *([] if s.extra is None else [s.extra])]) for s in train_samples])
    vec = np.concatenate([s.graph.vec for s in train_samples]).astype(np.float64)
    std = nodes.std(axis=0)
    model.node_mean.copy_(torch.as_tensor(nodes.mean(axis=0)[: model.node_mean.numel()]))
    model.node_std.copy_(torch.as_tensor(np.where(std > 0, std, 1.0)[: model.node_std.numel()]))
    model.edge_rms.fill_(float(np.sqrt(np.mean(vec**2))))


def _hparams(hp: dict, context: dict) -> dict:
    out = dict(hp)
    if context.get("n_extra"):
        out["n_extra"] = int(context["n_extra"])
    return out


SPEC = ModelSpec(
    build=lambda n_outputs, hp, n_descriptors=0: BapstGNN(  # the recipe is a training choice, not an argument
        n_outputs=n_outputs, **{**{k: v for k, v in hp.items() if k != "recipe"},
                                "mlp_sizes": tuple(hp.get("mlp_sizes", (64, 64)))}),
    hparams=_hparams, forward=lambda model, batch, samples, cache: model(batch), setup=standardize_inputs)
