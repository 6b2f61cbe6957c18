"""Symmetries of the models: SE(3) invariance/equivariance, permutations, Bapst's lack of invariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from e3nn import o3

from equiglass.dataset import Sample, to_batch
from equiglass.graphs import build_graph
from equiglass.models.bapst import BapstGNN
from equiglass.models.common import count_parameters
from equiglass.models.descriptor import DescriptorMLP
from equiglass.models.ridge import RidgeModel
from equiglass.models.se3 import SE3GNN, EquivariantConv, hidden_irreps
from equiglass.state import State

torch.set_default_dtype(torch.float32)


def sample_of(state: State, cutoff: float = 2.0) -> Sample:
    return Sample("x", build_graph(state, cutoff), np.zeros((state.n, 1), np.float32), ["d"], 1.0)


def small_se3(**kw) -> SE3GNN:
    torch.manual_seed(0)
    args = dict(n_outputs=3, mul=4, l_max=2, n_layers=2, radial_hidden=8, readout_hidden=8, avg_neighbors=30.0)
    args.update(kw)
    return SE3GNN(**args).double()


def batch64(sample: Sample):
    b = to_batch([sample])
    b.vec = b.vec.double()
    return b


def random_rotation(seed: int = 0) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.random(random_state=seed).as_matrix()


def test_se3_outputs_invariant_under_rotation_and_translation(liquid_256):
    model = small_se3()
    with torch.no_grad():
        base = model(batch64(sample_of(liquid_256))).numpy()
        # rotating every bond vector = rotating the configuration (the graph is unchanged)
        s = sample_of(liquid_256)
        rot = random_rotation(1)
        s.graph.vec = (s.graph.vec.astype(np.float64) @ rot.T)
        b = to_batch([s])
        b.vec = torch.as_tensor(s.graph.vec, dtype=torch.float64)
        rotated = model(b).numpy()
        shifted_state = State(liquid_256.positions + np.array([0.7, -2.1, 3.3]), liquid_256.types, liquid_256.box)
        shifted = model(batch64(sample_of(shifted_state))).numpy()
    np.testing.assert_allclose(rotated, base, atol=1e-5)
    # translation permutes nothing but changes wrapping: the graph (and outputs) must not change
    np.testing.assert_allclose(shifted, base, atol=1e-5)


def test_se3_invariant_under_reflection_with_both_parities(liquid_256):
    model = small_se3()
    s = sample_of(liquid_256)
    with torch.no_grad():
        base = model(batch64(s)).numpy()
        b = batch64(s)
        b.vec = -b.vec  # parity: the 0e readout must not change
        np.testing.assert_allclose(model(b).numpy(), base, atol=1e-5)


def test_hidden_features_rotate_with_wigner_d(liquid_256):
    model = small_se3()
    s = sample_of(liquid_256)
    rot = torch.as_tensor(random_rotation(3))
    with torch.no_grad():
        b = batch64(s)
        feats = model.features(b)
        b2 = batch64(s)
        b2.vec = b2.vec @ rot.T
        feats_rot = model.features(b2)
    d = model.irreps_hidden.D_from_matrix(rot)
    for f, fr in zip(feats[1:], feats_rot[1:]):
        np.testing.assert_allclose(fr.numpy(), (f @ d.T).numpy(), atol=1e-5)
    assert any(ir.l > 0 for _, ir in model.irreps_hidden)


def test_conv_layer_assert_equivariant():
    from e3nn.util.test import assert_equivariant

    irreps = hidden_irreps(2, 2)
    sh = o3.Irreps.spherical_harmonics(2)
    layer = EquivariantConv(irreps, irreps, sh, 4, 8, 10.0).double()
    n, e = 6, 12
    src = torch.randint(0, n, (e,))
    dst = torch.randint(0, n, (e,))
    basis = torch.rand(e, 4, dtype=torch.float64)

    def f(x, edge_sh):
        return layer(x, edge_sh, basis, src, dst)

    assert_equivariant(f, irreps_in=[irreps, sh], irreps_out=[irreps],
                       args_in=[irreps.randn(n, -1, dtype=torch.float64), sh.randn(e, -1, dtype=torch.float64)])


def test_permutation_equivariance(liquid_256):
    model = small_se3()
    perm = np.random.default_rng(0).permutation(liquid_256.n)
    permuted = State(liquid_256.positions[perm], liquid_256.types[perm], liquid_256.box)
    with torch.no_grad():
        a = model(batch64(sample_of(liquid_256))).numpy()
        b = model(batch64(sample_of(permuted))).numpy()
    np.testing.assert_allclose(b, a[perm], atol=1e-6)


def test_bapst_gnn_is_not_rotation_invariant(liquid_256):
    """Bapst et al.'s GNN reads raw bond vectors: a generic rotation changes its output."""
    torch.manual_seed(0)
    model = BapstGNN(n_outputs=2, mlp_sizes=(16, 16), n_recurrences=2)
    s = sample_of(liquid_256)
    with torch.no_grad():
        base = model(to_batch([s])).numpy()
        b = to_batch([s])
        b.vec = b.vec @ torch.as_tensor(random_rotation(2), dtype=torch.float32).T
        rotated = model(b).numpy()
    assert np.abs(rotated - base).max() > 1e-4  # float32 round-off is ~1e-7
    # ... but it is permutation equivariant and translation invariant like any GNN
    perm = np.random.default_rng(1).permutation(liquid_256.n)
    permuted = State(liquid_256.positions[perm], liquid_256.types[perm], liquid_256.box)
    with torch.no_grad():
        out_p = model(to_batch([sample_of(permuted)])).numpy()
    np.testing.assert_allclose(out_p, base[perm], atol=1e-5)


