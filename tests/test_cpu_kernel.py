"""The compiled CPU kernel of the SE(3) GNN's convolution: e3nn's outputs and gradients, symmetries,
batching, threads, and the fallback to the PyTorch path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from e3nn import o3

from equiglass.dataset import Sample, to_batch
from equiglass.graphs import build_graph
from equiglass.models import cpu_kernel
from equiglass.models.se3 import SE3GNN, EquivariantConv, KernelEdges, _forward, hidden_irreps

pytestmark = pytest.mark.skipif(cpu_kernel.library() is None, reason=f"CPU kernel unavailable: {cpu_kernel.status()}")


def sample_of(state, cutoff: float = 2.0) -> Sample:
    rng = np.random.default_rng(0)
    return Sample("x", build_graph(state, cutoff), np.zeros((state.n, 1), np.float32), ["d"], 1.0,
                  rng.normal(size=(state.n, 3)).astype(np.float32))


def model_pair(**kw) -> tuple[SE3GNN, SE3GNN]:
    """The same weights twice: (e3nn reference, kernel)."""
    args = dict(n_outputs=3, mul=4, l_max=2, n_layers=2, radial_hidden=8, readout_hidden=8, avg_neighbors=30.0)
    args.update(kw)
    torch.manual_seed(0)
    ref = SE3GNN(fused=False, **args)
    fast = SE3GNN(**args)
    fast.load_state_dict(ref.state_dict())
    return ref, fast


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().abs().max() / b.detach().abs().max())


@pytest.mark.parametrize("mul, l_max, mul_scalar", [(4, 2, None), (8, 2, None), (5, 3, None), (3, 1, 6), (16, 1, None)])
def test_kernel_equals_e3nn_tensor_product_with_gradients(liquid_256, mul, l_max, mul_scalar):
    """Σ over incoming edges of e3nn's TensorProduct messages, for every block size the kernel
    specializes (4, 8, 16) and the generic one (3, 5, 6), l ≤ 3, both parities; gradients of the
    node features and of the per-pair radial weights."""
    irreps = hidden_irreps(mul, l_max, mul_scalar)
    sh_irreps = o3.Irreps.spherical_harmonics(l_max)
    torch.manual_seed(1)
    layer = EquivariantConv(irreps, irreps, sh_irreps, 4, 8, 30.0)
    b = to_batch([sample_of(liquid_256)])
    n = b.n_nodes
    pairs = cpu_kernel.pair_geometry(b.src, b.dst, b.vec, n)
    assert pairs is not None and pairs.n_pairs * 2 == len(b.src)
    edges = KernelEdges(pairs, o3.spherical_harmonics(sh_irreps, pairs.vec, True, normalization="component"),
                        torch.zeros(pairs.n_pairs, 4), {})
    h = irreps.randn(n, -1, requires_grad=True)
    w = torch.randn(pairs.n_pairs, layer.tp.weight_numel, requires_grad=True)
    out = cpu_kernel.UVUConvolution.apply(h[:, layer.plan.x_index], w, edges.coupling(layer.plan), pairs,
                                          layer.plan)[:, layer.plan.out_index]
    y = o3.spherical_harmonics(sh_irreps, b.vec, True, normalization="component")
    w_edges = w[torch.as_tensor(pairs.pair)]  # both directions of a pair share its radial weights
    ref = torch.zeros_like(out).index_add(0, b.dst, layer.tp(h[b.src], y, w_edges))
    assert rel(out, ref) < 1e-5
    g = torch.randn_like(ref)
    for a, r in zip(torch.autograd.grad((out * g).sum(), (h, w)), torch.autograd.grad((ref * g).sum(), (h, w))):
        assert rel(a, r) < 1e-5


@pytest.mark.parametrize("options", [{}, {"checkpoint": True}, {"readout_coarse_grain": 1}, {"tp_mode": "uvu", "l_max": 3}])
def test_model_on_kernel_equals_reference_with_gradients(liquid_256, options):
    ref, fast = model_pair(**options)
    b = to_batch([sample_of(liquid_256)])
    assert isinstance(fast.edge_geometry(b.src, b.dst, b.vec, b.n_nodes), KernelEdges)
    out_ref, out = ref(b), fast(b)
    assert rel(out, out_ref) < 1e-5
    out_ref.square().sum().backward()
    out.square().sum().backward()
    for (name, p_ref), p in zip(ref.named_parameters(), fast.parameters()):
        assert rel(p.grad, p_ref.grad) < 1e-4, name


def test_kernel_model_is_invariant_and_equivariant(liquid_256):
    """Rotations and the parity of the bond vectors, through the kernel path (float32)."""
    from scipy.spatial.transform import Rotation

    _, fast = model_pair()
    b = to_batch([sample_of(liquid_256)])
    rot = torch.as_tensor(Rotation.random(random_state=3).as_matrix(), dtype=torch.float32)
    with torch.no_grad():
        feats = fast.features(b)
        b_rot = to_batch([sample_of(liquid_256)])
        b_rot.vec = b_rot.vec @ rot.T
        feats_rot = fast.features(b_rot)
        b_par = to_batch([sample_of(liquid_256)])
        b_par.vec = -b_par.vec
        out_par = fast(b_par)
    d = fast.irreps_hidden.D_from_matrix(rot)
    for f, fr in zip(feats[1:], feats_rot[1:]):
        assert rel(fr, f @ d.T) < 1e-5
    assert rel(out_par, fast(b).detach()) < 1e-5


def test_batches_of_several_graphs_and_threads(liquid_256):
    """Two graphs side by side (cached per sample, concatenated) = each alone; 2 threads = 1 thread."""
    from equiglass.state import State

    _, fast = model_pair()
    moved = State(liquid_256.positions + np.random.default_rng(2).normal(scale=0.05, size=(liquid_256.n, 3)),
                  liquid_256.types, liquid_256.box)
    s1, s2 = sample_of(liquid_256), sample_of(moved)
    cache: dict = {}
    with torch.no_grad():
        both = _forward(fast, to_batch([s1, s2]), [s1, s2], cache)
        alone = torch.cat([fast(to_batch([s1])), fast(to_batch([s2]))])
        threads = torch.get_num_threads()
        try:
            torch.set_num_threads(2)
            two = _forward(fast, to_batch([s1, s2]), [s1, s2], cache)
        finally:
            torch.set_num_threads(threads)
    assert rel(both, alone) < 1e-6
    assert rel(two, both) < 1e-6
    assert all(isinstance(v, KernelEdges) for k, v in cache.items() if k != "_coupling_bytes")


def test_training_steps_are_deterministic(liquid_256):
    def run() -> torch.Tensor:
        _, fast = model_pair()
        s = sample_of(liquid_256)
        opt = torch.optim.Adam(fast.parameters(), lr=1e-2)
        cache: dict = {}
        for _ in range(3):
            b = to_batch([s])
            loss = ((_forward(fast, b, [s], cache) - b.y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return torch.cat([p.detach().flatten() for p in fast.parameters()])

    assert torch.equal(run(), run())


def test_falls_back_to_pytorch_where_the_kernel_does_not_apply(liquid_256):
    _, fast = model_pair()
    b = to_batch([sample_of(liquid_256)])
    keep = slice(0, len(b.src) - 1)  # one edge without its reverse: not an undirected graph
    assert not isinstance(fast.edge_geometry(b.src[keep], b.dst[keep], b.vec[keep], b.n_nodes), KernelEdges)
    assert not isinstance(fast.edge_geometry(b.src, b.dst, b.vec.double(), b.n_nodes), KernelEdges)
    fast.use_cpu_kernel = False
    assert not isinstance(fast.edge_geometry(b.src, b.dst, b.vec, b.n_nodes), KernelEdges)


def test_disabled_by_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("EQUIGLASS_CPU_KERNEL", "0")
    lib, why = cpu_kernel._compile()
    assert lib is None and "EQUIGLASS_CPU_KERNEL" in why
