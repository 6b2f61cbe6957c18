#!/usr/bin/env python
"""Check the noise ceiling (:mod:`equiglass.ceiling`) on real iso-configurational data.

Equilibrates ``--samples`` configurations with a preset's settings (default: the quick preset,
N = 1000, at ``--temperature``), runs ``--replicas`` NVE replicas from each keeping every replica's
|Δr| (the pipeline keeps sums only), and compares, at the times where the configuration's F_s^A
crosses 0.9, 0.7, 0.5, 1/e and 0.25 (species A):

- for each disjoint group of 8 replicas (what the quick preset has): the analytic ceiling,
  the split-half ceiling, the analytic ceiling without the replica-wide common mode (a shift of
  every label that Pearson ρ does not see), and an independent reference, the correlation of the
  8-replica label with the mean of all other replicas divided by the square root of that mean's
  split-half reliability;
- the Spearman–Brown projection from 8 replicas to 16 and 32 against the ceilings measured with
  all replicas.

    python scripts/ceiling_check.py --out /tmp/ceiling_check                      # ~12 min on one core
    python scripts/ceiling_check.py --out /tmp/ceiling_check --samples 000 001 --replicas 32

Writes ``<out>/ceiling_check.json`` (and keeps ``disp_s*.npy``, so a rerun only analyses).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from equiglass import ceiling as C
from equiglass import settings as S
from equiglass.config import load_config
from equiglass.dynamics import crossing_time, nearest_log_index
from equiglass.files import write_json
from equiglass.formats.gsd_files import read_gsd
from equiglass.iso import iso_replica, log_time_steps, self_intermediate_scattering
from equiglass.md import MDSettings
from equiglass.provenance import derive_seed, provenance
from equiglass.steps.simulate import step_equilibrate

LEVELS = (0.9, 0.7, 0.5, 1 / math.e, 0.25)
GROUP = 8


def simulate(cfg: dict, temp: str, sample: str, replicas: int, out: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times (n_t,) [τ], types (N,), |Δr| (R, n_t, N) [σ]) of one configuration; cached in ``out``."""
    gsd, disp_file = out / f"s{sample}.gsd", out / f"disp_s{sample}.npy"
    if not gsd.exists():
        step_equilibrate(S.equilibrate(cfg, temp, sample), gsd, out / f"s{sample}_thermo.csv")
    st = S.isoconfigurational(cfg, temp, sample, "00")
    md = MDSettings(**st["md"])
    state = read_gsd(gsd)
    iso = st["isoconfigurational"]
    steps = log_time_steps(iso["duration_tau_alpha"] * st["tau_alpha_estimate"], md.dt, iso["points_per_decade"])
    if disp_file.exists() and np.load(disp_file, mmap_mode="r").shape[0] >= replicas:
        return steps * md.dt, state.types, np.load(disp_file)[:replicas].astype(np.float64)
    disp, t0 = [], time.perf_counter()
    for r in range(replicas):  # the workflow's replica seeds: replica r of batch 0
        d, _ = iso_replica(state, float(temp), steps, md, derive_seed(int(st["seed"]), "replica", r))
        disp.append(d.astype(np.float32))
        print(f"s{sample} replica {r + 1}/{replicas} ({time.perf_counter() - t0:.0f} s)", flush=True)
    np.save(disp_file, np.stack(disp))
    return steps * md.dt, state.types, np.stack(disp).astype(np.float64)


def analytic(sub: np.ndarray, mask: np.ndarray, common_mode: bool = False) -> np.ndarray:
    """Analytic reliability of the mean of ``sub`` (r, K, N); with ``common_mode`` the variance of the
    replica-wide mean (what shifts every label of a replica alike) is not counted as noise."""
    st = C.replica_statistics(sub)
    noise = np.mean(st["stderr"][:, mask] ** 2, axis=1)
    if common_mode:
        noise = noise - sub[:, :, mask].mean(axis=2).var(axis=0, ddof=1) / sub.shape[0]
    return 1.0 - noise / st["propensity"][:, mask].var(axis=1, ddof=1)


