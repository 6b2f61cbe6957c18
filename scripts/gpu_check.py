#!/usr/bin/env python
"""The GPU check of scripts/gpu-check.sh: training and MD throughput on CUDA, the ``gpu`` tests.

On a CUDA machine (``python scripts/gpu_check.py``, PYTHONPATH=src), at N = 4096 (``--n``):

1. OpenMM: the KA system on the CUDA platform (mixed precision) through
   :class:`equiglass.engines.openmm_engine.OpenMMEngine`: a simple-cubic lattice with random types,
   melted at T = 2 (NVT), then NVE steps/s (the iso-configurational production runs). The melted
   configuration is the graph's (a lattice with 0.1 σ jitter when OpenMM is not there).
2. Training graphs/s (forward, MSE loss, backward, Adam step on one graph; the geometry computed
   once, as training caches it): the SE(3) GNN at the quick size (mul 8, l_max 2, 3 layers) and at
   the paper size (``presets/paper.yaml``), on the fused PyTorch path and on cuEquivariance's CUDA
   kernel (where cuequivariance-ops imports), and the Bapst GNN (paper preset, its recipe: one
   output, DeepMind's initialization). The graph (cutoff 2.0) is built on the GPU by brute force
   (:func:`equiglass.models.common.radius_graph`), without freud.
3. ``pytest -m gpu`` on the test files that hold ``gpu``-marked tests.

It prints one Markdown table and writes ``<out>/gpu_check.json`` and ``<out>/gpu_check.md``.
``--cpu``: the same code on the CPU (OpenMM at N = 256, the models on 64 particles with a 1.5
cutoff, one step each) (CUDA-only rows say why they are
skipped; cuEquivariance runs its PyTorch path), within a minute: what CI runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
CUTOFF, DENSITY = 2.0, 1.2
QUICK = {"mul": 8, "l_max": 2, "n_layers": 3}


def log(msg: str) -> None:
    print(f"[gpu-check {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def row(check: str, size: str, backend: str, value: float | None = None, unit: str = "", note: str = "",
        status: str = "ok", **extra) -> dict:
    return {"check": check, "size": size, "backend": backend, "value": value, "unit": unit, "note": note,
            "status": status, **extra}


def skipped(check: str, size: str, backend: str, why: str) -> dict:
    log(f"{check} [{backend}]: skipped ({why})")
    return row(check, size, backend, status="skipped", note=why)


def failed(check: str, size: str, backend: str, err: BaseException) -> dict:
    log(f"{check} [{backend}]: FAILED\n{traceback.format_exc()}")
    return row(check, size, backend, status="error", note=f"{type(err).__name__}: {str(err).splitlines()[0][:160]}")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------------------------ MD
def lattice(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """KA start: simple-cubic lattice at ρ = 1.2 with random A/B types (80:20). (positions, types, box)."""
    from equiglass.ka import box_length, lattice_positions, random_types

    rng = np.random.default_rng(seed)
    box = box_length(n, DENSITY)
    return lattice_positions(n, box, rng), random_types(n, rng), np.full(3, box)


def openmm_check(n: int, cpu: bool, seconds: float) -> tuple[dict, np.ndarray | None]:
    """(the OpenMM row, melted positions or None)."""
    check, size = "OpenMM KA (NVE, dt 0.005)", f"N={n}"
    platform_name = "CPU" if cpu else "CUDA"
    try:
        import openmm
    except Exception as err:
        return skipped(check, size, platform_name, f"openmm not importable ({err})"), None
    from equiglass.engines.openmm_engine import PLATFORM_ENV, OpenMMEngine
    from equiglass.state import State, maxwell_boltzmann

    os.environ[PLATFORM_ENV] = platform_name
    os.environ.setdefault("EQUIGLASS_GPU_ID", "0")
    pos, types, box = lattice(n)
    try:
        t0 = time.perf_counter()
        vel = maxwell_boltzmann(n, 2.0, np.random.default_rng(1))
        eng = OpenMMEngine(State(pos, types, box, velocities=vel), dt=0.005, device="cpu" if cpu else "gpu")
        eng.set_integrator("nvt", temperature=2.0, tau=0.5)
        eng.run(200 if cpu else 2000)  # melt (and compile the kernels)
        eng.set_integrator("nve")
        eng.run(10)
        eng.energy_forces()  # waits for the queue
        setup = time.perf_counter() - t0
        steps, chunk, t0 = 0, 100 if cpu else 1000, time.perf_counter()
        while steps < chunk or (time.perf_counter() - t0 < seconds and not cpu):
            eng.run(chunk)
            eng.energy_forces()
            steps += chunk
        rate = steps / (time.perf_counter() - t0)
        final = eng.get_state()
        melted = final.positions
        t = float(np.sum(final.velocities**2)) / (3 * n - 3)  # m = 1
    except Exception as err:
        return failed(check, size, platform_name, err), None
    note = (f"openmm {openmm.__version__}, {eng.platform_name}{'' if cpu else ' mixed'}, setup {setup:.1f} s, "
            f"T = {t:.2f} after the melt at 2.0")
    log(f"{check}: {rate:.0f} steps/s ({note})")
    return row(check, size, platform_name, rate, "steps/s", note), melted


# ------------------------------------------------------------------------------- training
def graph_batch(pos: np.ndarray, types: np.ndarray, box: np.ndarray, n_outputs: int, device: torch.device,
                cutoff: float):
    from equiglass.models.common import GraphBatch, radius_graph

    p = torch.as_tensor(pos, dtype=torch.float32, device=device)
    src, dst, vec = radius_graph(p, torch.as_tensor(box, dtype=torch.float32, device=device), cutoff)
    n = len(types)
    gen = torch.Generator().manual_seed(0)
    return GraphBatch(types=torch.as_tensor(types, dtype=torch.long, device=device), src=src, dst=dst, vec=vec,
                      node_graph=torch.zeros(n, dtype=torch.long, device=device),
                      temperature=torch.full((n,), 0.44, device=device),
                      y=torch.randn(n, n_outputs, generator=gen).to(device))


def train_rate(model: torch.nn.Module, batch, edge_feats, device: torch.device, seconds: float,
               min_steps: int, max_steps: int) -> dict:
    """Training steps on one graph: graphs/s, ms per step, peak GPU memory."""
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step() -> None:
        out = model(batch, edge_feats) if edge_feats is not None else model(batch)
        loss = ((out - batch.y) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t0 = time.perf_counter()
    for _ in range(2 if device.type == "cuda" else 0):  # warm-up: allocator, kernels, JIT
        step()
    sync(device)
    warm = time.perf_counter() - t0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    steps, t0 = 0, time.perf_counter()
    while steps < max_steps and (steps < min_steps or time.perf_counter() - t0 < seconds):
        step()
        sync(device)
        steps += 1
    dt = (time.perf_counter() - t0) / steps
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return {"graphs_per_s": 1.0 / dt, "ms_per_step": 1e3 * dt, "steps": steps, "warmup_s": warm, "peak_gib": peak}


def paper_hparams() -> tuple[dict, dict]:
    """(se3gnn, bapst) hyperparameters of presets/paper.yaml."""
    import yaml

    models = yaml.safe_load((REPO / "presets" / "paper.yaml").read_text())["models"]
    return dict(models["se3gnn"]), dict(models["bapst"])


def se3_checks(label: str, hp: dict, graph: tuple, device: torch.device, cpu: bool, seconds: float) -> list[dict]:
    from equiglass.models import cueq_tp
    from equiglass.models.common import count_parameters
    from equiglass.models.se3 import SE3GNN

    pos, types, box, cutoff = graph
    n = len(types)
    batch = graph_batch(pos, types, box, 10, device, cutoff)
    e = batch.src.numel()
    size = f"N={n}, E={e}" + (f", cutoff {cutoff}" if cutoff != CUTOFF else "")
    avg = e / n
    rows = []
    for backend in ("fused", "cuEquivariance"):
        check = f"SE(3) {label} training"
        if backend == "cuEquivariance":
            if not cueq_tp.available():
                rows.append(skipped(check, size, backend, cueq_tp.status()))
                continue
            if not cpu and not cueq_tp.cuda_ops_available():
                rows.append(skipped(check, size, backend, cueq_tp.status()))
                continue
        try:
            torch.manual_seed(0)
            model = SE3GNN(n_outputs=10, cutoff=cutoff, avg_neighbors=avg, **hp).to(device)
            model.use_cpu_kernel = False  # the GPU's paths, also in the CPU dry run
            model.use_cueq = (backend != "fused") if cpu else (None if backend != "fused" else False)
            with torch.no_grad():
                feats = model.edge_features(batch.vec)
            used = [layer.uses_cueq(batch.vec) for layer in model.layers]
            if any(used) != (backend != "fused"):
                raise RuntimeError(f"backend {backend} asked, layers on cuEquivariance: {used}")
            r = train_rate(model, batch, feats, device, seconds, 1 if cpu else 5, 1 if cpu else 200)
        except Exception as err:
            rows.append(failed(check, size, backend, err))
            continue
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()
        methods = {cueq_tp.adapter(layer.tp, device).method for layer in model.layers} if backend != "fused" else set()
        note = (f"{count_parameters(model) / 1e3:.0f}k params, {r['ms_per_step']:.1f} ms/step, "
                f"{r['steps']} steps" + (f", peak {r['peak_gib']:.2f} GiB" if r["peak_gib"] == r["peak_gib"] else "")
                + (f", method {'/'.join(sorted(methods))}" if methods else ""))
        log(f"{check} [{backend}]: {r['graphs_per_s']:.2f} graphs/s ({note})")
        rows.append(row(check, size, backend, r["graphs_per_s"], "graphs/s", note, hparams=hp, **r))
    return rows


def bapst_check(hp: dict, graph: tuple, device: torch.device, cpu: bool, seconds: float) -> dict:
    from equiglass.models.bapst import BapstGNN
    from equiglass.models.common import count_parameters

    pos, types, box, cutoff = graph
    n = len(types)
    batch = graph_batch(pos, types, box, 1, device, cutoff)
    size = f"N={n}, E={batch.src.numel()}" + (f", cutoff {cutoff}" if cutoff != CUTOFF else "")
    check = "Bapst training"
    try:
        torch.manual_seed(0)
        model = BapstGNN(n_outputs=1, mlp_sizes=tuple(hp.get("mlp_sizes", (64, 64))),
                         n_recurrences=int(hp.get("n_recurrences", 7)), init="deepmind", per_type_heads=False).to(device)
        r = train_rate(model, batch, None, device, seconds, 1 if cpu else 5, 1 if cpu else 500)
    except Exception as err:
        return failed(check, size, "PyTorch", err)
    note = f"{count_parameters(model) / 1e3:.0f}k params, {r['ms_per_step']:.1f} ms/step, {r['steps']} steps" + (
        f", peak {r['peak_gib']:.2f} GiB" if r["peak_gib"] == r["peak_gib"] else "")
    log(f"{check}: {r['graphs_per_s']:.2f} graphs/s ({note})")
    return row(check, size, "PyTorch", r["graphs_per_s"], "graphs/s", note, hparams=hp, **r)


# ---------------------------------------------------------------------------------- tests
def gpu_tests(timeout: float) -> dict:
    """``pytest -m gpu`` on the test files holding gpu-marked tests."""
    files = sorted(str(p.relative_to(REPO)) for p in (REPO / "tests").glob("test_*.py")
                   if re.search(r"mark\.gpu\b", p.read_text()))
    check = "pytest -m gpu"
    if not files:
        return skipped(check, "", "", "no gpu-marked tests found")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-rs", "-p", "no:cacheprovider", "-p", "no:xdist", *files]
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return row(check, ", ".join(files), "", status="error", note=f"timed out after {timeout:.0f} s")
    out = res.stdout + res.stderr
    print(out[-4000:], flush=True)
    lines = [ln for ln in out.splitlines() if re.search(r"\d+ (passed|failed|skipped|error|deselected)", ln)]
    summary = lines[-1].strip("= ") if lines else f"exit code {res.returncode}"
    status = "ok" if res.returncode in (0, 5) and "failed" not in summary and "error" not in summary else "error"
    reasons = sorted({m.group(1) for m in re.finditer(r"SKIPPED \[\d+\] [^:]+:\d+: (.*)", out)})
    note = summary + (f"; skipped: {'; '.join(reasons)}" if reasons else "") + f" ({time.perf_counter() - t0:.0f} s)"
    return row(check, ", ".join(files), "", status=status, note=note, returncode=res.returncode)


# ---------------------------------------------------------------------------------- report
def environment(device: torch.device) -> dict:
    import e3nn

    from equiglass.models import cueq_tp

    env = {"python": platform.python_version(), "torch": torch.__version__, "e3nn": e3nn.__version__,
           "cuequivariance": cueq_tp.status(), "device": str(device)}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
        env["torch_cuda"] = torch.version.cuda
    try:
        import openmm

        env["openmm"] = openmm.__version__
        env["openmm_platforms"] = [openmm.Platform.getPlatform(k).getName()
                                   for k in range(openmm.Platform.getNumPlatforms())]
        failures = [str(f)[:300] for f in openmm.Platform.getPluginLoadFailures()]
        if failures:  # e.g. the CUDA plugin not finding libcufft/libnvrtc
            env["openmm_plugin_failures"] = failures
    except Exception as err:
        env["openmm"] = f"not importable ({err})"
    return env


def table(rows: list[dict]) -> str:
    lines = ["| check | size | backend | result | note |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        if r["status"] == "ok" and r["value"] is not None:
            result = f"{r['value']:.4g} {r['unit']}"
        elif r["status"] == "ok":
            result = "ok"
        else:
            result = r["status"]
        lines.append(f"| {r['check']} | {r['size']} | {r['backend']} | {result} | {r['note']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", action="store_true", help="dry run on the CPU at tiny sizes (what CI runs)")
    ap.add_argument("--n", type=int, default=None, help="particles (default 4096; 256 with --cpu)")
    ap.add_argument("--seconds", type=float, default=5.0, help="timed seconds per measurement on CUDA")
    ap.add_argument("--out", default="gpu-check-out", help="folder for gpu_check.json and gpu_check.md")
    ap.add_argument("--skipped-wheels", default="", help="what the wheel preparation left out (printed)")
    ap.add_argument("--no-tests", action="store_true", help="skip pytest -m gpu")
    ap.add_argument("--budget", type=float, default=560.0,
                    help="seconds for the whole check: pytest -m gpu gets what the measurements left (≥ 60 s)")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    n = args.n or (256 if args.cpu else 4096)
    if args.cpu:
        device = torch.device("cpu")
        torch.set_num_threads(1)  # CI's 2 cores run two test workers beside it
    elif torch.cuda.is_available():
        device = torch.device("cuda", 0)
    else:
        log("no CUDA device: run with --cpu for the dry run")
        return 2
    env = environment(device)
    log("environment: " + json.dumps(env))
    rows: list[dict] = []
    if args.skipped_wheels:
        rows.append(row("carried wheels", "", "", status="skipped", note=args.skipped_wheels))
    md, melted = openmm_check(n, args.cpu, args.seconds)
    rows.append(md)
    # the models' graph: the melted configuration, else a jittered lattice (the same neighbour
    # counts within a few per cent); --cpu: 64 particles, cutoff 1.5 (~1k edges)
    n_graph, cutoff = (64, 1.5) if args.cpu else (n, CUTOFF)
    pos, types, box = lattice(n_graph)
    if melted is None or args.cpu:
        pos = pos + np.random.default_rng(2).normal(scale=0.1, size=pos.shape)
    else:
        pos = melted
    graph = (pos, types, box, cutoff)
    se3_paper, bapst_paper = paper_hparams()
    for label, hp in (("quick (mul 8, l_max 2, 3 layers)", QUICK), ("paper preset", se3_paper)):
        rows += se3_checks(label, hp, graph, device, args.cpu, args.seconds)
    rows.append(bapst_check(bapst_paper, graph, device, args.cpu, args.seconds))
    if args.cpu:
        rows.append(skipped("CUDA (SE(3), Bapst, OpenMM)", f"N={4096}", "CUDA", "--cpu dry run: CUDA not used"))
    left = max(60.0, args.budget - (time.perf_counter() - t_start))
    rows.append(skipped("pytest -m gpu", "", "", "--no-tests") if args.no_tests else gpu_tests(left))
    total = time.perf_counter() - t_start
    text = table(rows)
    head = f"GPU check ({'CPU dry run' if args.cpu else env.get('gpu', 'CUDA')}, {total:.0f} s; {env['cuequivariance']})"
    print(f"\n{head}\n\n{text}\n", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps({"environment": env, "rows": rows, "seconds": total,
                                                    "cpu_dry_run": args.cpu, "n": n}, indent=1, default=str))
    (out / "gpu_check.md").write_text(f"{head}\n\n{text}\n")
    return 1 if any(r["status"] == "error" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
