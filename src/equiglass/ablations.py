"""The ablations and learning curves of the study: which models to train, each a small overlay on
the configuration (pure Python; the workflow plans them at parse time).

Every variant trains at the ablation temperature (``ablations.train_set``, one temperature) on
the first ``ablations.n_train`` training configurations (null or ``all``: all) for
``ablations.epochs`` epochs (null: ``training.epochs``), from ``ablations.seeds`` training seeds,
and is tested on that temperature's test configurations (and on ``ablations.test_temperatures``),
so all variants of a study share one test set and are compared paired. Studies
(``ablations.*`` in the configuration):

- ``lmax``: the SE(3) GNN with l_max = 0 (invariant messages only: the control that isolates
  what equivariance buys), 1, 2, 3 at near-equal parameter count (the channel count ``mul`` is
  chosen in the training job to match the reference model's parameters);
- ``depth``: 1, 2, 4, 8 interaction layers (receptive field);
- ``inputs``: thermal positions, inherent structures, cage states, thermal + local energy;
- ``curve``: every model family on 1, 2, 4, … training configurations ("all" = the ablations'
  own number), the learning curves;
- ``levers``: named overlays of SE(3) settings (the levers tried to improve it at τ_α); a lever's
  ``ablations: {train_set, n_train}`` trains it on other temperatures or another number of
  configurations.

Variants with identical settings are trained once (their key is the same).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

INPUT_VARIANTS = {
    "thermal": {"positions": "thermal", "local_energy": False},
    "inherent": {"positions": "inherent", "local_energy": False},
    "cage": {"positions": "cage", "local_energy": False},
    "thermal+energy": {"positions": "thermal", "local_energy": True},
    "inherent+energy": {"positions": "inherent", "local_energy": True},
}


@dataclass(frozen=True)
class Variant:
    """One ablation model: ``key`` (its folder), the ``family``, an overlay on the configuration
    (``models``/``training``/``inputs`` keys), the number of training configurations (None: the
    ablation default) and whether its SE(3) width is matched to the reference parameter count."""

    key: str
    family: str
    overlay: dict[str, Any] = field(default_factory=dict)
    n_train: int | None = None
    match_parameters: bool = False
    train_set: tuple[float, ...] | None = None  # training temperatures (None: the ablation temperature)

    def inputs_key(self) -> str:
        """The model-input variant (a key of INPUT_VARIANTS) this model reads."""
        inp = self.overlay.get("inputs", {})
        key = inp.get("positions", "thermal") + ("+energy" if inp.get("local_energy") else "")
        return key


def _deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in overlay.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def configured(cfg: dict[str, Any], variant: Variant) -> dict[str, Any]:
    """The configuration a variant trains with."""
    return _deep_merge(cfg, variant.overlay)


def _se3(key: str, overlay: dict[str, Any], match: bool = False) -> Variant:
    return Variant(key, "se3gnn", overlay, match_parameters=match)


def studies(cfg: dict[str, Any]) -> dict[str, list[tuple[str, Variant]]]:
    """Study name -> [(label of the setting, variant)], for the studies switched on."""
    ab = cfg["ablations"]
    se3 = cfg["models"]["se3gnn"]
    base_inputs = cfg["inputs"]
    out: dict[str, list[tuple[str, Variant]]] = {}

    def key_of(extra: dict[str, Any]) -> str:
        return "se3" + "".join(f"-{k}{v}" for k, v in sorted(extra.items())) if extra else "se3-reference"

    if ab["lmax"]:
        rows = []
        for lmax in ab["lmax"]:
            same = lmax == se3["l_max"]
            rows.append((f"l_max = {lmax}", _se3(key_of({} if same else {"lmax": lmax}),
                                                 {} if same else {"models": {"se3gnn": {"l_max": lmax}}}, not same)))
        out["lmax"] = rows
    if ab["depth"]:
        out["depth"] = [(f"{d} layer{'s' if d > 1 else ''}",
                         _se3(key_of({} if d == se3["n_layers"] else {"depth": d}),
                              {} if d == se3["n_layers"] else {"models": {"se3gnn": {"n_layers": d}}}))
                        for d in ab["depth"]]
    if ab["inputs"]:
        rows = []
        for name in ab["inputs"]:
            inp = INPUT_VARIANTS[name]
            same = inp["positions"] == base_inputs["positions"] and inp["local_energy"] == base_inputs["local_energy"]
            rows.append((name, _se3(key_of({} if same else {"inputs": name.replace("+", "_")}),
                                    {} if same else {"inputs": dict(inp)})))
        out["inputs"] = rows
    if ab["learning_curve"]:
        rows = []
        for family in ab["learning_curve_models"]:
            for n in ab["learning_curve"]:
                size = None if n == "all" or n == ab["n_train"] else int(n)
                if family == "se3gnn":
                    rows.append((f"{family} n={n}", Variant(key_of({}) if size is None else f"se3-n{size}", family,
                                                            {}, size)))
                else:
                    rows.append((f"{family} n={n}", Variant(f"{family}-n{n}", family, _curve_overlay(cfg, family),
                                                            size)))
        out["curve"] = rows
    if ab["levers"]:
        out["levers"] = [("reference", _se3(key_of({}), {}))] + [
            (name, _lever(name, overlay)) for name, overlay in ab["levers"].items()]
    return out


def _lever(name: str, overlay: dict[str, Any]) -> Variant:
    """A lever: an SE(3) overlay; its ``ablations`` section (train_set, n_train) says what data it trains on."""
    over = {k: v for k, v in overlay.items() if k != "ablations"}
    data = overlay.get("ablations") or {}
    n = data.get("n_train")
    train_set = data.get("train_set")
    return Variant(f"lever-{name}", "se3gnn", over, None if n in (None, "all") else int(n),
                   train_set=tuple(sorted(float(t) for t in train_set)) if train_set else None)


LEVER_DATA_KEYS = ("train_set", "n_train")


def problems(cfg: dict[str, Any]) -> list[str]:
    """Contradictions in ``ablations`` (for :func:`equiglass.config.cross_check`)."""
    ab = cfg["ablations"]
    if not ab.get("enabled"):
        return []
    out = []
    simulated = {f"{float(t):.2f}" for t in cfg["temperatures"]}
    for where, temps in [("ablations.train_set", ab.get("train_set") or []),
                         ("ablations.test_temperatures", ab["test_temperatures"]
                          if isinstance(ab["test_temperatures"], list) else [])]:
        missing = [t for t in temps if f"{float(t):.2f}" not in simulated]
        if missing:
            out.append(f"{where}: temperatures {missing} are not simulated (temperatures: {cfg['temperatures']})")
    for name, overlay in (ab.get("levers") or {}).items():
        data = overlay.get("ablations") or {}
        extra = sorted(set(data) - set(LEVER_DATA_KEYS))
        if extra:
            out.append(f"ablations.levers.{name}.ablations: {extra} cannot change per lever (only "
                       f"{', '.join(LEVER_DATA_KEYS)})")
        missing = [t for t in data.get("train_set") or [] if f"{float(t):.2f}" not in simulated]
        if missing:
            out.append(f"ablations.levers.{name}.ablations.train_set: temperatures {missing} are not simulated")
        n = data.get("n_train")
        if n is not None and n != "all" and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            out.append(f"ablations.levers.{name}.ablations.n_train = {n!r}: a number of configurations or all")
    return out


def _curve_overlay(cfg: dict[str, Any], family: str) -> dict[str, Any]:
    """Learning curves at τ_α: a per-timescale family (Bapst's) trains only its τ_α model."""
    from .models import registry

    recipe = {**(registry.family(family).training or {}), **cfg["training"]["per_model"].get(family, {})}
    if recipe.get("per_timescale"):
        return {"training": {"per_model": {family: {"timescales": [tau_alpha_label(cfg)]}}}}
    return {}


def tau_alpha_label(cfg: dict[str, Any]) -> str:
    """The label of the τ_α timescale of the configured propensity targets."""
    pr = cfg["propensity"]
    if pr["mode"] == "fs":
        return next((f"Fs={v:.3g}" for v in pr["values"] if abs(v - 0.3678794) < 1e-3),
                    f"Fs={pr['values'][len(pr['values']) // 2]:.3g}")
    return next((f"{v:g}tau_a" for v in pr["values"] if abs(v - 1.0) < 1e-9),
                f"{pr['values'][len(pr['values']) // 2]:g}tau_a")


def variants(cfg: dict[str, Any]) -> dict[str, Variant]:
    """Every distinct model the ablations train, by key."""
    out: dict[str, Variant] = {}
    for rows in studies(cfg).values():
        for _, v in rows:
            out.setdefault(v.key, v)
    return out


__all__ = ["INPUT_VARIANTS", "LEVER_DATA_KEYS", "Variant", "configured", "problems", "studies", "tau_alpha_label",
           "variants"]
