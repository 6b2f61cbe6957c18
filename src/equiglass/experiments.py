"""The seed paper's three experiments on whatever data the pipeline produced or imported.

1. **Generalization to unseen temperatures**: every trained model is evaluated at every test
   temperature (``evaluate`` does that); :func:`generalization` arranges the results as a
   (model, training set) × test-T matrix of Pearson ρ per timescale and species.
2. **Transfer learning**: :func:`transfer` keeps the representation of an SE(3) GNN trained at
   one temperature (frozen backbone: embedding, interaction layers), fits only a fresh readout
   at another temperature on n configurations, and compares with fine-tuning everything, with
   training from scratch on the same n configurations and with ridge on descriptors.
3. **Interpretability**: :func:`interpret` correlates each layer's rotation invariants (0e
   channels and norms of the l > 0 channels) with Steinhardt q_l, q̄_l, the local density and the
   local potential energy, and fits linear probes from the features of each layer to those
   descriptors (R² on held-out configurations).
"""

from __future__ import annotations

import copy
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from e3nn import o3

from .artifact import Predictor, build_model
from .checkpoints import accept, discard, fingerprint
from .dataset import Sample, apply_model_inputs, target_statistics, to_batch
from .devices import check_budget
from .files import InputError, write_json
from .metrics import evaluate_predictions
from .provenance import derive_seed
from .stats import pearson_columns
from .timescales import aligned
from .training import sample_arrays

# ----------------------------------------------------------------------- 1. generalization


def generalization(evaluations: list[dict[str, Any]]) -> dict[str, Any]:
    """ρ(model, training set, test T, species, timescale) from evaluation files, as nested lists.

    Returns {"rows": [...], "test_temperatures": [...], "labels": [...]} where each row is
    {model, train_set, train_temperatures, test_T, species, rho (per timescale), rho_sem,
    unseen (test T not in the training set)}. ``labels`` are the timescales of the evaluation
    with the most of them; a model trained on a subset (Bapst's recipe: one model per chosen
    timescale) has None at the others.
    """
    label_sets = [res["timescale_labels"] for ev in evaluations for res in ev["results"].values()]
    labels: list[str] = max(label_sets, key=len, default=[])
    rows = []
    temps: set[float] = set()
    for ev in evaluations:
        train_t = [round(float(t), 4) for t in ev.get("train_temperatures") or []]
        for tkey, res in ev["results"].items():
            temps.add(float(tkey))
            own = res["timescale_labels"]
            for species, m in res["metrics"].items():
                rows.append({
                    "model": ev["model"], "train_set": ev["train_set"], "train_temperatures": train_t,
                    "test_T": float(tkey), "species": species, "rho": aligned(m["pearson"], own, labels),
                    "rho_sem": aligned(m["pearson_sem"], own, labels), "times": aligned(res["times"], own, labels),
                    "unseen": round(float(tkey), 4) not in train_t,
                })
    return {"rows": rows, "test_temperatures": sorted(temps), "labels": labels}


# ------------------------------------------------------------------------ 2. transfer

BACKBONE_PREFIXES = ("embed.", "extra.", "layers.")


