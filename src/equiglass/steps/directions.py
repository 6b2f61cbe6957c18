"""Generalization by direction: a model trained at one or more temperatures and tested at a
temperature colder than every training temperature ("train hot → test cold", e.g. the test-only
temperature of ``split.test_only``) or hotter than every one ("train cold → test hot").

:func:`direction_deltas` gives Δρ = ρ(SE(3)) − ρ(family) of every family against the SE(3) GNN
trained on the same set, paired over the same test configurations (the rows of
``results/experiments/generalization.json`` under ``deltas``); :func:`cold_section` writes them
into ``results/summary.md``. The intervals are those of :func:`equiglass.steps.compare.compare_pair`
(the paired bootstrap over test configurations; with several training seeds (``training.seeds``) the
two-level bootstrap over configurations and seeds, :func:`equiglass.stats.seed_replicated_difference`),
so the comparisons table and these rows agree number for number.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .compare import compare_pair
from .convergence import qualify

REFERENCE = "se3gnn"
LABELS = {"seen": "seen in training", "colder": "colder than training", "hotter": "hotter than training",
          "between": "between training temperatures"}


def direction(test_T: float, train_temperatures: list[float]) -> str:
    """``seen``, ``colder`` (below every training T), ``hotter`` (above every one) or ``between``."""
    train = sorted(round(float(t), 2) for t in train_temperatures)
    t = round(float(test_T), 2)
    if not train or t in train:
        return "seen"
    return "colder" if t < train[0] else "hotter" if t > train[-1] else "between"


def direction_deltas(evaluations: list[dict[str, Any]], seed: int = 0, species: tuple[str, ...] = ("A", "B"),
                     replicates: list[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Δρ(SE(3) − family) rows for every family trained on a set the SE(3) GNN was trained on, at
    every test temperature and timescale: compare_pair's rows plus ``family``, ``direction``,
    ``train_temperatures``, ``rho_reference`` and ``rho_family`` (means over test configurations,
    averaged over the training seeds like Δρ). ``replicates``: evaluations of the training seeds r ≥ 1 (training.seeds);
    a model with several is compared by the two-level bootstrap (configurations and seeds)."""
    by_key = {(ev["model"], ev["train_set"]): ev for ev in evaluations}
    seeds: dict[tuple[str, str], list[dict[str, Any]]] = {key: [ev] for key, ev in by_key.items()}
    for ev in replicates:
        seeds.setdefault((ev["model"], ev["train_set"]), []).append(ev)
    rows = []
    for family, ts in sorted(by_key):
        ref = by_key.get((REFERENCE, ts))
        if family == REFERENCE or ref is None:
            continue
        train = [float(t) for t in ref.get("train_temperatures") or []]
        for r in compare_pair(seeds[REFERENCE, ts], seeds[family, ts], f"{REFERENCE}@{ts}", f"{family}@{ts}",
                              species=species, seed=seed):
            tkey = f"{r['test_T']:.2f}"
            rows.append({**r, "family": family, "train_temperatures": train,
                         "direction": direction(r["test_T"], train),
                         "rho_reference": _seed_mean(seeds[REFERENCE, ts], tkey, r["species"], r["timescale"]),
                         "rho_family": _seed_mean(seeds[family, ts], tkey, r["species"], r["timescale"])})
    return rows


def _seed_mean(evs: list[dict[str, Any]], tkey: str, species: str, label: str) -> float:
    """ρ of one model averaged over its training seeds' evaluations."""
    return float(np.mean([_rho(ev, tkey, species, label) for ev in evs]))


def _rho(ev: dict[str, Any], tkey: str, species: str, label: str) -> float:
    res = ev["results"][tkey]
    m, labels = res["metrics"].get(species), res["timescale_labels"]
    if m is None or label not in labels or m["pearson"][labels.index(label)] is None:
        return float("nan")
    return float(m["pearson"][labels.index(label)])


