"""Run the benchmarks side by side with their peers; write benchmarks/out/results.json and .md.

    python benchmarks/run_all.py                   # full (~25 min on 2 shared cores)
    python benchmarks/run_all.py --quick           # tiny sizes, smoke test (< 2 min)
    python benchmarks/run_all.py --only md,graphs  # a subset of: md, iso, graphs, roofline, train

Sections: ``md`` (engines, skin scan, pipeline overhead), ``iso`` (iso-configurational replicas,
1 vs 2 processes), ``graphs`` (freud vs numpy, graph cost vs an epoch), ``roofline`` (one SE(3)
training step per component against this machine's peaks; the compiled CPU kernel vs the PyTorch
path vs e3nn, N = 1000 and 4096, 1 and 2 threads), ``train`` (GNN training/inference graphs/s
and peak memory, fused vs e3nn reference, torch.compile, profile).
Every comparison is measured in the same run (interleaved, repeated, medians): on a shared
machine read the ratios, not the absolute times. HOOMD/OpenMM are timed when importable.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

SECTIONS = ("md", "iso", "graphs", "roofline", "train")
TITLES = {"md": "MD engines", "iso": "Iso-configurational replicas", "graphs": "Graphs and descriptors",
          "roofline": "SE(3) training step: roofline and the compiled CPU kernel", "train": "GNN training and inference"}


def render(results: dict) -> str:
    from common import markdown_table

    m = results["machine"]
    mode = "quick: smoke-test sizes" if results["quick"] else "full"
    lines = [f"# equiglass benchmarks ({mode})", "",
             f"- CPU: {m['cpu_model']}, {m['cores']} cores ({m['cores_usable']} usable), "
             f"{m['memory_gb']} GB RAM ({m['memory_available_gb']} GB available at start)",
             f"- Load average at start {m['load_average']}, at end {results.get('load_average_end')}: "
             "the machine was shared, so compare the ratios measured side by side, not absolute times.",
             f"- Python {m['python']}, numpy {m['numpy_version']}, scipy {m['scipy_version']}, torch {m['torch_version']},"
             f" e3nn {m['e3nn_version']}, freud {m['freud_version']}, LAMMPS {m['lammps_version']},"
             f" HOOMD-blue {m['hoomd_version'] or 'absent'}, OpenMM {m['openmm_version'] or 'absent'}",
             f"- Commit {m['git_commit']}, {m['date']}; total wall time {results.get('wall_s', 0):.0f} s", ""]
    for name, sec in results["sections"].items():
        lines += [f"## {TITLES.get(name, name)}", "", f"_{sec.get('wall_s', 0):.0f} s_", ""]
        if "error" in sec:
            lines += ["```", sec["error"], "```", ""]
            continue
        for t in sec.get("tables", []):
            lines += [markdown_table(t), ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test, < 2 min)")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}")
    ap.add_argument("--out", default=str(HERE / "out"), help="output folder (default benchmarks/out)")
    a = ap.parse_args(argv)
    names = [s.strip() for s in a.only.split(",") if s.strip()]
    unknown = [s for s in names if s not in SECTIONS]
    if unknown:
        ap.error(f"unknown sections {unknown}; choose from {SECTIONS}")
    from common import log, machine_info, write_json

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    results: dict = {"machine": machine_info(), "quick": a.quick, "sections": {}}
    failed = []
    for name in names:
        log(f"section {name} ...")
        t0 = time.perf_counter()
        try:
            sec = importlib.import_module(f"bench_{name}").run(quick=a.quick)
        except Exception:
            sec = {"error": traceback.format_exc()[-3000:]}
            failed.append(name)
            log(f"section {name} FAILED:\n{sec['error']}")
        sec["wall_s"] = time.perf_counter() - t0
        results["sections"][name] = sec
        log(f"section {name} done in {sec['wall_s']:.0f} s")
        results["wall_s"] = time.perf_counter() - t_all
        results["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
        write_json(out / "results.json", results)  # after every section: partial results survive
        (out / "results.md").write_text(render(results))
    print(render(results))
    print(f"written {out / 'results.json'} and {out / 'results.md'}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
