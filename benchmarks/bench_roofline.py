"""Roofline of one SE(3) GNN training step on CPU, and the speed-up of the compiled kernel.

For the quick-preset model (mul 8, l_max 2, 3 layers, radial MLP 8 → 32 → 32 → 240) on one KA graph
(N = 1000 or 4096, cutoff 2.0), every component of a training step (forward + backward of the
radial networks, the tensor-product convolution with its sum over edges, the node-level linears,
gates and skips, the readout with the loss; gradient clipping + Adam) is timed on its own, for
today's PyTorch path (``fused``: :mod:`equiglass.models.fused_tp`) and the compiled kernel
(``kernel``: :mod:`equiglass.models.cpu_kernel`), beside its counted FLOPs and compulsory bytes
(every operand read or written once), and set against this machine's peaks, measured here: a
1-thread float32 GEMM (FLOP/s) and a large array copy (bytes/s). Geometry (spherical harmonics,
radial bases, couplings) is computed once per graph and cached by the trainer.

Then whole training steps, side by side (interleaved, medians; CPU time of the process, which on
a shared machine is closer to the quiet wall time than wall time itself): e3nn's reference
``TensorProduct`` (``fused=False``), ``fused`` and ``kernel``, the same weights, for N = 1000 and
4096 and 1 and 2 threads; outputs compared (relative max difference).

    python benchmarks/bench_roofline.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
from common import GRAPH_CUTOFF, HERE, configurations, log, median, ratio, run_child, table

HP = {"mul": 8, "l_max": 2, "n_layers": 3, "n_basis": 8, "radial_hidden": 32, "readout_hidden": 32}
N_OUTPUTS = 5


# ============================================================================ child side
def _setup(n: int, threads: int, quick: bool):
    import torch

    from equiglass.dataset import Sample, to_batch
    from equiglass.graphs import build_graph
    from equiglass.models.se3 import SE3GNN

    torch.set_num_threads(threads)
    st = configurations(n, 1, quick)[0]
    g = build_graph(st, GRAPH_CUTOFF)
    sample = Sample("c0", g, np.zeros((n, 1), np.float32), ["x"], 0.6,
                    np.random.default_rng(0).normal(size=(n, N_OUTPUTS)).astype(np.float32))
    batch = to_batch([sample])
    avg = g.n_edges / n
    torch.manual_seed(0)
    models = {"reference": SE3GNN(n_outputs=N_OUTPUTS, avg_neighbors=avg, fused=False, **HP)}
    for v in ("fused", "kernel"):
        models[v] = SE3GNN(n_outputs=N_OUTPUTS, avg_neighbors=avg, **HP)
        models[v].load_state_dict(models["reference"].state_dict())
    models["fused"].use_cpu_kernel = False
    geo = {v: m.edge_geometry(batch.src, batch.dst, batch.vec, n) for v, m in models.items()}
    return models, batch, geo, sample


def _cpu_timer(fn, repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        out.append(time.process_time() - t0)
    return out


def _train_step(model, batch, geo):
    import torch

    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        loss = torch.mean((model(batch, geo) - batch.y) ** 2)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    return step


def _linear_flops(lin) -> int:
    """Multiply-adds ×2 of an e3nn ``o3.Linear`` per node."""
    return int(sum(2 * int(np.prod(ins.path_shape)) * lin.irreps_out[ins.i_out].ir.dim for ins in lin.instructions))


def child_components(cfg: dict[str, Any]) -> dict[str, Any]:
    """Per-component CPU times (fused, kernel), counted FLOPs and bytes, machine peaks."""
    import torch

    models, batch, geo, _ = _setup(cfg["n"], 1, cfg["quick"])
    reps = cfg["repeats"]
    n, e = batch.n_nodes, int(batch.src.shape[0])
    kg = geo["kernel"]
    p = kg.pairs.n_pairs
    rows: dict[str, dict[str, Any]] = {}

    def add(name, flops, nbytes, t_fused, t_kernel):
        r = rows.setdefault(name, {"flops": 0.0, "bytes": 0.0, "fused_s": 0.0, "kernel_s": 0.0})
        r["flops"] += flops
        r["bytes"] += nbytes
        r["fused_s"] += t_fused
        r["kernel_s"] += t_kernel

    fused, kern = models["fused"], models["kernel"]
    with torch.no_grad():
        xs = [f.detach() for f in fused.features(batch, geo["fused"])]
    sh, basis = geo["fused"]
    cache: dict = {}
    for layer in fused.layers:
        layer.fused.precompute(sh, cache)
    for k, (lf, lk) in enumerate(zip(fused.layers, kern.layers)):
        for name, flops, nbytes, t_f, t_k in _layer_rows(lf, lk, xs[k], batch, basis, kg, cache, reps):
            add(name, flops, nbytes, t_f, t_k)
    inv = torch.randn(n, kern.readout[0].in_features, requires_grad=True)

    def readout():
        from equiglass.models.common import select_by_type

        loss = torch.mean((select_by_type(kern.readout(inv), batch.types, N_OUTPUTS) - batch.y) ** 2)
        loss.backward()

    ro = HP["readout_hidden"]
    flops = 6.0 * n * (inv.shape[1] * ro + ro * ro + ro * 2 * N_OUTPUTS)
    t_ro = median(_cpu_timer(readout, reps))
    add("readout + loss", flops, 4.0 * 3 * n * (inv.shape[1] + 2 * ro + 2 * N_OUTPUTS), t_ro, t_ro)
    params = list(kern.parameters())
    for q in params:
        q.grad = torch.randn_like(q)
    opt = torch.optim.Adam(params, lr=1e-3)

    def optim():
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    n_par = sum(q.numel() for q in params)
    t_opt = median(_cpu_timer(optim, reps))
    add("gradient clip + Adam", 14.0 * n_par, 4.0 * 8 * n_par, t_opt, t_opt)
    steps = {v: _train_step(models[v], batch, geo[v]) for v in ("fused", "kernel")}
    full = {v: median(_cpu_timer(s, reps)) for v, s in steps.items()}

    def geometry_kernel():
        kern.edge_geometry(batch.src, batch.dst, batch.vec, n)

    def geometry_fused():
        s, _ = fused.edge_features(batch.vec)
        for layer in fused.layers:
            layer.fused.precompute(s, {})

    return {"ok": True, "n": n, "edges": e, "pairs": p, "rows": rows, "full_step_s": full,
            "geometry_s": {"fused": median(_cpu_timer(geometry_fused, reps)),
                           "kernel": median(_cpu_timer(geometry_kernel, reps))},
            "peaks": _peaks()}


def _layer_rows(lf, lk, x_in, batch, basis, kg, cache: dict, reps: int) -> list[tuple]:
    """(component, FLOPs, bytes, fused CPU s, kernel CPU s) of one layer, forward + backward."""
    import torch

    from equiglass.models.cpu_kernel import UVUConvolution

    n, e, p = batch.n_nodes, int(batch.src.shape[0]), kg.pairs.n_pairs
    x = x_in.clone().requires_grad_()
    h = lf.lin1(x).detach().requires_grad_()
    nb, hid, wn = HP["n_basis"], HP["radial_hidden"], lf.tp.weight_numel
    mlp = nb * hid + hid * hid + hid * wn

    def radial(layer, b):
        def f():
            w = layer.radial(b)
            w.backward(torch.ones_like(w))
        return f

    rows = [("radial networks (per pair)", 6.0 * p * mlp, 4.0 * 3 * p * (nb + 4 * hid + wn),
             median(_cpu_timer(radial(lf, basis), reps)), median(_cpu_timer(radial(lk, kg.basis), reps)))]
    w_e = lf.radial(basis).detach().requires_grad_()
    w_p = lk.radial(kg.basis).detach().requires_grad_()
    plan, m = lk.plan, kg.coupling(lk.plan)
    hk = h.detach()[:, plan.x_index].contiguous().requires_grad_()

    def tp_fused():
        out = lf.fused.aggregate(h, w_e, batch.src, batch.dst, n, cache=cache)
        out.backward(torch.ones_like(out))

    def tp_kernel():
        out = UVUConvolution.apply(hk, w_p, m, kg.pairs, plan)
        out.backward(torch.ones_like(out))

    # per edge, a group (io, mul, G, d1, D, ...): D columns × G·mul lanes × (d1 FMAs + weight, sign)
    fwd = sum(int(g[4] * g[1] * g[2] * (2 * g[3] + 3)) for g in plan.groups)
    bwd = sum(int(g[4] * g[1] * g[2] * (4 * g[3] + 6)) for g in plan.groups)
    din, dout = lf.tp.irreps_in1.dim, lf.tp.irreps_out.dim
    rows.append(("tensor products + sum over edges", float(e * (fwd + bwd)),
                 4.0 * (e * (2 * plan.m_width + 4 * wn + 3 * din) + 2 * n * dout),
                 median(_cpu_timer(tp_fused, reps)), median(_cpu_timer(tp_kernel, reps))))
    agg = torch.randn(n, dout, requires_grad=True)

    def node():
        out = lf.skip(x) + lf.gate(lf.lin2(agg))
        (out.sum() + lf.lin1(x).sum()).backward()

    t_node = median(_cpu_timer(node, reps))
    rows.append(("node linears, gates, skips", 3.0 * n * (_linear_flops(lf.lin1) + _linear_flops(lf.lin2)
                                                          + _linear_flops(lf.skip)),
                 4.0 * 3 * n * (2 * din + dout + 2 * lf.irreps_out.dim), t_node, t_node))
    return rows


def _peaks() -> dict[str, float]:
    """This machine's 1-thread float32 GEMM rate [FLOP/s] and copy bandwidth [bytes/s]."""
    import torch

    a, b = torch.randn(1536, 1536), torch.randn(1536, 1536)
    t = median(_cpu_timer(lambda: a @ b, 5))
    x = np.random.default_rng(0).random(2**25, dtype=np.float32)
    y = np.empty_like(x)
    tc = median(_cpu_timer(lambda: np.copyto(y, x), 5))
    return {"gemm_flops": 2 * 1536**3 / t, "copy_bytes_per_s": 2 * x.nbytes / tc}


