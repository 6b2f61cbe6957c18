"""Run every benchmark and write benchmarks/out/results.json and results.md (``make bench``).

    python benchmarks/run_all.py            # full (~25 min on 2 cores)
    python benchmarks/run_all.py --quick    # smoke test (~2 min)
    python benchmarks/run_all.py --only md,graphs
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
SECTIONS = ("md", "iso", "graphs", "train")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}")
    ap.add_argument("--out", default=str(HERE / "out"), help="output folder")
    a = ap.parse_args(argv)
    from common import machine

    from equiglass.files import atomic_path, write_json

    results: dict = {"machine": machine(), "quick": a.quick, "sections": {}}
    md = [f"## Benchmarks ({'quick' if a.quick else 'full'})", "",
          f"Machine: {results['machine']['cpu']}, {results['machine']['cores']} cores, load average "
          f"{results['machine']['load_average_1min']:.1f} at start; ratios are measured side by side in one run.", ""]
    for name in a.only.split(","):
        mod = importlib.import_module(f"bench_{name}")
        t0 = time.perf_counter()
        res = mod.run(quick=a.quick)
        res["wall_s"] = time.perf_counter() - t0
        results["sections"][name] = res
        md += [mod.markdown(res), ""]
        print(mod.markdown(res), flush=True)
    out = Path(a.out)
    write_json(out / "results.json", results)
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text("\n".join(md) + "\n")
    print(f"written {out / 'results.json'} and {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
