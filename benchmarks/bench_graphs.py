"""Neighbour lists and Steinhardt q_l: freud vs a straightforward numpy implementation; graph cost vs an epoch."""

from __future__ import annotations

import time

import numpy as np
from common import liquid, median_time
from scipy.special import sph_harm_y


def numpy_neighbors(pos: np.ndarray, box: np.ndarray, rc: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Brute-force minimum-image pairs (i, j, r_j - r_i) within rc, in chunks of rows."""
    out_i, out_j, out_v = [], [], []
    n = len(pos)
    for start in range(0, n, 256):
        d = pos[None, :, :] - pos[start:start + 256, None, :]
        d -= box * np.round(d / box)
        r2 = np.einsum("abk,abk->ab", d, d)
        a, b = np.nonzero((r2 < rc * rc) & (r2 > 0))
        out_i.append(a + start)
        out_j.append(b)
        out_v.append(d[a, b])
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_v)


def numpy_ql(i: np.ndarray, vec: np.ndarray, n: int, ls: list[int]) -> np.ndarray:
    r = np.linalg.norm(vec, axis=1)
    theta = np.arccos(np.clip(vec[:, 2] / r, -1, 1))
    phi = np.arctan2(vec[:, 1], vec[:, 0])
    counts = np.bincount(i, minlength=n)
    out = np.zeros((n, len(ls)))
    for k, l in enumerate(ls):
        q = np.zeros((n, 2 * l + 1), dtype=complex)
        for m in range(-l, l + 1):
            np.add.at(q[:, m + l], i, sph_harm_y(l, m, theta, phi))
        q /= np.maximum(counts, 1)[:, None]
        out[:, k] = np.sqrt(4 * np.pi / (2 * l + 1) * (np.abs(q) ** 2).sum(axis=1))
    return out


def run(quick: bool = False) -> dict:
    import freud

    from equiglass.dataset import Sample, to_batch
    from equiglass.graphs import build_graph, freud_box, neighbor_list
    from equiglass.models.se3 import SE3GNN

    ls = list(range(2, 13))
    res = {}
    for n in ([1000] if quick else [1000, 4096]):
        st = liquid(n).wrapped()
        t_freud_nl = median_time(lambda st=st: neighbor_list(st.positions, st.box, 2.0))
        t_numpy_nl = median_time(lambda st=st: numpy_neighbors(st.positions, st.box, 2.0), 1)

        def freud_q(st=st):
            nl = neighbor_list(st.positions, st.box, 1.45)
            op = freud.order.Steinhardt(ls)
            op.compute((freud_box(st.box), st.positions.astype(np.float32)), neighbors=nl)
            return np.asarray(op.particle_order)

        t_freud_q = median_time(freud_q)
        i, _, v = numpy_neighbors(st.positions, st.box, 1.45)
        t0 = time.perf_counter()
        q_np = numpy_ql(i, v, n, ls)
        t_numpy_q = time.perf_counter() - t0
        agree = float(np.abs(q_np - freud_q()).max())
        t_graph = median_time(lambda st=st: build_graph(st, 2.0))
        res[n] = {"freud_neighbors_s": t_freud_nl, "numpy_neighbors_s": t_numpy_nl,
                  "speedup_neighbors": t_numpy_nl / t_freud_nl, "freud_ql_s": t_freud_q, "numpy_ql_s": t_numpy_q,
                  "speedup_ql": t_numpy_q / t_freud_q, "max_abs_difference_ql": agree, "graph_build_s": t_graph}
    # graph building vs one training step of the quick SE(3) model on the same N = 1000 configuration
    import torch

    torch.set_num_threads(2)
    st = liquid(1000).wrapped()
    g = build_graph(st, 2.0)
    sample = Sample("b", g, np.zeros((st.n, 1), np.float32), ["x"], 0.8, np.zeros((st.n, 5), np.float32))
    model = SE3GNN(n_outputs=5, mul=8, l_max=2, n_layers=3, avg_neighbors=40.0)
    opt = torch.optim.Adam(model.parameters())
    batch = to_batch([sample])
    feats = model.edge_features(batch.vec)

    def step():
        loss = model(batch, feats).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    t_step = median_time(step, 2 if quick else 3)
    res["graph_percent_of_epoch"] = 100 * res[1000]["graph_build_s"] / (res[1000]["graph_build_s"] + t_step)
    res["train_step_s_N1000"] = t_step
    return res


def markdown(res: dict) -> str:
    lines = ["### Graphs and descriptors (freud vs numpy)", "", "| N | neighbours freud [ms] | numpy [ms] | speed-up | "
             "q_l (l=2..12) freud [ms] | numpy [ms] | speed-up | max |Δq_l| |", "|---|---|---|---|---|---|---|---|"]
    for n, r in res.items():
        if not isinstance(n, int):
            continue
        lines.append(f"| {n} | {1e3 * r['freud_neighbors_s']:.1f} | {1e3 * r['numpy_neighbors_s']:.0f} | "
                     f"{r['speedup_neighbors']:.0f}x | {1e3 * r['freud_ql_s']:.1f} | {1e3 * r['numpy_ql_s']:.0f} | "
                     f"{r['speedup_ql']:.0f}x | {r['max_abs_difference_ql']:.1e} |")
    lines += ["", f"Building a graph costs {res['graph_percent_of_epoch']:.2f} % of graph + one SE(3) training step "
              f"on it (N = 1000; target < 5 %; graphs are built once and cached by the `graphs` rule anyway)."]
    return "\n".join(lines)