def _f(x: Any, spec: str = ".3f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def _delta(r: dict[str, Any]) -> str:
    seeds = (f" ({r['seeds_a']} vs {r['seeds_b']} seeds)"
             if max(int(r.get("seeds_a", 1)), int(r.get("seeds_b", 1))) > 1 else "")
    return f"{_f(r['delta_rho'], '+.3f')} [{_f(r['ci_low'], '+.3f')}, {_f(r['ci_high'], '+.3f')}]{seeds}"


def cold_section(generalization: dict[str, Any], status: dict[str, Any] | None = None) -> list[str]:
    """The summary's "Train hot → test cold" section (species A, the shortest time and τ_α), with
    the opposite direction below it for contrast; [] when no model was tested colder than it trained.

    ``status``: training status per model ("family@set", :func:`convergence.combine_seeds`); a win
    over a network that did not learn or was still improving is then *unresolved* (as in the claims).
    """
    status = status or {}
    rows = [r for r in generalization.get("deltas", []) if r["species"] == "A"]
    first = {}
    for r in rows:
        first.setdefault((r["model_b"], r["test_T"]), r["timescale"])
    keep = [r for r in rows if r["is_tau_alpha"] or r["timescale"] == first[(r["model_b"], r["test_T"])]]
    cold = [r for r in keep if r["direction"] == "colder"]
    if not cold:
        return []
    hot = [r for r in keep if r["direction"] == "hotter"]
    temps = sorted({r["test_T"] for r in cold})
    n = sorted({r["n_configurations"] for r in cold})
    several = any(max(int(r.get("seeds_a", 1)), int(r.get("seeds_b", 1))) > 1 for r in cold)
    seeds = ("; a model trained from several seeds (training.seeds) is its mean over them, and its seeds are "
             "resampled too (two-level bootstrap)") if several else ""
    lines = ["", "## Train hot → test cold (A)", "",
             f"Every family trained on a set of hotter temperatures and tested at T = "
             f"{', '.join(f'{t:.2f}' for t in temps)}, colder than all of them (never trained on: test only). "
             "Δρ = ρ(SE(3) GNN) − ρ(family), both trained on the same set, paired over the same "
             f"{'/'.join(map(str, n))} cold test configurations, with its 95 % bootstrap interval over them "
             f"(configurations resampled jointly{seeds}); *supported* when the interval lies above 0 (the SE(3) GNN "
             "generalizes better), *contradicted* below 0, else *unresolved* (also when the other network did not "
             "learn or was still improving: see \"How each network trained\"). The opposite direction (trained "
             "colder, tested hotter) follows for contrast; every row is in experiments/generalization.json.", "",
             *_published_beside(temps),
             "| direction | train set | test T | family | timescale | ρ SE(3) | ρ family | Δρ [95 % CI] | n | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(cold, key=_order) + sorted(hot, key=_order):
        name = "train hot → test cold" if r["direction"] == "colder" else "train cold → test hot"
        lines.append(f"| {name} | {r['train_set']} | {r['test_T']:.2f} | {r['family']} | {r['timescale']} | "
                     f"{_f(r['rho_reference'])} | {_f(r['rho_family'])} | {_delta(r)} | {r['n_configurations']} | "
                     f"{qualify(r['verdict'], status.get(r['model_a']), status.get(r['model_b']))} |")
    return lines


def _published_beside(temps: list[float]) -> list[str]:
    """GlassBench's SE(3)-GNN trained *and* tested at a cold temperature, for scale ([] if none)."""
    from ..reference import PUBLISHED_SE3_AT_TAU_ALPHA

    known = [(t, PUBLISHED_SE3_AT_TAU_ALPHA[round(t, 2)]) for t in temps if round(t, 2) in PUBLISHED_SE3_AT_TAU_ALPHA]
    if not known:
        return []
    vals = "; ".join(f"T = {t:.2f}: {rho:.3f}" for t, rho in known)
    return [f"For scale, not like for like: GlassBench's SE(3)-GNN trained *and* tested there (N = 4096, 400 "
            f"training configurations; its deposited predictions as scored in the EIGNN repository) reaches "
            f"ρ_A at τ_α {vals}.", ""]


def _order(r: dict[str, Any]) -> tuple:
    return r["train_set"], r["test_T"], r["family"], r["is_tau_alpha"]


__all__ = ["LABELS", "cold_section", "direction", "direction_deltas"]
