"""The cuEquivariance backend of the SE(3) GNN's convolution (models/cueq_tp.py): e3nn's and the
fused path's outputs and gradients, on cuEquivariance's PyTorch path (any machine where
cuequivariance-torch imports) and on its CUDA kernel (``gpu``: a CUDA device with
cuequivariance-ops-torch); the automatic choice of the backend."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from e3nn import o3

from equiglass.dataset import Sample, to_batch
from equiglass.graphs import build_graph
from equiglass.models import cueq_tp
from equiglass.models.common import scatter_sum
from equiglass.models.se3 import SE3GNN, EquivariantConv, hidden_irreps

needs_cueq = pytest.mark.skipif(not cueq_tp.available(), reason=cueq_tp.status())
IRREPS = [(4, 1, None), (8, 1, None), (4, 2, None), (8, 2, None), (4, 3, None), (3, 2, 6)]


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().abs().max() / b.detach().abs().max())


def layer_of(mul: int, l_max: int, mul_scalar: int | None, dtype: torch.dtype = torch.float32) -> EquivariantConv:
    """A hidden layer; built in ``dtype`` so that e3nn's Wigner symbols are exact in float64."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        torch.manual_seed(1)
        irreps = hidden_irreps(mul, l_max, mul_scalar)
        return EquivariantConv(irreps, irreps, o3.Irreps.spherical_harmonics(l_max), 4, 8, 30.0)
    finally:
        torch.set_default_dtype(default)


def random_graph(layer: EquivariantConv, dtype: torch.dtype, device: str = "cpu", n: int = 60, e: int = 600):
    """Node features, per-edge weights (with gradients), edges and spherical harmonics."""
    g = torch.Generator().manual_seed(2)
    h = torch.randn(n, layer.tp.irreps_in1.dim, generator=g, dtype=dtype).to(device).requires_grad_()
    w = torch.randn(e, layer.tp.weight_numel, generator=g, dtype=dtype).to(device).requires_grad_()
    src, dst = torch.randint(0, n, (e,), generator=g).to(device), torch.randint(0, n, (e,), generator=g).to(device)
    vec = torch.randn(e, 3, generator=g, dtype=dtype).to(device)
    y = o3.spherical_harmonics(layer.tp.irreps_in2, vec, True, normalization="component")
    return h, w, src, dst, y


def grads(out: torch.Tensor, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    g = torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype, device=out.device).reshape(out.shape)
    return torch.autograd.grad((out * g).sum(), inputs)


@needs_cueq
@pytest.mark.parametrize("mul, l_max, mul_scalar", IRREPS)
def test_cueq_equals_e3nn_and_fused_with_gradients(mul, l_max, mul_scalar):
    """Σ over incoming edges of e3nn's TensorProduct messages (float64: to round-off) and the fused
    path (float32), with the gradients of the node features and the per-edge weights; both
    parities of every l ≤ l_max, uniform multiplicities and not (mul_scalar ≠ mul)."""
    layer = layer_of(mul, l_max, mul_scalar, torch.float64)
    h, w, src, dst, y = random_graph(layer, torch.float64)
    n = h.shape[0]
    tp = cueq_tp.adapter(layer.tp, h.device, torch.float64)
    out = tp.aggregate(h, w, src, dst, n, y)
    ref = scatter_sum(layer.tp(h[src], y, w), dst, n)
    assert rel(out, ref) < 1e-12
    for a, r in zip(grads(out, (h, w)), grads(ref, (h, w))):
        assert rel(a, r) < 1e-12
    assert rel(tp(h[src], w, y), layer.tp(h[src], y, w)) < 1e-12  # per-edge products

    layer = layer_of(mul, l_max, mul_scalar)
    h, w, src, dst, y = random_graph(layer, torch.float32)
    out = cueq_tp.adapter(layer.tp, h.device).aggregate(h, w, src, dst, n, y)
    fused = layer.fused.aggregate(h, w, src, dst, n, x2=y)
    assert rel(out, fused) < 1e-5
    for a, r in zip(grads(out, (h, w)), grads(fused, (h, w))):
        assert rel(a, r) < 1e-5


def model_pair(**kw) -> tuple[SE3GNN, SE3GNN]:
    """The same weights twice: (fused PyTorch path, cuEquivariance forced)."""
    args = dict(n_outputs=3, mul=4, l_max=2, n_layers=2, radial_hidden=8, readout_hidden=8, avg_neighbors=30.0)
    args.update(kw)
    torch.manual_seed(0)
    fused, cueq = SE3GNN(**args), SE3GNN(**args)
    cueq.load_state_dict(fused.state_dict())
    fused.use_cpu_kernel, fused.use_cueq, cueq.use_cueq = False, False, True
    return fused, cueq


