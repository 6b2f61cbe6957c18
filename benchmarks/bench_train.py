"""Training and inference throughput (graphs/s) and peak memory of the GNNs at N = 4096 per graph.

Each configuration runs in a fresh process so its peak resident memory (ru_maxrss) is its own.
The SE(3) GNN is timed with the fused tensor product and with e3nn's per-path implementation
(``fused=False``: the straightforward "before"), whose outputs must agree to 1e-5.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import time

import numpy as np

SE3_QUICK = {"mul": 8, "l_max": 2, "n_layers": 3}
SE3_PAPER = {"mul": 8, "l_max": 3, "n_layers": 8}


def _graph_sample(n: int):
    from common import liquid

    from equiglass.dataset import Sample
    from equiglass.graphs import build_graph

    st = liquid(n).wrapped()
    g = build_graph(st, 2.0)
    return Sample("b", g, np.zeros((n, 1), np.float32), ["x"], 0.8, np.random.default_rng(0).normal(
        size=(n, 5)).astype(np.float32))


def _measure(cfg: dict) -> dict:
    import torch

    from equiglass.dataset import to_batch
    from equiglass.models.bapst import BapstGNN
    from equiglass.models.se3 import SE3GNN

    torch.set_num_threads(cfg.get("threads", 2))
    torch.manual_seed(0)
    sample = _graph_sample(cfg["N"])
    batch = to_batch([sample] * cfg["batch"])
    if cfg["model"] == "bapst":
        model = BapstGNN(n_outputs=5)
        fwd = lambda: model(batch)  # noqa: E731
    else:
        model = SE3GNN(n_outputs=5, avg_neighbors=40.0, fused=cfg["fused"], **cfg["hp"])
        feats = model.edge_features(batch.vec)  # cached once per graph, as in training
        fwd = lambda: model(batch, feats)  # noqa: E731
    opt = torch.optim.Adam(model.parameters())
    y = batch.y

    def train_step():
        loss = torch.mean((fwd() - y) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()

    train_step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(cfg["steps"]):
        train_step()
    t_train = (time.perf_counter() - t0) / cfg["steps"]
    with torch.no_grad():
        fwd()
        t0 = time.perf_counter()
        out = fwd()
        t_infer = time.perf_counter() - t0
    res = {**cfg, "train_graphs_per_s": cfg["batch"] / t_train, "infer_graphs_per_s": cfg["batch"] / t_infer,
           "train_step_s": t_train, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "params": sum(p.numel() for p in model.parameters())}
    if cfg.get("check_against_reference"):
        torch.manual_seed(0)
        ref = SE3GNN(n_outputs=5, avg_neighbors=40.0, fused=False, **cfg["hp"])
        ref.load_state_dict(model.state_dict())
        with torch.no_grad():
            res["max_abs_diff_vs_reference"] = float((ref(batch, feats) - model(batch, feats)).abs().max())
            res["output_scale"] = float(out.abs().max())
    return res


def _in_fresh_process(cfg: dict) -> dict:
    with mp.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(_measure, (cfg,))


def _profile_and_compile(quick: bool) -> dict:
    import torch
    from torch.profiler import ProfilerActivity, profile

    from equiglass.dataset import to_batch
    from equiglass.models.se3 import SE3GNN

    torch.set_num_threads(2)
    sample = _graph_sample(1000)
    batch = to_batch([sample])
    model = SE3GNN(n_outputs=5, avg_neighbors=40.0, **SE3_QUICK)
    feats = model.edge_features(batch.vec)
    opt = torch.optim.Adam(model.parameters())

    def step(m):
        loss = torch.mean((m(batch, feats) - batch.y) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step(model)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step(model)
    top = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:5]
    total = sum(e.self_cpu_time_total for e in prof.key_averages())
    out = {"profile_top5": [{"op": e.key, "self_cpu_percent": 100 * e.self_cpu_time_total / total} for e in top]}
    if quick:
        return out
    eager = min(_timed(lambda: step(model)) for _ in range(3))
    try:
        t0 = time.perf_counter()
        compiled = torch.compile(model)
        step(compiled)
        out["compile_s"] = time.perf_counter() - t0
        t_comp = min(_timed(lambda: step(compiled)) for _ in range(3))
        out["compile_speedup"] = eager / t_comp
    except Exception as err:  # inductor needs a working C++ toolchain; report instead of failing
        out["compile_error"] = f"{type(err).__name__}: {str(err)[:200]}"
    return out


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(quick: bool = False) -> dict:
    n = 1000 if quick else 4096
    batches = [1] if quick else [1, 2, 4, 8]
    rows = []
    for b in batches:
        for fused in (True, False):
            rows.append(_in_fresh_process({"model": "se3gnn", "hp": SE3_QUICK, "fused": fused, "N": n, "batch": b,
                                           "steps": 1 if quick else 2, "check_against_reference": fused}))
    if not quick:
        rows.append(_in_fresh_process({"model": "se3gnn", "hp": SE3_PAPER, "fused": True, "N": n, "batch": 1,
                                       "steps": 1}))
    for b in ([1] if quick else [1, 2]):
        rows.append(_in_fresh_process({"model": "bapst", "N": n, "batch": b, "steps": 1}))
    speedups = {}
    for b in batches:
        f = next(r for r in rows if r["model"] == "se3gnn" and r.get("fused") and r["batch"] == b
                 and r["hp"] == SE3_QUICK)
        ref = next(r for r in rows if r["model"] == "se3gnn" and not r.get("fused") and r["batch"] == b)
        speedups[b] = f["train_graphs_per_s"] / ref["train_graphs_per_s"]
    return {"rows": rows, "fused_speedup_by_batch": speedups, **_profile_and_compile(quick)}


def markdown(res: dict) -> str:
    lines = ["### Training and inference (CPU, 2 threads)", "",
             "| model | N | batch | train graphs/s | inference graphs/s | peak RSS [MB] | parameters |",
             "|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        name = r["model"] if r["model"] == "bapst" else (
            f"se3gnn {'paper' if r['hp'] == SE3_PAPER else 'quick'} {'fused' if r['fused'] else 'e3nn reference'}")
        lines.append(f"| {name} | {r['N']} | {r['batch']} | {r['train_graphs_per_s']:.3f} | "
                     f"{r['infer_graphs_per_s']:.3f} | {r['peak_rss_mb']:.0f} | {r['params']} |")
    sp = ", ".join(f"batch {b}: {s:.2f}x" for b, s in res["fused_speedup_by_batch"].items())
    diffs = [r["max_abs_diff_vs_reference"] for r in res["rows"] if "max_abs_diff_vs_reference" in r]
    lines += ["", f"Fused tensor product vs e3nn's per-path code (training): {sp} (target >= 2x); outputs agree to "
              f"{max(diffs):.1e}."]
    top = "; ".join(f"{t['op']} {t['self_cpu_percent']:.0f} %" for t in res["profile_top5"])
    lines += ["", f"Profile of one fused training step (N = 1000), top self-CPU costs: {top}."]
    if "compile_speedup" in res:
        lines.append(f"torch.compile: {res['compile_s']:.0f} s to compile, {res['compile_speedup']:.2f}x per step.")
    elif "compile_error" in res:
        lines.append(f"torch.compile failed: {res['compile_error']}")
    return "\n".join(lines)
