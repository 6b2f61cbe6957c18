"""Did a trained network learn, and had its validation curve flattened when training stopped?

A comparison against a baseline that never learned (validation ρ ≈ 0) or that was still improving
when its epoch budget ran out says little about the architectures; the summary qualifies its
verdicts with :func:`training_status`. Reads ``model.json`` (training record) and ``history.csv``
(one row per epoch, and per timescale for per-timescale families such as Bapst et al.'s).
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from typing import Any

from ..files import read_json

LEARNED_RHO = 0.1
"""A network whose best validation ρ_A (Pearson ρ over type-A particles) stays below this has not
learned: the descriptor baselines reach 0.3–0.7 on the same data."""
LEARNED_LOSS = 0.95
"""... nor one whose training loss (MSE of standardized targets) never fell below this: predicting
the mean gives 1. (An untrained graph network can show validation ρ ≈ 0.2 at its first epoch from
its structure alone; the loss tells whether it fitted anything.)"""


def _listify(value: Any, n: int) -> list[Any]:
    return list(value) if isinstance(value, list) else [value] * n


def training_status(model_json: str | Path, history_csv: str | Path | None = None) -> dict[str, Any]:
    """Per trained curve (one per timescale for per-timescale families, else one): epochs run of the
    budget, best validation ρ_A, why training stopped; ``learned`` (best validation ρ_A ≥
    :data:`LEARNED_RHO` and training loss below :data:`LEARNED_LOSS` on every curve) and ``flattened`` (every curve stopped on its validation
    plateau, i.e. by early stopping, not by the epoch budget). Models trained without epochs
    (ridge) are ``learned`` and ``flattened`` by definition (closed form)."""
    art = read_json(model_json)
    tr = art.get("info", {}).get("training", {})
    folder = Path(model_json).parent
    replicate = int(folder.name[4:]) if re.fullmatch(r"seed[1-9]\d*", folder.name) else 0
    name = f"{art.get('family')}@{(folder.parent if replicate else folder).name}"
    if "epochs_run" not in tr:  # closed-form fits
        return {"model": name, "learned": True, "flattened": True, "curves": [], "iterative": False,
                "replicate": replicate}
    labels = tr.get("timescales") if tr.get("per_timescale") else None
    n = len(labels) if labels else 1
    runs, reasons = _listify(tr["epochs_run"], n), _listify(tr.get("stop_reason", ""), n)
    best_epochs = _listify(tr.get("best_epoch"), n)
    rows = list(csv.DictReader(open(history_csv))) if history_csv and Path(history_csv).exists() else []
    curves = []
    for k in range(n):
        mine = [r for r in rows if not labels or r.get("timescale") == labels[k]]
        vals = [float(r["val_rho_A"]) for r in mine if r.get("val_rho_A") not in (None, "", "nan")]
        vals = [v for v in vals if math.isfinite(v)]
        losses = [float(r["train_loss"]) for r in mine if r.get("train_loss") not in (None, "", "nan")]
        losses = [v for v in losses if math.isfinite(v)]
        curves.append({
            "timescale": labels[k] if labels else "all", "epochs_run": int(runs[k]), "epochs": int(tr.get("epochs", 0)),
            "best_epoch": best_epochs[k], "best_val_rho_A": max(vals) if vals else float("nan"),
            "min_train_loss": min(losses) if losses else float("nan"),
            "stop_reason": str(reasons[k]),
        })
    learned = all(math.isfinite(c["best_val_rho_A"]) and c["best_val_rho_A"] >= LEARNED_RHO
                  and not c["min_train_loss"] >= LEARNED_LOSS for c in curves)
    flattened = all("early stopping" in c["stop_reason"] for c in curves)
    return {"model": name, "learned": learned, "flattened": flattened, "curves": curves, "iterative": True,
            "replicate": replicate}


def combine_seeds(statuses: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Model name → the status of all its training seeds (``replicate`` 0, 1, ...) together: it
    ``learned`` / ``flattened`` only if every seed did; ``n_seeds``, ``seeds_not_learned``,
    ``seeds_not_flattened`` (counts) to qualify a verdict with."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for st in statuses:
        groups.setdefault(st["model"], []).append(st)
    return {name: {**sts[0], "learned": all(s["learned"] for s in sts), "flattened": all(s["flattened"] for s in sts),
                   "n_seeds": len(sts), "seeds_not_learned": sum(not s["learned"] for s in sts),
                   "seeds_not_flattened": sum(not s["flattened"] for s in sts)} for name, sts in groups.items()}


def _of_seeds(status: dict[str, Any], key: str) -> str:
    """": 1 of 3 seeds" for a model trained from several seeds, else ""."""
    n = status.get("n_seeds", 1)
    return f": {status.get(key, 0)} of {n} seeds" if n > 1 else ""


def describe(status: dict[str, Any]) -> str:
    """One line, e.g. ``bapst@T0.60: did not learn (best validation ρ_A 0.06, 0.14; lowest training loss
    1.48, 1.05; epochs run 18/40, 17/40)``."""
    seed = f" seed replicate {status['replicate']}" if status.get("replicate") else ""
    if not status["iterative"]:
        return f"{status['model']}{seed}: closed-form fit"
    word = ("did not learn" if not status["learned"] else
            "still improving when its epoch budget ran out" if not status["flattened"] else "trained to a plateau")
    rho = ", ".join(f"{c['best_val_rho_A']:.2f}" for c in status["curves"])
    loss = ", ".join(f"{c['min_train_loss']:.3g}" for c in status["curves"])
    ep = ", ".join(f"{c['epochs_run']}/{c['epochs']}" for c in status["curves"])
    return f"{status['model']}{seed}: {word} (best validation ρ_A {rho}; lowest training loss {loss}; epochs run {ep})"


def qualify(verdict: str, better: dict[str, Any] | None, worse: dict[str, Any] | None) -> str:
    """A verdict on "``better`` beats ``worse``" qualified by how both trained: a win over a model
    that did not learn or had not flattened is unresolved; a loss of a model still improving is
    reported as a loss at this budget. Models trained from several seeds: their
    :func:`combine_seeds` status (any seed that did not learn or flatten counts)."""
    if verdict == "supported" and worse is not None and not (worse["learned"] and worse["flattened"]):
        why = "did not learn" if not worse["learned"] else "was still improving"
        which = _of_seeds(worse, "seeds_not_learned" if not worse["learned"] else "seeds_not_flattened")
        return f"unresolved ({worse['model'].split('@')[0]} {why} within this budget{which})"
    if verdict == "contradicted" and better is not None and not better["flattened"]:
        return (f"contradicted at this budget ({better['model'].split('@')[0]} was still improving"
                f"{_of_seeds(better, 'seeds_not_flattened')})")
    return verdict


__all__ = ["LEARNED_LOSS", "LEARNED_RHO", "combine_seeds", "describe", "qualify", "training_status"]