def backbone_parameters(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Copies of the SE(3) GNN's representation parameters (everything but the readout)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k.startswith(BACKBONE_PREFIXES)}


def freeze_backbone(model: torch.nn.Module) -> None:
    """Only the readout stays trainable."""
    for name, p in model.named_parameters():
        p.requires_grad = not name.startswith(BACKBONE_PREFIXES)


def fit_readout(
    model: torch.nn.Module,
    samples: list[Sample],
    standardize: tuple[np.ndarray, np.ndarray],
    epochs: int,
    lr: float,
    seed: int,
    fine_tune: bool = False,
) -> torch.nn.Module:
    """Train the readout (``fine_tune``: all weights) of an SE(3) GNN on ``samples``; returns it.

    With a frozen backbone the invariant features are computed once and the readout MLP is
    trained on them (full batch), which is exact and fast.
    """
    torch.manual_seed(derive_seed(seed, "readout"))
    dev = _device_of(model)
    if not fine_tune:
        freeze_backbone(model)
        model.readout.apply(_reset)
        with torch.no_grad():
            feats = [model.readout_features(to_batch([s]).to(dev)) for s in samples]
        x = torch.cat(feats)
        batch = to_batch(samples, standardize).to(dev)
        opt = torch.optim.Adam(model.readout.parameters(), lr=lr)
        for _ in range(epochs):
            from .models.common import select_by_type

            pred = select_by_type(model.readout(x), batch.types, model.n_outputs)
            loss = torch.mean((pred - batch.y) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return model
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for epoch in range(epochs):
        order = np.random.default_rng(derive_seed(seed, "ft", epoch)).permutation(len(samples))
        for i in order:
            b = to_batch([samples[i]], standardize).to(dev)
            loss = torch.mean((model(b) - b.y) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


def _physical_predictor(model: torch.nn.Module, mean: np.ndarray, std: np.ndarray):
    """sample → (N, n_t) propensities in physical units, for a model trained on z-scores."""
    model.eval()
    dev = _device_of(model)

    def predict(sample: Sample) -> np.ndarray:
        with torch.no_grad():
            z = model(to_batch([sample]).to(dev)).cpu().numpy()
        return z * std[sample.graph.types] + mean[sample.graph.types]

    return predict


def _device_of(model: torch.nn.Module) -> torch.device:
    """Where a model's weights live (its inputs go there)."""
    return next(model.parameters()).device


def _reset(module: torch.nn.Module) -> None:
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()


def _scores(predict, samples: list[Sample]) -> dict[str, Any]:
    preds = [predict(s) for s in samples]
    return evaluate_predictions(preds, [s.targets for s in samples], [s.graph.types for s in samples])


def transfer(
    source_artifact: dict[str, Any],
    pool: list[Sample],
    test: list[Sample],
    n_configs: list[int],
    epochs: int = 300,
    fine_tune_epochs: int = 10,
    scratch_epochs: int = 10,
    lr: float = 3e-3,
    seed: int = 0,
    fine_tune: bool = True,
    scratch: bool = True,
    checkpoint: str | Path | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Sample-efficiency curves at the target temperature of ``pool``/``test``.

    For each n in ``n_configs`` the first n configurations of ``pool`` are used with:
    ``frozen`` (source backbone, new readout), ``fine_tune`` (all weights from the source),
    ``scratch`` (a new SE(3) GNN of the same architecture), ``ridge`` (descriptors).
    Returns {method: {n: metrics}} plus the source's zero-shot metrics. With ``checkpoint``
    (a JSON path) the results of each finished n are saved there and a rerun with the same
    source model, settings and data resumes after them.
    """
    from .models.ridge import RidgeModel

    if not pool or not test:
        raise InputError("transfer learning needs target-temperature training and test configurations")
    base = Predictor(source_artifact, device)  # device: "cpu" or "cuda:i"; the models stay there
    if base.family != "se3gnn":
        raise InputError(f"transfer learning needs an se3gnn source model, got {base.family}")
    inputs = source_artifact["info"].get("inputs", {})
    pool = [apply_model_inputs(s, inputs) for s in pool]
    test = [apply_model_inputs(s, inputs) for s in test]
    n_configs = sorted({n for n in n_configs if n <= len(pool)})
    out: dict[str, Any] = {"n_configs": n_configs, "methods": {}, "zero_shot": _scores(base.predict, test)}
    timings: dict[str, float] = {}
    signature = fingerprint(
        settings={"n_configs": n_configs, "epochs": epochs, "fine_tune_epochs": fine_tune_epochs,
                  "scratch_epochs": scratch_epochs, "lr": lr, "seed": seed, "fine_tune": fine_tune,
                  "scratch": scratch},
        source_model=source_artifact["content_hash"], target_data=sample_arrays(pool),
        test_data=sample_arrays(test))
    done: set[int] = set()
    ckpt = Path(checkpoint) if checkpoint else None
    if ckpt is not None and ckpt.exists():
        try:
            saved = json.loads(ckpt.read_text())
        except (OSError, ValueError) as err:
            discard(ckpt, f"unreadable ({err})", "transfer")
        else:
            if accept(ckpt, saved.get("signature"), signature, "transfer"):
                out["methods"] = {m: {int(n): v for n, v in by_n.items()} for m, by_n in saved["methods"].items()}
                timings, done = saved["timings_s"], {int(n) for n in saved["done"]}
                print(f"[transfer] resuming: n = {sorted(done)} already done", file=sys.stderr, flush=True)
    todo = [n for n in n_configs if n not in done]
    for i, n in enumerate(todo):
        t_n = time.perf_counter()
        sub = pool[:n]
        mean, std = target_statistics(sub)

        def predictor(model, mean=mean, std=std):
            return _physical_predictor(model, mean, std)

        t0 = time.perf_counter()
        frozen = copy.deepcopy(base.model)
        before = backbone_parameters(frozen)
        fit_readout(frozen, sub, (mean, std), epochs, lr, seed)
        after = backbone_parameters(frozen)
        assert all(torch.equal(before[k], after[k]) for k in before), "backbone changed while frozen"
        out["methods"].setdefault("frozen", {})[n] = _scores(predictor(frozen), test)
        timings["frozen"] = timings.get("frozen", 0.0) + time.perf_counter() - t0
        if fine_tune:
            t0 = time.perf_counter()
            tuned = copy.deepcopy(base.model)
            for p in tuned.parameters():
                p.requires_grad = True
            fit_readout(tuned, sub, (mean, std), fine_tune_epochs, lr / 3, seed, fine_tune=True)
            out["methods"].setdefault("fine_tune", {})[n] = _scores(predictor(tuned), test)
            timings["fine_tune"] = timings.get("fine_tune", 0.0) + time.perf_counter() - t0
        if scratch:
            t0 = time.perf_counter()
            torch.manual_seed(derive_seed(seed, "scratch", n))
            fresh = build_model("se3gnn", base.n_outputs, source_artifact["hparams"]).to(device)
            fit_readout(fresh, sub, (mean, std), scratch_epochs, lr, seed, fine_tune=True)
            out["methods"].setdefault("scratch", {})[n] = _scores(predictor(fresh), test)
            timings["scratch"] = timings.get("scratch", 0.0) + time.perf_counter() - t0
        x = np.concatenate([s.descriptors for s in sub]).astype(np.float64)
        t = np.concatenate([s.graph.types for s in sub])
        y = (np.concatenate([s.targets for s in sub]) - mean[t]) / std[t]
        ridge = RidgeModel().fit(x, y, t)
        out["methods"].setdefault("ridge", {})[n] = _scores(
            lambda s, r=ridge, mean=mean, std=std: r.predict(s.descriptors.astype(np.float64), s.graph.types)
            * std[s.graph.types] + mean[s.graph.types], test)
        done.add(n)
        if ckpt is not None:
            write_json(ckpt, {"signature": signature, "methods": out["methods"], "timings_s": timings,
                              "done": sorted(done)})
            if i + 1 < len(todo):  # the next size costs ~ in proportion to n; SegmentDone: resubmit resumes
                check_budget((time.perf_counter() - t_n) * todo[i + 1] / n, "transfer", f"size n = {todo[i + 1]}")
    out["methods"] = {m: {n: by_n[n] for n in sorted(by_n)} for m, by_n in out["methods"].items()}
    out["timings_s"] = timings
    return out


# ----------------------------------------------------------------------- 3. interpretability


def layer_invariants(model: torch.nn.Module, sample: Sample) -> list[tuple[np.ndarray, list[str]]]:
    """Rotation invariants of each layer: 0e channels and the norms of every other channel.

    Returns per layer (embedding first) an (N, F) array and F feature names such as
    ``L1 0e[3]`` or ``L2 |1o[5]|``.
    """
    with torch.no_grad():
        feats = [f.cpu() for f in model.features(to_batch([sample]).to(_device_of(model)))]
    out = []
    for k, f in enumerate(feats):
        if k == 0:
            names = [f"L0 emb[{u}]" for u in range(f.shape[1])]
            out.append((f.numpy().astype(np.float64), names))
            continue
        cols, names = [], []
        irreps: o3.Irreps = model.irreps_hidden
        for (mul, ir), sl in zip(irreps, irreps.slices()):
            block = f[:, sl].reshape(-1, mul, ir.dim)
            if ir == o3.Irrep("0e"):
                cols.append(block[:, :, 0])
                names += [f"L{k} 0e[{u}]" for u in range(mul)]
            else:  # 0o are pseudo-scalars: their sign flips under reflection, use |.| as for l > 0
                cols.append(block.norm(dim=-1))
                names += [f"L{k} |{ir}[{u}]|" for u in range(mul)]
        out.append((torch.cat(cols, dim=1).numpy().astype(np.float64), names))
    return out


def probe_r2(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
             alpha: float = 1e-3) -> np.ndarray:
    """Linear (ridge) probe from features to targets: R² per target column on held-out rows."""
    mu, sd = x_train.mean(0), x_train.std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    xt, xs = (x_train - mu) / sd, (x_test - mu) / sd
    xt = np.hstack([xt, np.ones((len(xt), 1))])
    xs = np.hstack([xs, np.ones((len(xs), 1))])
    reg = alpha * np.eye(xt.shape[1])
    reg[-1, -1] = 0.0
    coef = np.linalg.solve(xt.T @ xt + reg * len(xt), xt.T @ y_train)
    resid = y_test - xs @ coef
    var = y_test.var(axis=0)
    return 1.0 - (resid**2).mean(axis=0) / np.where(var > 0, var, np.nan)


def probe_r2_per_configuration(x: list[np.ndarray], y: list[np.ndarray], alpha: float = 1e-3) -> np.ndarray:
    """Leave-one-configuration-out linear probes: (C, n_targets) R² of configuration c predicted by a
    probe fitted on the other C − 1. ``x``: per-configuration (N_c, F) features; ``y``: (N_c, n_targets)."""
    out = []
    for c in range(len(x)):
        rest = [k for k in range(len(x)) if k != c]
        out.append(probe_r2(np.concatenate([x[k] for k in rest]), np.concatenate([y[k] for k in rest]), x[c], y[c],
                            alpha))
    return np.array(out)


def control_comparison(x_trained: list[np.ndarray], x_control: list[np.ndarray], y: list[np.ndarray],
                       names: list[str]) -> dict[str, Any]:
    """Trained vs untrained features as probes of each descriptor: per-configuration leave-one-out R²
    (C,) of both and the paired difference (trained − control) with its 95 % bootstrap interval."""
    from .stats import paired_difference

    r2_t, r2_c = probe_r2_per_configuration(x_trained, y), probe_r2_per_configuration(x_control, y)
    out = {}
    for j, name in enumerate(names):
        d = paired_difference(r2_t[:, j], r2_c[:, j])
        out[name] = {"r2_trained": r2_t[:, j].tolist(), "r2_control": r2_c[:, j].tolist(),
                     "delta": d.mean, "ci": [d.low, d.high]}
    return out


def interpret(model_artifact: dict[str, Any], samples: list[Sample], targets: dict[str, list[np.ndarray]],
              species: int = 0, device: str = "cpu") -> dict[str, Any]:
    """Correlations and probes between layer invariants and structural descriptors.

    ``targets`` maps descriptor name → per-sample (N,) arrays (e.g. q6, qbar6, local density,
    local energy). Only particles of ``species`` are used (A by default). The first half of
    the samples trains the probes, the second half tests them (at least one each).
    """
    if len(samples) < 2:
        raise InputError("interpretability needs at least two configurations (probe train/test)")
    pred = Predictor(model_artifact, device)
    if pred.family != "se3gnn":
        raise InputError(f"interpretability is defined for se3gnn models, got {pred.family}")
    samples = [apply_model_inputs(s, pred.info.get("inputs", {})) for s in samples]
    per_sample = [layer_invariants(pred.model, s) for s in samples]
    names_t = list(targets)
    masks = [s.graph.types == species for s in samples]
    y_all = [np.stack([targets[n][i] for n in names_t], axis=1)[m] for i, m in enumerate(masks)]
    n_layers = len(per_sample[0])
    half = max(1, len(samples) // 2)
    layers = []
    for k in range(n_layers):
        names_f = per_sample[0][k][1]
        x_all = [ps[k][0][m] for ps, m in zip(per_sample, masks)]
        x, y = np.concatenate(x_all), np.concatenate(y_all)
        corr = np.array([pearson_columns(x, np.repeat(y[:, [j]], x.shape[1], axis=1)) for j in range(y.shape[1])])
        r2 = probe_r2(np.concatenate(x_all[:half]), np.concatenate(y_all[:half]),
                      np.concatenate(x_all[half:]), np.concatenate(y_all[half:]))
        absc = np.nan_to_num(np.abs(corr), nan=-1.0)  # constant features (e.g. the embedding of one species)
        best = absc.argmax(axis=1)
        best_abs = absc[np.arange(len(best)), best]
        # the same best feature, configuration by configuration: its spread over configurations
        per_conf = np.array([[abs(float(pearson_columns(xc[:, [b]], yc[:, [j]])[0])) for xc, yc in zip(x_all, y_all)]
                             for j, b in enumerate(best)])
        from .stats import interval

        layers.append({
            "layer": k, "features": names_f, "correlation": corr.tolist(),
            "probe_r2": r2.tolist(),
            "best_feature": [names_f[b] if v >= 0 else "none (constant)" for b, v in zip(best, best_abs)],
            "best_abs_correlation": [float(v) if v >= 0 else float("nan") for v in best_abs],
            "best_abs_correlation_ci": {names_t[j]: [interval(per_conf[j]).low, interval(per_conf[j]).high]
                                        for j in range(len(names_t))},
        })
    top = sorted(
        ({"layer": L["layer"], "descriptor": names_t[j], "feature": L["best_feature"][j],
          "abs_correlation": L["best_abs_correlation"][j]} for L in layers for j in range(len(names_t))),
        key=lambda r: -r["abs_correlation"] if math.isfinite(r["abs_correlation"]) else 0.0,
    )
    # control: the same architecture untrained (seeded initialization): what the first layer gives for free
    torch.manual_seed(derive_seed(0, "untrained control"))
    untrained = build_model("se3gnn", pred.n_outputs, model_artifact["hparams"]).eval()
    x_u = [layer_invariants(untrained, s)[1][0][m] for s, m in zip(samples, masks)] if n_layers > 1 else None
    control = None
    if x_u is not None:
        r2_u = probe_r2(np.concatenate(x_u[:half]), np.concatenate(y_all[:half]), np.concatenate(x_u[half:]),
                        np.concatenate(y_all[half:]))
        x_1 = [ps[1][0][m] for ps, m in zip(per_sample, masks)]
        control = {"layer": 1, "probe_r2": {n: float(v) for n, v in zip(names_t, r2_u)},
                   # leave-one-configuration-out, paired over configurations: does training add to the
                   # architecture's untrained features?
                   "trained_vs_control": control_comparison(x_1, x_u, y_all, names_t) if len(samples) >= 3 else None}
    return {"descriptors": names_t, "layers": layers, "top": top[:15], "species": "AB"[species],
            "n_configurations": len(samples), "probe_split": [half, len(samples) - half],
            "untrained_control": control}


def local_density(sample: Sample, r_shell: float = 1.45) -> np.ndarray:
    """Neighbours within the first shell (N,) from the sample's graph (which has r_c ≥ r_shell)."""
    r = np.linalg.norm(sample.graph.vec, axis=1)
    if sample.graph.cutoff < r_shell:
        raise InputError(f"graph cutoff {sample.graph.cutoff} is below the shell radius {r_shell}")
    return np.bincount(sample.graph.dst[r < r_shell], minlength=sample.n).astype(np.float64)


__all__ = [
    "backbone_parameters", "fit_readout", "freeze_backbone", "generalization", "interpret", "layer_invariants",
    "local_density", "probe_r2", "transfer",
]
