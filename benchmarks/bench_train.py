"""GNN training and inference: graphs/s and peak memory, fused vs e3nn reference, compile, profile.

Models: the SE(3) GNN at the quick-preset size (mul 8, l_max 2, 3 layers) and at the paper size
(mul 8, l_max 3, 8 layers, 10 radial functions, readout 64, per-layer gradient checkpointing and
checkpointed chunks of 32768 edges as in presets/paper.yaml), each with the fused tensor product (default) and with e3nn's per-path
``TensorProduct`` (``fused=False``: the reference, "before"); the Bapst GNN (MLPs (64, 64),
7 recurrences). Graphs: N = 4096 KA liquids (cutoff 2.0), batches of 1, 2, 4, 8 distinct
configurations, 5 outputs (the quick preset's timescales), one thread.

Each (model, batch) runs in a fresh child process holding both variants with the same weights:
the first step of each variant is the warm-up and the memory measurement, then the timed steps
alternate fused/reference (side by side; medians). A training step is forward + MSE + backward
+ gradient clipping + Adam; inference is a forward pass under ``no_grad``. Peak memory = growth
of the resident set during the variant's first step (see ``common.PeakRSS``: heap trimmed and
the high-water mark reset before each one). The batch-1 outputs of the two variants are
compared (target: equal to 1e-5).

Children cap their address space (``--mem-cap-gb``, default min(10 GB, 45 % of the available
memory)) so that an oversized configuration fails with an allocation error instead of waking
the OOM killer on a shared machine. A configuration whose memory (batch-1 peak × batch) or time
(batch-1 step × batch × steps) would pass the cap or the section's time budget is skipped, with
the prediction in the output. ``torch.compile`` of the fused model and a ``torch.profiler``
top-5 (self CPU) of one fused training step run in their own children.

    python benchmarks/bench_train.py [--quick] [--batches 1,2,4,8] [--mem-cap-gb 10] [--budget-s 1000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
from common import (
    GRAPH_CUTOFF,
    HERE,
    PeakRSS,
    configurations,
    interleaved,
    limit_address_space,
    log,
    maxrss_mb,
    median,
    memory_available_mb,
    proc_status_mb,
    ratio,
    run_child,
    table,
    trim_memory,
)

MODELS: dict[str, dict[str, Any]] = {
    "se3_quick": {"family": "se3gnn", "hp": {"mul": 8, "l_max": 2, "n_layers": 3, "n_basis": 8, "radial_hidden": 32,
                                             "readout_hidden": 32}},
    "se3_paper": {"family": "se3gnn", "hp": {"mul": 8, "l_max": 3, "n_layers": 8, "n_basis": 10, "radial_hidden": 32,
                                             "readout_hidden": 64, "checkpoint": True, "edge_chunk": 32768}},
    "bapst": {"family": "bapst", "hp": {"mlp_sizes": (64, 64), "n_recurrences": 7}},
}
NAMES = {"se3_quick": "SE(3) quick (mul 8, l 2, 3 layers)",
         "se3_paper": "SE(3) paper (mul 8, l 3, 8 layers, checkpointed)",
         "bapst": "Bapst (64, 64) × 7"}
N_OUTPUTS = 5


# ============================================================================ child side
def _is_oom(err: BaseException) -> bool:
    text = str(err).lower()
    return isinstance(err, MemoryError) or "allocate" in text or "out of memory" in text


def _setup(cfg: dict[str, Any]) -> tuple[dict[str, Any], Any, Any]:
    """Models by variant (``fused``/``reference`` with the same weights, or ``-``), batch, edge features."""
    import torch

    from equiglass.dataset import Sample, to_batch
    from equiglass.graphs import build_graph
    from equiglass.models.bapst import BapstGNN
    from equiglass.models.se3 import SE3GNN

    torch.set_num_threads(cfg["threads"])
    states = configurations(cfg["n"], cfg["batch"], cfg["quick"])
    rng = np.random.default_rng(0)
    samples = []
    for k, st in enumerate(states):
        g = build_graph(st, GRAPH_CUTOFF)
        samples.append(Sample(f"c{k}", g, np.zeros((st.n, 1), np.float32), ["x"], 0.6,
                              rng.normal(size=(st.n, N_OUTPUTS)).astype(np.float32)))
    spec = MODELS[cfg["model"]]
    avg = float(np.mean([s.graph.n_edges / s.n for s in samples]))
    batch = to_batch(samples)
    torch.manual_seed(0)
    models: dict[str, Any] = {}
    feats = None
    if spec["family"] == "se3gnn":
        ref = SE3GNN(n_outputs=N_OUTPUTS, avg_neighbors=avg, fused=False, **spec["hp"])
        for v in cfg["variants"]:
            if v == "reference":
                models[v] = ref
            else:
                models[v] = SE3GNN(n_outputs=N_OUTPUTS, avg_neighbors=avg, fused=True, **spec["hp"])
                models[v].load_state_dict(ref.state_dict())  # the same weights
        with torch.no_grad():
            feats = ref.edge_features(batch.vec)  # cached per graph by the trainer
    else:
        models["-"] = BapstGNN(n_outputs=N_OUTPUTS, **spec["hp"])
    return models, batch, feats


def _forward(model, batch, feats):
    return model(batch, feats) if feats is not None else model(batch)


def _train_step_fn(model, batch, feats, forward=None):
    import torch

    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    fwd = forward or (lambda: _forward(model, batch, feats))

    def step():
        loss = torch.mean((fwd() - batch.y) ** 2)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    return step


def child_pair(cfg: dict[str, Any]) -> dict[str, Any]:
    """Both variants of one (model, batch): first steps measure memory, then alternating timed steps."""
    import torch

    limit_address_space(proc_status_mb("VmSize") + cfg["mem_cap_mb"] + 1024)
    models, batch, feats = _setup(cfg)
    res: dict[str, Any] = {"ok": True, "model": cfg["model"], "n": cfg["n"], "batch": cfg["batch"],
                           "threads": cfg["threads"], "edges": int(batch.src.shape[0]),
                           "parameters": sum(p.numel() for p in next(iter(models.values())).parameters()),
                           "variants": {v: {} for v in models}}
    outputs = {}

    def phase(name: str, variants: list[str], make_step) -> None:
        steps = {}
        for v in variants:  # first step: warm-up and memory
            r = res["variants"][v]
            try:
                steps[v] = make_step(v)
                with PeakRSS() as peak:
                    t0 = time.perf_counter()
                    out = steps[v]()
                    r[f"{name}_first_s"] = time.perf_counter() - t0
                r[f"{name}_peak_mb"] = peak.mb
                if name == "infer" and out is not None:
                    outputs[v] = out
            except (RuntimeError, MemoryError) as err:
                if not _is_oom(err):
                    raise
                steps.pop(v, None)
                r[f"{name}_error"] = (f"allocation failed under the {cfg['mem_cap_mb'] / 1024:.1f} GB cap "
                                      f"({type(err).__name__})")
                trim_memory()
        times: dict[str, list[float]] = {v: [] for v in steps}
        for _ in range(cfg[f"{name}_steps"]):  # interleaved
            for v, fn in steps.items():
                t0 = time.perf_counter()
                fn()
                times[v].append(time.perf_counter() - t0)
        for v in steps:
            r = res["variants"][v]
            ts = times[v] or [r[f"{name}_first_s"]]  # no timed steps: the first one (noted)
            r[f"{name}_s"] = times[v]
            r[f"{name}_graphs_per_s"] = cfg["batch"] / median(ts)
            r[f"{name}_timed_from_first_step"] = not times[v]

    if cfg["infer"]:
        def make_infer(v):
            m = models[v].eval()

            def f():
                with torch.no_grad():
                    return _forward(m, batch, feats)
            return f
        phase("infer", list(models), make_infer)
        if "fused" in outputs and "reference" in outputs:
            a, b = outputs["fused"].numpy(), outputs["reference"].numpy()
            res["agreement"] = {"max_abs_diff": float(np.abs(a - b).max()), "output_max_abs": float(np.abs(b).max()),
                                "within_1e-5": bool(np.abs(a - b).max() <= 1e-5)}
        outputs.clear()
    if cfg["train"]:
        def make_train(v):
            models[v].train()
            return _train_step_fn(models[v], batch, feats)
        phase("train", [v for v in models if v in cfg.get("train_variants", list(models))], make_train)
    res["ru_maxrss_mb"] = maxrss_mb()
    return res


def child_profile(cfg: dict[str, Any]) -> dict[str, Any]:
    from torch.profiler import ProfilerActivity, profile

    limit_address_space(proc_status_mb("VmSize") + cfg["mem_cap_mb"] + 1024)
    models, batch, feats = _setup({**cfg, "variants": ["fused"]})
    step = _train_step_fn(models["fused"].train(), batch, feats)
    step()  # warm-up
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    wall = time.perf_counter() - t0
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    top = sorted(events, key=lambda e: -e.self_cpu_time_total)[:5]
    return {"ok": True, "model": cfg["model"], "n": cfg["n"], "batch": cfg["batch"], "step_s_profiled": wall,
            "top5": [{"op": e.key, "self_cpu_ms": e.self_cpu_time_total / 1e3, "calls": e.count,
                      "self_cpu_percent": 100 * e.self_cpu_time_total / total} for e in top],
            "table": events.table(sort_by="self_cpu_time_total", row_limit=5)}


def child_compile(cfg: dict[str, Any]) -> dict[str, Any]:
    """Eager vs ``torch.compile`` (inductor) of the fused model: compile time, step times, outputs."""
    import torch

    limit_address_space(proc_status_mb("VmSize") + cfg["mem_cap_mb"] + 1024)
    models, batch, feats = _setup({**cfg, "variants": ["fused"]})
    model = models["fused"].train()
    res: dict[str, Any] = {"ok": True, "model": cfg["model"], "n": cfg["n"], "batch": cfg["batch"]}
    eager = _train_step_fn(model, batch, feats)
    eager()
    t0 = time.perf_counter()
    eager()
    eager_one = time.perf_counter() - t0
    try:
        compiled_model = torch.compile(model)
        compiled = _train_step_fn(model, batch, feats, forward=lambda: compiled_model(batch, feats))
        t0 = time.perf_counter()
        compiled()
        first = time.perf_counter() - t0
        res["compile_s"] = first - eager_one  # first compiled step minus one eager step
        times = interleaved({"eager": eager, "compiled": compiled}, cfg["train_steps"])
        t_e, t_c = times["eager"], times["compiled"]
        with torch.no_grad():
            res["max_abs_diff_vs_eager"] = float((compiled_model(batch, feats) - model(batch, feats)).abs().max())
        res.update(eager_step_s=t_e, compiled_step_s=t_c, speedup=ratio(median(t_e), median(t_c)))
    except Exception as err:  # report, never fail the suite
        msg = str(err).strip().splitlines()
        res.update(ok=False, error=f"{type(err).__name__}: {msg[0][:300] if msg else ''}")
    res["ru_maxrss_mb"] = maxrss_mb()
    return res


def child_main(cfg: dict[str, Any]) -> None:
    fn = {"pair": child_pair, "profile": child_profile, "compile": child_compile}[cfg["kind"]]
    print(json.dumps(fn(cfg), default=float), flush=True)


# =========================================================================== parent side
def _spawn(cfg: dict[str, Any], timeout: float) -> dict[str, Any]:
    out = run_child([str(HERE / "bench_train.py"), "--child", json.dumps(cfg)], timeout)
    out.setdefault("ok", False)
    return out


def run(quick: bool = False, batches: list[int] | None = None, mem_cap_gb: float | None = None,
        budget_s: float | None = None, threads: int = 1, n: int | None = None) -> dict[str, Any]:
    trim_memory()
    n = n or (1000 if quick else 4096)
    batches = batches or ([1] if quick else [1, 2, 4, 8])
    cap_mb = 1024 * (mem_cap_gb if mem_cap_gb else min(10.0, 0.45 * memory_available_mb() / 1024))
    budget_s = budget_s or (90.0 if quick else 1000.0)
    t_start = time.perf_counter()

    def left() -> float:
        return budget_s - (time.perf_counter() - t_start)

    configurations(n, max(batches), quick)  # prepare (and cache) the liquids once, in the parent
    base = {"n": n, "threads": threads, "quick": quick, "mem_cap_mb": cap_mb}
    rows: list[dict[str, Any]] = []
    b1: dict[str, dict[str, Any]] = {}

    def pair(model: str, batch: int, infer_steps: int, train_steps: int, train_variants: list[str] | None = None,
             train: bool = True, predicted_s: float | None = None) -> dict[str, Any]:
        variants = ["-"] if model == "bapst" else ["fused", "reference"]
        train_variants = train_variants or variants
        cfg = {**base, "kind": "pair", "model": model, "batch": batch, "variants": variants, "infer": True,
               "train": train, "infer_steps": infer_steps, "train_steps": train_steps, "train_variants": train_variants}
        row: dict[str, Any] = {"model": model, "batch": batch, "n": n, "skipped": []}
        ref = b1.get(model)
        if ref is not None and batch > 1:  # predictions from batch 1
            pred_s = 0.0
            for ph in ("infer", "train"):
                peaks = [v.get(f"{ph}_peak_mb", float("nan")) for v in ref["variants"].values()]
                firsts = [v.get(f"{ph}_first_s", float("nan")) for v in ref["variants"].values()]
                mem = batch * max(peaks)
                row[f"predicted_{ph}_peak_mb"] = mem
                if not np.isfinite(mem) or mem > cap_mb:
                    cfg[ph] = False
                    row["skipped"].append(f"{ph}: " + (f"predicted {mem / 1024:.1f} GB > cap {cap_mb / 1024:.1f} GB"
                                                       if np.isfinite(mem) else "failed at batch 1"))
                elif cfg[ph]:
                    pred_s += batch * sum(firsts) * (1 + cfg[f"{ph}_steps"])
            predicted_s = pred_s
        if predicted_s is not None:
            row["predicted_s"] = predicted_s
            if predicted_s > left():
                if cfg["train"] and ref is not None:  # drop training first, keep inference if it fits
                    t_only = batch * sum(v.get("infer_first_s", 0) for v in ref["variants"].values()) * (1 + infer_steps)
                    if t_only <= left():
                        cfg["train"] = False
                        row["skipped"].append(f"train: predicted {predicted_s - t_only:.0f} s > budget left")
                if cfg["train"] or (predicted_s > left() and ref is None):
                    cfg["infer"] = cfg["train"] = False
                    row["skipped"].append(f"predicted {predicted_s:.0f} s > budget left {max(left(), 0):.0f} s")
        if not (cfg["infer"] or cfg["train"]):
            row["ok"] = False
            log(f"train {model} b={batch}: skipped ({'; '.join(row['skipped'])})")
            rows.append(row)
            return row
        out = _spawn(cfg, timeout=max(min(left() + 300, 1800), 120))
        row.update({k: v for k, v in out.items() if k not in ("model", "batch", "n")})
        for v, d in row.get("variants", {}).items():
            log(f"train {model} b={batch} {v}: train {d.get('train_graphs_per_s', float('nan')):.3g} g/s "
                f"(peak {d.get('train_peak_mb', float('nan')):.0f} MB), infer {d.get('infer_graphs_per_s', float('nan')):.3g}"
                f" g/s (peak {d.get('infer_peak_mb', float('nan')):.0f} MB) {d.get('train_error', '')}")
        if not out.get("ok"):
            log(f"train {model} b={batch}: {out.get('error')}")
        rows.append(row)
        return row

    steps1 = (1, 1) if quick else (2, 2)
    # 1. batch 1 first: quick-size SE(3) (fused vs reference) and Bapst
    b1["se3_quick"] = pair("se3_quick", 1, *steps1)
    b1["bapst"] = pair("bapst", 1, *steps1)
    # 2. profile of one fused training step
    prof = _spawn({**base, "kind": "profile", "model": "se3_quick", "batch": 1}, timeout=600)
    log(f"profile: {'ok' if prof.get('ok') else prof.get('error')}")
    comp: dict[str, Any] = {"ok": False, "skipped": "not run in --quick (compiling takes minutes on a CPU)"}
    if not quick:
        # 3. paper size: inference of both variants, then one fused (checkpointed) training step if time allows
        paper = pair("se3_paper", 1, 0, 0, train=False)
        b1["se3_paper"] = paper
        # 4. torch.compile of the fused quick-size model
        if left() > 200:
            comp = _spawn({**base, "kind": "compile", "model": "se3_quick", "batch": 1, "train_steps": 2},
                          timeout=max(min(left(), 900), 120))
        else:
            comp = {"ok": False, "skipped": f"time budget ({max(left(), 0):.0f} s left)"}
        log(f"torch.compile: {comp.get('speedup', comp.get('error', comp.get('skipped')))}")
    # 5. larger batches while memory and time allow
    for batch in batches:
        if batch == 1:
            continue
        for model in ("se3_quick", "bapst"):
            pair(model, batch, 1, 1)
    if not quick:
        # 6. paper-size training (one step, fused; the reference only with time to spare)
        fi = b1["se3_paper"].get("variants", {}).get("fused", {}).get("infer_first_s", float("nan"))
        if np.isfinite(fi):
            est = 4 * fi  # checkpointed training ≈ forward + recomputed forward + backward ≈ 4 forwards
            variants = ["fused", "reference"] if 2.2 * est < left() else ["fused"]
            pair("se3_paper", 1, 0, 0, train_variants=variants, predicted_s=est * len(variants))
    return _summarize(rows, prof, comp, n, cap_mb, budget_s, threads, time.perf_counter() - t_start)


def _summarize(rows, prof, comp, n, cap_mb, budget_s, threads, used_s) -> dict[str, Any]:
    tput, speed, speedups, agreement = [], [], {}, {}
    for r in rows:
        note = "; ".join(r.get("skipped", []))
        if not r.get("ok", False) and r.get("error"):
            note = (note + "; " if note else "") + r["error"]
        variants = r.get("variants") or {("-" if r["model"] == "bapst" else "fused"): {}}
        for v, d in variants.items():
            vnote = "; ".join(x for x in (note, d.get("train_error", ""), d.get("infer_error", "")) if x)
            if d.get("train_timed_from_first_step") or d.get("infer_timed_from_first_step"):
                vnote = (vnote + "; " if vnote else "") + "single step, no warm-up"
            tput.append([NAMES[r["model"]], {"-": "–", "reference": "e3nn reference"}.get(v, v), r["batch"],
                         d.get("train_graphs_per_s"), d.get("infer_graphs_per_s"), d.get("train_peak_mb"),
                         d.get("infer_peak_mb"), r.get("parameters"), vnote])
        if r.get("agreement"):
            agreement[r["model"]] = r["agreement"]
        if r["model"].startswith("se3") and r.get("variants"):
            f, ref = r["variants"].get("fused", {}), r["variants"].get("reference", {})
            key = f"{r['model']}_b{r['batch']}"
            s = {ph: ratio(f.get(f"{ph}_graphs_per_s", float("nan")), ref.get(f"{ph}_graphs_per_s", float("nan")))
                 for ph in ("train", "infer")}
            s["train_memory_ratio"] = ratio(f.get("train_peak_mb", float("nan")), ref.get("train_peak_mb", float("nan")))
            if key in speedups:  # paper size: inference and training rows
                speedups[key].update({k: v for k, v in s.items() if np.isfinite(v)})
            else:
                speedups[key] = s
    for key, s in speedups.items():
        model, batch = key.rsplit("_b", 1)
        speed.append([NAMES[model], int(batch), s.get("train"), s.get("infer"), s.get("train_memory_ratio")])
    tables = [
        table(f"Throughput and peak memory (N = {n} per graph, {threads} thread, CPU)",
              ["model", "variant", "batch", "train graphs/s", "inference graphs/s", "train peak [MB]",
               "inference peak [MB]", "parameters", "note"], tput,
              f"Peak = resident-set growth during the variant's first step in a fresh process per (model, batch). "
              f"Memory cap {cap_mb / 1024:.1f} GB per child; time budget {budget_s:.0f} s for the section "
              f"({used_s:.0f} s used)."),
        table(f"SE(3) fused tensor product vs e3nn reference (ratios measured side by side, N = {n})",
              ["model", "batch", "train speed-up", "inference speed-up", "train memory fused/reference"], speed,
              "Outputs at batch 1, same weights: " + ("; ".join(
                  f"{NAMES[m]}: max |Δ| = {a['max_abs_diff']:.1e} (outputs up to {a['output_max_abs']:.2g}; "
                  f"{'within' if a['within_1e-5'] else 'NOT within'} 1e-5)" for m, a in agreement.items())
                  or "not compared")),
    ]
    if prof.get("ok"):
        tables.append(table(f"torch.profiler: one fused SE(3) training step (quick size, N = {prof['n']}, batch 1), "
                            f"top 5 by self CPU time ({prof['step_s_profiled']:.1f} s profiled)",
                            ["op", "self CPU [ms]", "% of self CPU", "calls"],
                            [[t["op"], t["self_cpu_ms"], f"{t['self_cpu_percent']:.1f} %", t["calls"]]
                             for t in prof["top5"]]))
    else:
        tables.append(table("torch.profiler", ["outcome"], [[prof.get("error", "failed")]]))
    if comp.get("ok"):
        tables.append(table(f"torch.compile (inductor) of the fused SE(3) model (quick size, N = {comp['n']}, batch 1), "
                            "training step", ["compile [s]", "eager step [s]", "compiled step [s]", "speed-up",
                                              "max |Δ output|"],
                            [[comp["compile_s"], median(comp["eager_step_s"]), median(comp["compiled_step_s"]),
                              comp["speedup"], f"{comp['max_abs_diff_vs_eager']:.1e}"]],
                            "Not used by default (compile time, recompiles for each new graph size)."))
    else:
        tables.append(table("torch.compile (inductor) of the fused SE(3) model", ["outcome"],
                            [[comp.get("error") or comp.get("skipped") or "failed"]], "Kept out of the defaults."))
    return {"rows": rows, "speedups": speedups, "agreement": agreement, "profile": prof, "compile": comp,
            "N": n, "mem_cap_mb": cap_mb, "budget_s": budget_s, "budget_used_s": used_s, "threads": threads,
            "tables": tables}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--batches", help="comma-separated batch sizes (default 1,2,4,8)")
    ap.add_argument("--mem-cap-gb", type=float)
    ap.add_argument("--budget-s", type=float)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n", type=int)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child_main(json.loads(a.child))
        return
    from common import OUT, markdown_table, write_json

    res = run(a.quick, [int(b) for b in a.batches.split(",")] if a.batches else None, a.mem_cap_gb, a.budget_s,
              a.threads, a.n)
    write_json(OUT / "train.json", res)
    for t in res["tables"]:
        print(markdown_table(t))


if __name__ == "__main__":
    sys.exit(main())
