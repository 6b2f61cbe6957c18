"""Does ridge gain from cage-state inputs as much as the SE(3) GNN does? A control for the cold-levers
overlay (presets/cold-levers.yaml), run in the study's folder after it.

The lever ``cage`` (SE(3) GNN on cage-state positions, R. M. Alkemade, F. Smallenburg, L. Filion,
J. Chem. Phys. 158, 134512 (2023)) beat the thermal-position reference at τ_α at every test
temperature. Alkemade et al. found that linear regression on cage-state descriptors already rivals
the best networks, so the fair question is whether the SE(3) GNN still leads ridge when both read
cage states. This script fits ridge (the study's ridge settings) on the lever's own training and
validation configurations, once on thermal and once on cage-state descriptors, evaluates both on the
lever's test configurations, and prints paired Δρ_A (two-level bootstrap over test configurations and
seeds, :func:`equiglass.steps.compare.compare_pair`) at the shortest time and at τ_α:
SE(3)-cage − ridge-cage, ridge-cage − ridge-thermal, SE(3)-cage − SE(3) reference.

Usage (in the study's folder, after ``snakemake --configfile presets/study.yaml presets/cold-levers.yaml``):
    python scripts/cage_ridge_control.py [--out results/adhoc/cage_ridge]
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
from pathlib import Path

from equiglass.files import read_json
from equiglass.steps.compare import compare_pair

CAGE_GRAPHS = "results/ablations/graphs/cage/"


def shell_command(output: str) -> str:
    """The shell command Snakemake recorded for the job that wrote ``output``."""
    record = Path(".snakemake/metadata") / base64.urlsafe_b64encode(output.encode()).decode()
    if not record.exists():
        sys.exit(f"{output}: no Snakemake record; run the cold-levers overlay in this folder first")
    return json.loads(record.read_text())["shellcmd"]


def pairs_after(cmd: str, flag: str) -> list[str]:
    """The ``graph:propensity`` arguments after ``flag`` in a recorded command."""
    words = cmd.split()
    if flag not in words:
        return []
    out = []
    for w in words[words.index(flag) + 1:]:
        if w.startswith("--") or w == "2>":
            break
        out.append(w)
    return out


def settings_of(cmd: str) -> dict:
    return json.loads(cmd.split("--settings '", 1)[1].split("' ", 1)[0])


def run(args: list[str]) -> None:
    subprocess.run([sys.executable, "-m", "equiglass", *args], check=True)


def evaluations(name: str) -> list[dict]:
    """The evaluation JSON of an ablation variant and of its seed replicates."""
    base = Path("results/ablations/eval")
    return [read_json(base / f"{name}.json"), *(read_json(p) for p in sorted((base / name).glob("seed*.json")))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="results/adhoc/cage_ridge")
    a = ap.parse_args()
    train_cmd = shell_command("results/ablations/models/lever-cage/model.pt")
    test_cmd = shell_command("results/ablations/eval/lever-cage.json")
    ridge = settings_of(shell_command("results/models/ridge/T0.60/model.pt"))
    train, val, test = pairs_after(train_cmd, "--train"), pairs_after(train_cmd, "--val"), pairs_after(test_cmd, "--test")
    evs = {}
    for positions in ("thermal", "cage"):
        def graphs(ps: list[str], positions: str = positions) -> list[str]:
            return ps if positions == "cage" else [p.replace(CAGE_GRAPHS, "results/graphs/") for p in ps]

        out = Path(a.out) / positions
        s = {**ridge, "set_name": f"ridge-{positions} (lever training set)",
             "inputs": {**ridge["inputs"], "positions": positions}}
        run(["train", "--settings", json.dumps(s), "--train", *graphs(train), "--val", *graphs(val),
             "--dynamics", "results/dynamics/T0.60.json", "--out-dir", str(out)])
        run(["evaluate", "--settings", json.dumps({"seed": 3, "set_name": f"ridge-{positions}"}),
             "--model", str(out / "model.pt"), "--test", *graphs(test), "--output", str(out / "eval.json"),
             "--device", "cpu"])
        evs[f"ridge-{positions}"] = [read_json(out / "eval.json")]
    evs["se3-cage"] = evaluations("lever-cage")
    evs["se3-thermal"] = evaluations("se3-reference")
    rows = []
    for x, y in (("se3-cage", "ridge-cage"), ("ridge-cage", "ridge-thermal"), ("se3-cage", "se3-thermal"),
                 ("se3-thermal", "ridge-thermal")):
        rows += compare_pair(evs[x], evs[y], x, y, species=("A",))
    (Path(a.out) / "comparisons.json").write_text(json.dumps(rows, indent=1, default=float))
    labels = sorted({r["timescale"] for r in rows}, key=lambda t: -float(t.split("=")[1]))
    keep = {labels[0], "Fs=0.368"}
    print("| a − b | test T | timescale | Δρ_A [95 % CI] | seeds a/b | verdict |\n|---|---|---|---|---|---|")
    for r in rows:
        if r["timescale"] in keep:
            print(f"| {r['model_a']} − {r['model_b']} | {r['test_T']:.2f} | {r['timescale']} | "
                  f"{r['delta_rho']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}] | "
                  f"{r['seeds_a']}/{r['seeds_b']} | {r['verdict']} |")


if __name__ == "__main__":
    main()
