"""Neighbour lists and Steinhardt q_l: freud vs straightforward numpy; graph cost vs an epoch.

- Neighbour list at the graph cutoff (2.0 σ): ``equiglass.graphs.neighbor_list`` (freud AABB
  query) vs brute-force minimum-image numpy (O(N²), in row chunks); the pair sets must agree.
- Steinhardt q_l (l = 2…12, first shell r < 1.45 σ): ``equiglass.descriptors.steinhardt``
  (freud) vs numpy neighbours + ``scipy.special.sph_harm_y``; values must agree (freud works
  in float32). Both sides run on one thread (freud's TBB pool is set to 1), variants interleaved.
- Graph building (``build_graph``, and graph + all descriptors as the ``graphs`` rule does) as a
  percentage of one training epoch of the quick-preset SE(3) GNN (fused, batch 1, one thread,
  through ``training._Runner`` as the trainer does) on the same configurations (target < 5 %).

    python benchmarks/bench_graphs.py [--quick]
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from common import GRAPH_CUTOFF, configurations, log, median, ratio, table

SHELL = 1.45
L_VALUES = list(range(2, 13))


def _sph_harm(l: int, m: np.ndarray, theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Y_l^m(θ polar, φ azimuth) with scipy's new or old signature."""
    import scipy.special as sp

    if hasattr(sp, "sph_harm_y"):
        return sp.sph_harm_y(l, m, theta, phi)
    return sp.sph_harm(m, l, phi, theta)  # pragma: no cover - scipy < 1.15


def numpy_neighbors(pos: np.ndarray, box: np.ndarray, rc: float, chunk: int = 256):
    """Brute-force minimum-image pairs within rc: (i = query, j = neighbour, r_j − r_i, |r|)."""
    out_i, out_j, out_v = [], [], []
    n = len(pos)
    for start in range(0, n, chunk):
        d = pos[None, :, :] - pos[start:start + chunk, None, :]
        d -= box * np.round(d / box)
        r2 = np.einsum("abk,abk->ab", d, d)
        a, b = np.nonzero(r2 < rc * rc)
        keep = a + start != b
        a, b = a[keep], b[keep]
        out_i.append(a + start)
        out_j.append(b)
        out_v.append(d[a, b])
    v = np.concatenate(out_v)
    return np.concatenate(out_i), np.concatenate(out_j), v, np.sqrt(np.einsum("ij,ij->i", v, v))


def numpy_ql(i: np.ndarray, vec: np.ndarray, n: int, ls: list[int]) -> np.ndarray:
    """q_l(i) = sqrt(4π/(2l+1) Σ_m |⟨Y_lm(r̂_ij)⟩_j|²), neighbours j of i: (n, len(ls))."""
    r = np.linalg.norm(vec, axis=1)
    theta = np.arccos(np.clip(vec[:, 2] / r, -1.0, 1.0))
    phi = np.arctan2(vec[:, 1], vec[:, 0])
    counts = np.maximum(np.bincount(i, minlength=n), 1)
    out = np.zeros((n, len(ls)))
    for k, l in enumerate(ls):
        total = np.zeros(n)
        for m in range(-l, l + 1):
            y = _sph_harm(l, m, theta, phi)
            re = np.bincount(i, y.real, minlength=n) / counts
            im = np.bincount(i, y.imag, minlength=n) / counts
            total += re * re + im * im
        out[:, k] = np.sqrt(4 * np.pi / (2 * l + 1) * total)
    return out


def _pairs_agree(freud_nl, npy, rc: float, box: np.ndarray, pos: np.ndarray) -> dict[str, Any]:
    a = set(zip(np.asarray(freud_nl.query_point_indices).tolist(), np.asarray(freud_nl.point_indices).tolist()))
    b = set(zip(npy[0].tolist(), npy[1].tolist()))
    diff = a ^ b
    # pairs closer to the cutoff than float32 resolution may fall either side
    borderline = 0
    for i, j in diff:
        d = pos[j] - pos[i]
        d -= box * np.round(d / box)
        borderline += abs(np.sqrt(d @ d) - rc) < 1e-5
    return {"pairs_freud": len(a), "pairs_numpy": len(b), "mismatched": len(diff),
            "mismatched_not_borderline": int(len(diff) - borderline)}