def child_speedup(cfg: dict[str, Any]) -> dict[str, Any]:
    """Whole training steps of the three variants, interleaved; outputs compared."""
    import torch

    models, batch, geo, _ = _setup(cfg["n"], cfg["threads"], cfg["quick"])
    with torch.no_grad():
        out = {v: m(batch, geo[v]) for v, m in models.items()}
    ref = out["reference"]
    agreement = {v: float((o - ref).abs().max() / ref.abs().max()) for v, o in out.items() if v != "reference"}
    variants = [v for v in ("reference", "fused", "kernel") if v != "reference" or cfg["with_reference"]]
    steps = {v: _train_step(models[v], batch, geo[v]) for v in variants}
    for s in steps.values():
        s()
    times: dict[str, list[float]] = {v: [] for v in steps}
    walls: dict[str, list[float]] = {v: [] for v in steps}
    for _ in range(cfg["repeats"]):
        for v, s in steps.items():
            t0, w0 = time.process_time(), time.perf_counter()
            s()
            times[v].append(time.process_time() - t0)
            walls[v].append(time.perf_counter() - w0)
    return {"ok": True, "n": cfg["n"], "threads": cfg["threads"], "agreement": agreement,
            "cpu_s": {v: median(t) for v, t in times.items()}, "wall_s": {v: median(t) for v, t in walls.items()}}