def split_half(sub: np.ndarray, mask: np.ndarray) -> np.ndarray:
    st = C.replica_statistics(sub)
    return C.split_half_reliability(st["halves"], tuple(st["half_replicas"]), mask)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--configfile", nargs="*", default=[], help="preset overlays on config.yaml (default: quick)")
    ap.add_argument("--temperature", default="0.60")
    ap.add_argument("--samples", nargs="+", default=["000", "001"])
    ap.add_argument("--replicas", type=int, default=32)
    args = ap.parse_args()
    if args.replicas < 2 * GROUP:
        ap.error(f"--replicas must be at least {2 * GROUP} (a group of {GROUP} and a reference)")
    args.out.mkdir(parents=True, exist_ok=True)
    cfg = load_config(Path(__file__).resolve().parents[1] / "config.yaml", *args.configfile)
    rows, full, t0 = [], [], time.perf_counter()
    for s in args.samples:
        times, types, disp = simulate(cfg, args.temperature, s, args.replicas, args.out)
        a = types == 0
        fs = self_intermediate_scattering(disp[:, :, a]).mean(axis=(0, 2))
        idx = [nearest_log_index(times, crossing_time(times, fs, v)) for v in LEVELS]
        d = disp[:, idx]
        for g in range(args.replicas // GROUP):
            sub, rest = d[g * GROUP:(g + 1) * GROUP], np.delete(d, np.s_[g * GROUP:(g + 1) * GROUP], axis=0)
            rho = np.array([np.corrcoef(sub.mean(0)[k, a], rest.mean(0)[k, a])[0, 1] for k in range(len(idx))])
            rel = analytic(sub, a)
            r1 = C.single_replica(rel, GROUP)
            rows.append({"sample": s, "group": g, "times": times[idx], "fs": fs[idx],
                         "analytic": C.ceiling_of(rel), "analytic_without_common_mode": C.ceiling_of(analytic(sub, a, True)),
                         "split_half": C.ceiling_of(split_half(sub, a)), "reference": rho / np.sqrt(split_half(rest, a)),
                         "projected_16": C.ceiling_of(C.spearman_brown(r1, 16)),
                         f"projected_{args.replicas}": C.ceiling_of(C.spearman_brown(r1, args.replicas))})
        full.append({"sample": s, "analytic": C.ceiling_of(analytic(d, a)), "split_half": C.ceiling_of(split_half(d, a))})
    keys = [k for k in rows[0] if k not in ("sample", "group", "times", "fs")]
    result = {
        "temperature": float(args.temperature), "levels_fs": LEVELS, "species": "A", "group_replicas": GROUP,
        "replicas": args.replicas, "samples": args.samples,
        f"mean_over_groups_of_{GROUP}": {k: np.mean([r[k] for r in rows], axis=0) for k in keys},
        f"sd_over_groups_of_{GROUP}": {k: np.std([r[k] for r in rows], axis=0, ddof=1) for k in keys},
        f"measured_with_{args.replicas}": {k: np.mean([f[k] for f in full], axis=0) for k in ("analytic", "split_half")},
        "groups": rows,
        "provenance": provenance("ceiling_check", {"configfile": args.configfile, **vars(args)},
                                 time.perf_counter() - t0),
    }
    write_json(args.out / "ceiling_check.json", result)
    np.set_printoptions(precision=3, suppress=True)
    print(f"F_s levels {np.round(LEVELS, 3)}; species A; {len(rows)} groups of {GROUP} replicas")
    for k in keys:
        print(f"  {k:30s} {result[f'mean_over_groups_of_{GROUP}'][k]}  (sd {result[f'sd_over_groups_of_{GROUP}'][k]})")
    for k, v in result[f"measured_with_{args.replicas}"].items():
        print(f"  measured with {args.replicas} replicas, {k:12s} {v}")


if __name__ == "__main__":
    main()