@needs_cueq
@pytest.mark.parametrize("options", [{}, {"checkpoint": True, "edge_chunk": 2000}, {"mul_scalar": 6}])
def test_model_on_cueq_equals_fused_with_gradients(liquid_256, options):
    fused, cueq = model_pair(**options)
    s = Sample("x", build_graph(liquid_256, 2.0), np.zeros((liquid_256.n, 1), np.float32), ["d"], 1.0)
    b = to_batch([s])
    assert all(layer.uses_cueq(b.vec) for layer in cueq.layers)
    assert not any(layer.uses_cueq(b.vec) for layer in fused.layers)
    out_ref, out = fused(b), cueq(b)
    assert rel(out, out_ref) < 1e-5
    out_ref.square().sum().backward()
    out.square().sum().backward()
    for (name, p_ref), p in zip(fused.named_parameters(), cueq.parameters()):
        assert rel(p.grad, p_ref.grad) < 1e-4, name
    assert set(cueq.state_dict()) == set(fused.state_dict())  # the backend adds no state


def test_backend_choice(monkeypatch):
    """Automatic: never on CPU tensors (the compiled CPU kernel or the fused path run there);
    False: never; True: wherever cuequivariance-torch imports; EQUIGLASS_CUEQ=0: never."""
    layer = layer_of(4, 2, None)
    x = torch.zeros(3, layer.tp.irreps_in1.dim)
    assert not layer.uses_cueq(x)
    layer.use_cueq = False
    assert not layer.uses_cueq(x)
    layer.use_cueq = True
    assert layer.uses_cueq(x) == cueq_tp.available()
    monkeypatch.setenv(cueq_tp.ENV, "0")
    assert not layer.uses_cueq(x) and "EQUIGLASS_CUEQ=0" in cueq_tp.status()
    assert cueq_tp.uniform(layer.tp) and not cueq_tp.uniform(layer_of(3, 2, 6).tp)
    model = SE3GNN(n_outputs=1, mul=4, l_max=1, n_layers=2)
    model.use_cueq = True
    assert model.use_cueq is True and all(layer.use_cueq is True for layer in model.layers)
    assert not model.kernel_usable(torch.zeros(2, 3))  # forced cuEquivariance wins over the CPU kernel


def _cuda_kernel_reason() -> str:
    if not torch.cuda.is_available():
        return "no CUDA device"
    return "" if cueq_tp.cuda_ops_available() else cueq_tp.status()


# skipped before any fixture runs; no freud or LAMMPS needed (a bare GPU machine runs these)
needs_cuda_kernel = pytest.mark.skipif(bool(_cuda_kernel_reason()), reason=_cuda_kernel_reason())


@pytest.mark.gpu
@needs_cuda_kernel
@pytest.mark.parametrize("mul, l_max", [(4, 1), (8, 2), (8, 3), (16, 2)])
def test_cuda_kernel_equals_fused(mul, l_max):
    """cuEquivariance's CUDA kernel (uniform_1d), chosen automatically on CUDA, against the fused
    path on the same GPU: float64 to round-off, float32 to 1e-5, with gradients."""
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-5)):
        layer = layer_of(mul, l_max, None, dtype).cuda()
        h, w, src, dst, y = random_graph(layer, dtype, "cuda", n=500, e=20000)
        assert layer.uses_cueq(h)
        tp = cueq_tp.adapter(layer.tp, h.device, dtype)
        assert tp.method == "uniform_1d"
        out = tp.aggregate(h, w, src, dst, h.shape[0], y)
        fused = layer.fused.aggregate(h, w, src, dst, h.shape[0], x2=y)
        assert rel(out, fused) < tol
        for a, r in zip(grads(out, (h, w)), grads(fused, (h, w))):
            assert rel(a, r) < tol


@pytest.mark.gpu
@needs_cuda_kernel
def test_cuda_model_picks_cueq_and_equals_fused():
    """The SE(3) GNN on CUDA picks the kernel by itself; outputs and parameter gradients equal the
    fused path's, on a jittered KA lattice (N = 1000, graph built on the GPU)."""
    from equiglass.ka import box_length, lattice_positions, random_types
    from equiglass.models.common import GraphBatch, radius_graph

    fused, cueq = model_pair(mul=8, l_max=2, n_layers=3)
    cueq.use_cueq = None  # automatic
    fused, cueq = fused.cuda(), cueq.cuda()
    rng = np.random.default_rng(0)
    box = box_length(1000, 1.2)
    pos = torch.as_tensor(lattice_positions(1000, box, rng) + rng.normal(scale=0.1, size=(1000, 3)),
                          dtype=torch.float32, device="cuda")
    src, dst, vec = radius_graph(pos, torch.full((3,), box, device="cuda"), 2.0)
    types = torch.as_tensor(random_types(1000, rng), dtype=torch.long, device="cuda")
    zeros = torch.zeros(1000, dtype=torch.long, device="cuda")
    b = GraphBatch(types, src, dst, vec, zeros, zeros.float())
    assert all(layer.uses_cueq(b.vec) for layer in cueq.layers)
    out_ref, out = fused(b), cueq(b)
    assert rel(out, out_ref) < 1e-5
    out_ref.square().sum().backward()
    out.square().sum().backward()
    for (name, p_ref), p in zip(fused.named_parameters(), cueq.parameters()):
        assert rel(p.grad, p_ref.grad) < 1e-4, name