def freud_vs_numpy(states: list, repeats: int) -> dict[str, Any]:
    import freud

    from equiglass.descriptors import steinhardt
    from equiglass.graphs import neighbor_list

    n = states[0].n
    t = {"freud_nl": [], "numpy_nl": [], "freud_ql": [], "numpy_ql": []}
    checks = []
    for st in states:
        st = st.wrapped()
        pos, box = st.positions, st.box
        for _ in range(repeats):  # interleaved
            dt, nl = _timed(lambda pos=pos, box=box: neighbor_list(pos, box, GRAPH_CUTOFF))
            t["freud_nl"].append(dt)
            dt, npy = _timed(lambda pos=pos, box=box: numpy_neighbors(pos, box, GRAPH_CUTOFF))
            t["numpy_nl"].append(dt)
            dt, q_f = _timed(lambda st=st: steinhardt(st, tuple(L_VALUES), SHELL, average=False))
            t["freud_ql"].append(dt)

            def numpy_q(pos=pos, box=box):
                i, _, v, _ = numpy_neighbors(pos, box, SHELL)
                return numpy_ql(i, v, len(pos), L_VALUES)

            dt, q_n = _timed(numpy_q)
            t["numpy_ql"].append(dt)
        chk = _pairs_agree(nl, npy, GRAPH_CUTOFF, box, pos)
        chk["max_abs_diff_ql"] = float(np.abs(q_f - q_n).max())
        checks.append(chk)
    med = {k: median(v) for k, v in t.items()}
    return {"N": n, "configurations": len(states), "repeats": repeats, "freud_threads": freud.parallel.get_num_threads(),
            "seconds": t, "median_s": med,
            "speedup_neighbors": ratio(med["numpy_nl"], med["freud_nl"]),
            "speedup_ql": ratio(med["numpy_ql"], med["freud_ql"]),
            "max_abs_diff_ql": max(c["max_abs_diff_ql"] for c in checks),
            "pair_mismatches": sum(c["mismatched_not_borderline"] for c in checks),
            "pairs_per_config": checks[0]["pairs_freud"], "checks": checks,
            "agree": bool(max(c["max_abs_diff_ql"] for c in checks) < 1e-4
                          and sum(c["mismatched_not_borderline"] for c in checks) == 0)}


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def graph_vs_epoch(states: list, threads: int = 1) -> dict[str, Any]:
    """Graph (and descriptor) building time of the configurations vs one SE(3) training epoch on them."""
    import torch

    from equiglass.dataset import Sample
    from equiglass.descriptors import DescriptorSettings, compute_descriptors
    from equiglass.graphs import build_graph
    from equiglass.models.se3 import SE3GNN
    from equiglass.training import _Runner

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    t_graph, t_desc, samples = [], [], []
    for k, st in enumerate(states):
        dt, g = _timed(lambda st=st: build_graph(st, GRAPH_CUTOFF))
        t_graph.append(dt)
        dt, _ = _timed(lambda st=st: compute_descriptors(st, DescriptorSettings()))
        t_desc.append(dt)
        targets = rng.normal(size=(st.n, 5)).astype(np.float32)
        samples.append(Sample(f"c{k}", g, np.zeros((st.n, 1), np.float32), ["x"], 0.6, targets))
    torch.manual_seed(0)
    avg = float(np.mean([s.graph.n_edges / s.n for s in samples]))
    model = SE3GNN(n_outputs=5, mul=8, l_max=2, n_layers=3, n_basis=8, radial_hidden=32, readout_hidden=32,
                   avg_neighbors=avg)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    mean, std = np.zeros((2, 5), np.float32), np.ones((2, 5), np.float32)
    runner = _Runner(model, "se3gnn", torch.device("cpu"), (mean, std))
    t0 = time.perf_counter()
    for s in samples:  # one epoch, batch 1, as training.train does (edge features cached on first use)
        pred, batch = runner.forward([s])
        loss = torch.mean((pred - batch.y) ** 2)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    epoch = time.perf_counter() - t0
    g_total, d_total = float(np.sum(t_graph)), float(np.sum(t_desc))
    return {"N": states[0].n, "configurations": len(states), "threads": threads,
            "graph_build_s": t_graph, "descriptors_s": t_desc, "epoch_s": epoch,
            "graph_percent_of_epoch": 100 * g_total / epoch,
            "graph_and_descriptors_percent_of_epoch": 100 * (g_total + d_total) / epoch,
            "target_met": bool(100 * g_total / epoch < 5.0)}


def run(quick: bool = False) -> dict[str, Any]:
    import freud

    freud.parallel.set_num_threads(1)
    sizes = [1000] if quick else [1000, 4096]
    count = 2 if quick else 4
    repeats = 1 if quick else 3
    comparisons = []
    for n in sizes:
        states = configurations(n, count, quick)
        comparisons.append(freud_vs_numpy(states[: (1 if n > 1000 else count)], repeats))
        log(f"graphs N={n}: neighbours {comparisons[-1]['speedup_neighbors']:.0f}x, "
            f"q_l {comparisons[-1]['speedup_ql']:.0f}x")
    n_epoch = sizes[-1]
    epoch = graph_vs_epoch(configurations(n_epoch, count, quick))
    log(f"graphs: build {epoch['graph_percent_of_epoch']:.2f} % of an epoch")
    tables = [
        table("freud vs numpy per configuration (one thread each)",
              ["N", "neighbours r<2 freud [ms]", "numpy [ms]", "speed-up", "q_l l=2..12 freud [ms]", "numpy [ms]",
               "speed-up", "max |Δq_l|", "pair mismatches", "agree"],
              [[c["N"], 1e3 * c["median_s"]["freud_nl"], 1e3 * c["median_s"]["numpy_nl"], c["speedup_neighbors"],
                1e3 * c["median_s"]["freud_ql"], 1e3 * c["median_s"]["numpy_ql"], c["speedup_ql"],
                f"{c['max_abs_diff_ql']:.1e}", c["pair_mismatches"], c["agree"]] for c in comparisons],
              "numpy: brute-force minimum image (O(N²)) and scipy.special.sph_harm_y; q_l timings include each "
              "side's own first-shell neighbour list. Pair mismatches exclude pairs within 1e-5 of the cutoff."),
        table(f"Graph building vs one SE(3) training epoch (quick-preset model, N = {epoch['N']}, "
              f"{epoch['configurations']} configurations, batch 1, {epoch['threads']} thread)",
              ["graph build per config [ms]", "+ descriptors per config [ms]", "epoch [s]", "graphs % of epoch",
               "graphs + descriptors % of epoch", "target < 5 %"],
              [[1e3 * median(epoch["graph_build_s"]), 1e3 * median(epoch["descriptors_s"]), epoch["epoch_s"],
                f"{epoch['graph_percent_of_epoch']:.2f} %", f"{epoch['graph_and_descriptors_percent_of_epoch']:.2f} %",
                epoch["target_met"]]],
              "And graphs are built once per configuration (the `graphs` rule) while training runs many epochs."),
    ]
    return {"neighbours_and_ql": comparisons, "graph_vs_epoch": epoch, "tables": tables}


if __name__ == "__main__":
    from common import print_tables_cli

    print_tables_cli(run, __doc__)