# =========================================================================== parent side
def _spawn(cfg: dict[str, Any], timeout: float) -> dict[str, Any]:
    out = run_child([str(HERE / "bench_roofline.py"), "--child", json.dumps(cfg)], timeout)
    out.setdefault("ok", False)
    return out


def run(quick: bool = False) -> dict[str, Any]:
    sizes = [1000] if quick else [1000, 4096]
    log("roofline components ...")
    comp = _spawn({"kind": "components", "n": sizes[0], "quick": quick, "repeats": 3 if quick else 7}, 900)
    speed = []
    for n in sizes:
        for threads in (1, 2):
            log(f"training steps N={n}, {threads} thread(s) ...")
            speed.append(_spawn({"kind": "speedup", "n": n, "threads": threads, "quick": quick,
                                 "repeats": 2 if quick else (5 if n <= 1000 else 3),
                                 "with_reference": not quick or n <= 1000}, 1800))
    return {"components": comp, "speedup": speed, "tables": _tables(comp, speed)}


def _tables(comp: dict[str, Any], speed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tables = []
    if comp.get("ok"):
        pk = comp["peaks"]
        rows = []
        for name, r in comp["rows"].items():
            t = r["kernel_s"]
            f_rate, b_rate = r["flops"] / t, r["bytes"] / t
            bound = "memory" if r["flops"] / r["bytes"] < pk["gemm_flops"] / pk["copy_bytes_per_s"] else "compute"
            rows.append([name, r["flops"] / 1e9, r["bytes"] / 1e6, 1e3 * r["fused_s"], 1e3 * t,
                         ratio(r["fused_s"], t), f_rate / 1e9, f"{100 * f_rate / pk['gemm_flops']:.1f} %",
                         b_rate / 1e9, f"{100 * b_rate / pk['copy_bytes_per_s']:.1f} %", bound])
        total = {v: sum(r[f"{v}_s"] for r in comp["rows"].values()) for v in ("fused", "kernel")}
        rows.append(["sum of components", sum(r["flops"] for r in comp["rows"].values()) / 1e9,
                     sum(r["bytes"] for r in comp["rows"].values()) / 1e6, 1e3 * total["fused"],
                     1e3 * total["kernel"], ratio(total["fused"], total["kernel"]), "", "", "", "", ""])
        full = comp["full_step_s"]
        rows.append(["whole training step (measured)", "", "", 1e3 * full["fused"], 1e3 * full["kernel"],
                     ratio(full["fused"], full["kernel"]), "", "", "", "", ""])
        tables.append(table(
            f"Roofline of one SE(3) training step (quick size, N = {comp['n']}, {comp['edges']} edges = "
            f"{comp['pairs']} pairs, 1 thread, CPU time)",
            ["component (forward + backward)", "GFLOP", "MB (compulsory)", "fused [ms]", "kernel [ms]", "speed-up",
             "kernel GFLOP/s", "of peak FLOP/s", "kernel GB/s", "of peak bandwidth", "bound by (intensity)"], rows,
            f"Peaks measured here: {pk['gemm_flops'] / 1e9:.0f} GFLOP/s (1-thread float32 GEMM 1536³), "
            f"{pk['copy_bytes_per_s'] / 1e9:.1f} GB/s (copy of 128 MiB). FLOPs counted from the layer shapes "
            "(backward = 2× forward for linear maps); bytes = each operand read or written once. Geometry "
            f"(harmonics, bases, couplings) once per graph: fused {1e3 * comp['geometry_s']['fused']:.0f} ms "
            f"(its couplings are recomputed every step), kernel {1e3 * comp['geometry_s']['kernel']:.0f} ms "
            "(cached by the trainer)."))
    else:
        tables.append(table("Roofline", ["outcome"], [[comp.get("error", "failed")]]))
    rows = []
    for s in speed:
        if not s.get("ok"):
            rows.append([s.get("n"), s.get("threads"), "–", "–", "–", "–", "–", s.get("error", "failed")])
            continue
        c, w = s["cpu_s"], s["wall_s"]
        rows.append([s["n"], s["threads"], c.get("reference"), c["fused"], c["kernel"], w["kernel"],
                     ratio(c["fused"], c["kernel"]), ratio(w["fused"], w["kernel"]),
                     ratio(c.get("reference", float("nan")), c["kernel"]),
                     "; ".join(f"{v} {a:.1e}" for v, a in s["agreement"].items())])
    tables.append(table("SE(3) training step on CPU: e3nn reference vs today's fused path vs the compiled kernel "
                        "(same weights; seconds per step, medians of interleaved steps)",
                        ["N", "threads", "e3nn reference [CPU s]", "fused [CPU s]", "kernel [CPU s]", "kernel [wall s]",
                         "kernel vs fused (CPU)", "kernel vs fused (wall)", "kernel vs reference (CPU)",
                         "outputs: max |Δ| / max |reference|"], rows,
                        "CPU time of the process (with 2 threads: both threads' time, so the wall-time ratio is "
                        "the one that says what a second thread buys)."))
    return tables


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        cfg = json.loads(a.child)
        fn = {"components": child_components, "speedup": child_speedup}[cfg["kind"]]
        print(json.dumps(fn(cfg), default=float), flush=True)
        return
    from common import OUT, markdown_table, write_json

    res = run(a.quick)
    write_json(OUT / "roofline.json", res)
    for t in res["tables"]:
        print(markdown_table(t))


if __name__ == "__main__":
    sys.exit(main())
