"""How ``results/summary.md`` writes numbers, intervals and the training seeds behind them."""

from __future__ import annotations

import math
from typing import Any


def fmt(x: Any, spec: str = ".3f") -> str:
    """``x`` formatted with ``spec``; "n/a" for None and non-finite numbers."""
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def num(x: str | None) -> float:
    """A CSV cell as a number (NaN when empty)."""
    return float(x) if x not in (None, "") else float("nan")


def ci(row: dict[str, Any], seeds: bool = True) -> str:
    """A comparison row's Δρ [95 % CI], and (``seeds``) the training seeds of each side where either
    had several, e.g. "+0.030 [+0.010, +0.052] (3 vs 1 seeds)"."""
    n_a, n_b = int(row.get("seeds_a", 1)), int(row.get("seeds_b", 1))
    note = f" ({n_a} vs {n_b} seeds)" if seeds and max(n_a, n_b) > 1 else ""
    return f"{fmt(row['delta_rho'], '+.3f')} [{fmt(row['ci_low'], '+.3f')}, {fmt(row['ci_high'], '+.3f')}]{note}"


def seeds_cell(row: dict[str, Any]) -> str:
    """"3 (0.050)": a metrics.csv row's training seeds and the standard deviation of ρ over them."""
    n = int(row.get("n_seeds") or 1)
    return f"{n} ({fmt(num(row.get('pearson_seed_std')))})" if n > 1 else "1"


def seeds_sentence(rows: list[dict[str, Any]]) -> str:
    """How many training seeds each model of metrics.csv (``rows``) had, and what the intervals then hold."""
    seeds = {f"{r['model']}@{r['train_set']}": int(r.get("n_seeds") or 1) for r in rows}
    if all(n == 1 for n in seeds.values()):
        return ("Every model was trained once (training.seeds = 1): the intervals hold the spread over test "
                "configurations, not the spread between trainings from other seeds.")
    by_n: dict[int, list[str]] = {}
    for name, n in seeds.items():
        by_n.setdefault(n, []).append(name)
    return ("Training seeds per model: " + "; ".join(f"{n}: {', '.join(names)}" for n, names in sorted(by_n.items()))
            + " (closed-form fits are seed-independent and trained once). A model's ρ is the mean over its seeds; "
            "its interval and every comparison with a model of several seeds come from a two-level bootstrap "
            "(test configurations jointly, each side's seeds independently), so they hold the seed-to-seed "
            "spread of training too.")


__all__ = ["ci", "fmt", "num", "seeds_cell", "seeds_sentence"]
