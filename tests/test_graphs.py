"""Neighbour graphs and descriptors against brute-force periodic searches."""

from __future__ import annotations

import numpy as np
import pytest

from equiglass.descriptors import DescriptorSettings, compute_descriptors
from equiglass.files import InputError
from equiglass.graphs import build_graph, load_graph, save_graph
from equiglass.ka import minimum_image
from equiglass.state import State


def brute_force_edges(pos, box, rc):
    n = len(pos)
    out = {}
    for i in range(n):
        d = minimum_image(pos - pos[i], box)
        r = np.linalg.norm(d, axis=1)
        for j in np.flatnonzero((r < rc) & (np.arange(n) != i)):
            out[(int(j), i)] = d[j]  # message j -> i, vector r_j - r_i
    return out


def test_graph_equals_brute_force(liquid_256):
    g = build_graph(liquid_256, 2.0)
    ref = brute_force_edges(g.positions.astype(np.float64), g.box, 2.0)
    got = {(int(s), int(d)): v for s, d, v in zip(g.src, g.dst, g.vec)}
    assert set(got) == set(ref)
    for k, v in got.items():
        np.testing.assert_allclose(v, ref[k], atol=1e-5)
    # every edge appears in both directions with opposite vectors
    for (s, d), v in got.items():
        np.testing.assert_allclose(got[(d, s)], -v, atol=1e-5)


def test_edge_vector_points_from_receiver_to_sender():
    box = np.full(3, 10.0)
    st = State(np.array([[4.8, 0, 0], [-4.8, 0, 0], [0, 0, 0]]), np.array([0, 0, 1]), box)
    g = build_graph(st, 1.0)
    edges = {(int(s), int(d)): v for s, d, v in zip(g.src, g.dst, g.vec)}
    assert set(edges) == {(0, 1), (1, 0)}  # 0.4 apart through the boundary
    np.testing.assert_allclose(edges[(1, 0)], [0.4, 0, 0], atol=1e-6)  # r_1 - r_0 through the image


def test_cutoff_must_fit_the_box(liquid_256):
    with pytest.raises(InputError, match="half the box"):
        build_graph(liquid_256, 3.5)


def test_descriptors_shapes_and_invariance(liquid_256):
    s = DescriptorSettings(l_values=(4, 6), radial_max=2.0, coarse_grain_cutoff=1.5)
    d, names = compute_descriptors(liquid_256, s)
    assert d.shape == (256, len(names))
    assert np.all(np.isfinite(d))
    # q_l are rotation invariant: rotate the configuration by 90° about z (box is cubic)
    rot = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]])
    st = State(liquid_256.positions @ rot.T, liquid_256.types, liquid_256.box)
    d2, _ = compute_descriptors(st, s)
    np.testing.assert_allclose(d2, d, rtol=1e-4, atol=1e-4)
    # translation invariance
    st3 = State(liquid_256.positions + 1.3, liquid_256.types, liquid_256.box).wrapped()
    np.testing.assert_allclose(compute_descriptors(st3, s)[0], d, rtol=1e-4, atol=1e-4)


def test_radial_density_counts_neighbours():
    box = np.full(3, 10.0)
    st = State(np.array([[0, 0, 0], [1.0, 0, 0], [0, 1.5, 0]]), np.array([0, 1, 0]), box)
    s = DescriptorSettings(l_values=(6,), radial_min=1.0, radial_max=1.5, radial_width=0.5, coarse_grain=False)
    d, names = compute_descriptors(st, s)
    i_a10 = names.index("rho_A_1.00")
    i_b10 = names.index("rho_B_1.00")
    i_a15 = names.index("rho_A_1.50")
    assert d[0, i_b10] == pytest.approx(1.0)  # B at exactly 1.0
    assert d[0, i_a15] == pytest.approx(1.0)  # A at exactly 1.5
    assert d[0, i_a10] == pytest.approx(np.exp(-0.5))  # A at 1.5 seen by the 1.0 shell (δ = 0.5)


def test_graph_file_roundtrip(tmp_path, liquid_256):
    g = build_graph(liquid_256, 2.0)
    save_graph(tmp_path / "g.npz", g, np.zeros((256, 2)), ["a", "b"], {"temperature": 1.0})
    g2, _d, meta = load_graph(tmp_path / "g.npz")
    np.testing.assert_array_equal(g2.src, g.src)
    assert meta["descriptor_names"] == ["a", "b"] and meta["cutoff"] == 2.0
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="bad.npz"):
        load_graph(tmp_path / "bad.npz")