def test_bapst_parameter_count_matches_architecture():
    model = BapstGNN(n_outputs=1, n_types=1, mlp_sizes=(64, 64), n_recurrences=7)
    lin = lambda a, b: a * b + b  # noqa: E731
    expected = (lin(1, 64) + lin(64, 64)) + (lin(3, 64) + lin(64, 64))  # encoders
    expected += lin(384, 64) + lin(64, 64) + lin(192, 64) + lin(64, 64)  # core (shared over 7 steps)
    expected += lin(64, 64) + lin(64, 64) + lin(64, 1)  # decoder
    assert count_parameters(model) == expected


def test_every_model_runs_forward_backward_on_two_graphs_of_different_sizes(liquid_256):
    small = State(liquid_256.positions[:200] * 1.0, liquid_256.types[:200], liquid_256.box)
    samples = [sample_of(liquid_256), sample_of(small)]
    batch = to_batch(samples)
    assert batch.n_nodes == 456
    for model in (small_se3().float(), BapstGNN(n_outputs=3, mlp_sizes=(8, 8), n_recurrences=2)):
        out = model(batch)
        assert out.shape == (456, 3)
        out.sum().backward()
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    mlp = DescriptorMLP(1, 3, (8,))
    out = mlp(torch.zeros(456, 1), batch.types)
    out.sum().backward()


def test_se3_parameter_count_grows_with_width():
    a = count_parameters(small_se3(mul=4))
    b = count_parameters(small_se3(mul=8))
    assert 0 < a < b


def test_ridge_recovers_planted_linear_relation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 6))
    types = rng.integers(0, 2, 4000)
    w = np.array([[1.0, -2, 0, 0, 0.5, 0], [0, 0, 3, 0, 0, -1]])
    y = np.einsum("md,md->m", x, w[types])[:, None] + 0.01 * rng.normal(size=(4000, 1))
    model = RidgeModel(alphas=(1e-3, 1e-1)).fit(x, y, types)
    np.testing.assert_allclose(model.coef[:, 0, :] * 1.0 / model.x_std, w, atol=0.02)
    pred = model.predict(x, types)
    assert np.corrcoef(pred[:, 0], y[:, 0])[0, 1] > 0.999


@pytest.mark.parametrize("l_max", [1, 2, 3])
def test_fused_tensor_product_equals_e3nn(l_max):
    """The fused uvu product gives e3nn's outputs and gradients for the same weights.

    e3nn stores its Wigner 3j constants in float32 (and special-cases l = 0 paths exactly), so
    the two agree to float32 precision even in float64.
    """
    irreps = hidden_irreps(3, l_max)
    sh = o3.Irreps.spherical_harmonics(l_max)
    torch.manual_seed(0)
    layer = EquivariantConv(irreps, irreps, sh, 4, 8, 10.0, fused=True).double()
    e = 50
    x1 = irreps.randn(e, -1, dtype=torch.float64, requires_grad=True)
    vec = torch.randn(e, 3, dtype=torch.float64)
    y = o3.spherical_harmonics(sh, vec, normalize=True, normalization="component")
    w = torch.randn(e, layer.tp.weight_numel, dtype=torch.float64, requires_grad=True)
    ref = layer.tp(x1, y, w)
    out = layer.fused(x1, w, y)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    g_ref = torch.autograd.grad(ref.square().sum(), (x1, w))
    g_out = torch.autograd.grad(out.square().sum(), (x1, w))
    for a, b in zip(g_out, g_ref):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_fused_aggregate_equals_scatter_of_e3nn_messages():
    """aggregate() (per-piece sums over edges, node gather by src) = Σ_edges of e3nn's messages, with gradients."""
    irreps = hidden_irreps(2, 2)
    sh = o3.Irreps.spherical_harmonics(2)
    torch.manual_seed(1)
    layer = EquivariantConv(irreps, irreps, sh, 4, 8, 10.0, fused=True).double()
    n, e = 7, 60
    h = irreps.randn(n, -1, dtype=torch.float64, requires_grad=True)
    src, dst = torch.randint(0, n, (e,)), torch.randint(0, n, (e,))
    y = o3.spherical_harmonics(sh, torch.randn(e, 3, dtype=torch.float64), normalize=True, normalization="component")
    w = torch.randn(e, layer.tp.weight_numel, dtype=torch.float64, requires_grad=True)
    ref = torch.zeros(n, layer.tp.irreps_out.dim, dtype=torch.float64).index_add(0, dst, layer.tp(h[src], y, w))
    out = layer.fused.aggregate(h, w, src, dst, n, x2=y)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    for a, b in zip(torch.autograd.grad(out.square().sum(), (h, w)), torch.autograd.grad(ref.square().sum(), (h, w))):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_fused_and_reference_models_agree(liquid_256):
    torch.manual_seed(0)
    ref = small_se3(fused=False)
    fast = small_se3(fused=True)
    fast.load_state_dict(ref.state_dict())
    with torch.no_grad():
        b = batch64(sample_of(liquid_256))
        np.testing.assert_allclose(fast(b).numpy(), ref(b).numpy(), rtol=1e-5, atol=1e-5)


def test_bapst_split_edge_layer_equals_concatenation(liquid_256):
    torch.manual_seed(0)
    model = BapstGNN(n_outputs=2, mlp_sizes=(16, 16), n_recurrences=2).double()
    b = batch64(sample_of(liquid_256))
    src, dst = b.src, b.dst
    node_in = torch.randn(b.n_nodes, 32, dtype=torch.float64)
    edge, edge0 = torch.randn(len(src), 16, dtype=torch.float64), torch.randn(len(src), 16, dtype=torch.float64)
    direct = model.edge_core(torch.cat([edge, edge0, node_in[src], node_in[dst]], dim=-1))
    first = model.edge_core[0]
    edge_const = edge0 @ first.weight[:, 16:32].T + first.bias  # as forward() computes it once
    np.testing.assert_allclose(model._edge_update(edge, edge_const, node_in, src, dst).detach().numpy(),
                               direct.detach().numpy(), atol=1e-12)


@pytest.mark.parametrize("options", [{"checkpoint": True}, {"edge_chunk": 1000}, {"checkpoint": True, "edge_chunk": 777}])
def test_checkpointing_gives_same_outputs_and_gradients(liquid_256, options):
    torch.manual_seed(0)
    a = small_se3()
    b = small_se3(**options)
    b.load_state_dict(a.state_dict())
    batch = batch64(sample_of(liquid_256))
    out_a, out_b = a(batch), b(batch)
    np.testing.assert_allclose(out_b.detach().numpy(), out_a.detach().numpy(), atol=1e-12)
    out_a.square().sum().backward()
    out_b.square().sum().backward()
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        np.testing.assert_allclose(pb.grad.numpy(), pa.grad.numpy(), atol=1e-10, err_msg=name)
