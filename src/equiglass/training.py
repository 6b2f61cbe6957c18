"""Training of every model family with one loop: splits by configuration, standardized
multi-timescale targets, validation-based early stopping, checkpoints and resumption.

Families: ``se3gnn`` (the paper's model), ``bapst`` (Bapst et al. GNN), ``descriptor_mlp``
(MLP on invariant descriptors) are trained by gradient descent; ``ridge`` is fitted in
closed form. Determinism: on the CPU the same seed gives the same weights, also after an
interruption (shuffles and augmentations are seeded per epoch and step; the state of the
optimizer, scheduler and early stopping is checkpointed every epoch).
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .artifact import Ensemble, PerTimescale, forward, make_artifact, save_artifact
from .checkpoints import accept, discard, fingerprint
from .dataset import Sample, target_statistics, to_batch
from .devices import check_budget
from .files import atomic_path, write_csv, write_json
from .models import registry
from .models.common import count_parameters
from .progress import Reporter
from .provenance import derive_seed
from .settings import TrainSettings
from .stats import pearson_columns


class TrainingDiverged(RuntimeError):
    """NaN/Inf loss or exploding gradients; the last good checkpoint is kept."""


def pick_device(device: str) -> torch.device:
    """``cpu``, ``gpu`` or ``auto``; a GPU is named explicitly (``cuda:i``, this process's slot
    among the visible devices: :func:`equiglass.devices.gpu_index`)."""
    if device == "cpu":
        return torch.device("cpu")
    if device in ("gpu", "cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError("device 'gpu' requested but torch sees no CUDA device; use device: auto")
    elif not torch.cuda.is_available():
        return torch.device("cpu")
    from .devices import gpu_index

    return torch.device(f"cuda:{gpu_index() % torch.cuda.device_count()}")


def _rotation_augment(vec: torch.Tensor, gen: torch.Generator, group: str = "axes") -> torch.Tensor:
    """Bond vectors (E, 3) under one random element of ``group``: ``axes`` (axis permutation and
    reflections: the cubic group of DeepMind's apply_random_rotation) or ``o3`` (a uniform
    rotation from a random unit quaternion, Shoemake, Graphics Gems III (1992), times a reflection
    with probability 1/2)."""
    if group == "axes":
        perm = torch.randperm(3, generator=gen)
        signs = 1.0 - 2.0 * torch.randint(0, 2, (3,), generator=gen).to(vec.dtype)
        return vec[:, perm] * signs
    q = torch.randn(4, generator=gen, dtype=torch.float64)
    w, x, y, z = (q / q.norm()).tolist()
    rot = torch.tensor([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]], dtype=vec.dtype)
    if torch.randint(0, 2, (1,), generator=gen).item():
        rot = -rot  # an improper rotation: the full orthogonal group
    return vec @ rot.T.to(vec.device)


def _scheduler(opt: torch.optim.Optimizer, settings: TrainSettings, steps_per_epoch: int):
    """(scheduler, stepped per optimizer step?) for ``settings.lr_schedule``; (None, False) for none."""
    if settings.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=max(1, settings.patience // 2)), False
    if settings.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(settings.epochs, 1)), False
    if settings.lr_schedule == "warmup_cosine":
        total = max(1, settings.epochs * steps_per_epoch)
        warm = settings.warmup_epochs * steps_per_epoch

        def factor(step: int) -> float:  # LambdaLR calls it with the number of steps taken
            if step < warm:
                return (step + 1) / (warm + 1)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / max(1.0, total - warm))))

        return torch.optim.lr_scheduler.LambdaLR(opt, factor), True
    return None, False


class _Runner:
    """Forward passes of one gradient-trained model family on lists of samples."""

    def __init__(self, model: torch.nn.Module, family: str, device: torch.device,
                 standardize: tuple[np.ndarray, np.ndarray]):
        self.model, self.family, self.device, self.standardize = model, family, device, standardize
        self.spec = registry.spec(family)
        self._cache: dict[int, Any] = {}  # per-sample tensors the family keeps during training

    def forward(self, samples: list[Sample], gen: torch.Generator | None = None, group: str = "axes"):
        batch = to_batch(samples, self.standardize).to(self.device)
        if gen is not None:
            batch.vec = _rotation_augment(batch.vec, gen, group)
        return forward(self.spec, self.model, batch, samples, self._cache), batch


def validation_scores(pred: list[np.ndarray], true: list[np.ndarray], types: list[np.ndarray]) -> dict[str, float]:
    """Mean per-configuration Pearson ρ per species, averaged over timescales."""
    out = {}
    for a, name in enumerate("AB"):
        rhos = [pearson_columns(p[t == a], y[t == a]) for p, y, t in zip(pred, true, types) if (t == a).sum() > 2]
        out[f"rho_{name}"] = float(np.nanmean(rhos)) if rhos else float("nan")
    return out


def timescale_columns(sample: Sample, columns: list[int]) -> Sample:
    """The sample with only the target timescales ``columns``."""
    from dataclasses import replace

    return replace(sample, targets=None if sample.targets is None else sample.targets[:, columns],
                   times=None if sample.times is None else np.asarray(sample.times)[columns],
                   timescale_labels=[sample.timescale_labels[c] for c in columns])


def train(
    train_samples: list[Sample],
    val_samples: list[Sample],
    settings: TrainSettings,
    out_dir: str | Path,
    label: str = "train",
    info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train a model; write ``model.pt`` (artifact), ``history.csv`` and ``checkpoint*.pt``.

    ``settings.timescales`` (labels) restricts the targets to those timescales;
    ``settings.per_timescale`` trains one single-output model per timescale (Bapst et al.'s
    protocol), each with its own early stopping, stored together as one model file.
    ``info`` (timescales, temperatures, inputs...) is stored in the artifact. Returns the
    artifact dictionary.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not train_samples:
        raise ValueError("no training samples")
    if settings.family not in registry.FAMILIES:
        raise ValueError(f"unknown model family {settings.family!r}; choose from {registry.names()}")
    spec = registry.spec(settings.family)
    torch.set_num_threads(max(1, settings.threads))
    info = dict(info or {})
    if settings.timescales:
        labels = train_samples[0].timescale_labels
        missing = [t for t in settings.timescales if t not in labels]
        if missing:
            raise ValueError(f"training.timescales {missing} are not among the targets {labels}")
        cols = [labels.index(t) for t in settings.timescales]
        train_samples = [timescale_columns(s, cols) for s in train_samples]
        val_samples = [timescale_columns(s, cols) for s in val_samples]
        if "timescales" in info:
            ts = dict(info["timescales"])
            ts["labels"] = [ts["labels"][c] for c in cols]
            ts["values"] = [ts["values"][c] for c in cols] if len(ts.get("values", [])) > max(cols) else ts.get("values")
            ts["times_by_temperature"] = {k: [v[c] for c in cols] for k, v in ts.get("times_by_temperature", {}).items()}
            info["timescales"] = ts
    n_t = train_samples[0].targets.shape[1]
    mean, std = target_statistics(train_samples)
    info.setdefault("standardization", {"mean": mean.tolist(), "std": std.tolist()})
    avg_nb = float(np.mean([s.graph.n_edges / s.n for s in train_samples]))
    n_desc = train_samples[0].descriptors.shape[1]
    extras = {0 if s.extra is None else s.extra.shape[1] for s in train_samples}
    context = {"graph_cutoff": float(train_samples[0].graph.cutoff), "avg_neighbors": avg_nb,
               "n_extra": max(extras)}
    hparams = spec.hparams(settings.hparams, context)
    t0 = time.perf_counter()
    if spec.closed_form:
        return _fit_closed_form(spec, hparams, train_samples, val_samples, settings, out, mean, std, info, t0)

    device = pick_device(settings.device)
    fit = dict(spec=spec, settings=settings, hparams=hparams, n_desc=n_desc, device=device, out=out)
    if settings.per_timescale and n_t > 1:
        labels = train_samples[0].timescale_labels
        parts = [_fit_gradient(**fit, train_samples=[timescale_columns(s, [k]) for s in train_samples],
                               val_samples=[timescale_columns(s, [k]) for s in val_samples],
                               standardize=(mean[:, k: k + 1], std[:, k: k + 1]), n_outputs=1,
                               ckpt_path=out / f"checkpoint_t{k}.pt", label=f"{label} {labels[k]}", seed_key=k)
                 for k in range(n_t)]
        model = PerTimescale([m for m, _ in parts])
        history = [{"timescale": labels[k], **row} for k, (_, st) in enumerate(parts) for row in st["history"]]
        states = [st for _, st in parts]
        hparams = {**hparams, "per_timescale": True}
    elif settings.ensemble > 1:  # members from different seeds, predictions averaged
        parts = [_fit_gradient(**fit, train_samples=train_samples, val_samples=val_samples, standardize=(mean, std),
                               n_outputs=n_t, ckpt_path=out / f"checkpoint_m{k}.pt", label=f"{label} member {k}",
                               seed_key=("ensemble", k)) for k in range(settings.ensemble)]
        model = Ensemble([m for m, _ in parts])
        history = [{"member": k, **row} for k, (_, st) in enumerate(parts) for row in st["history"]]
        states = [st for _, st in parts]
        hparams = {**hparams, "ensemble": settings.ensemble}
    else:
        model, st = _fit_gradient(**fit, train_samples=train_samples, val_samples=val_samples,
                                  standardize=(mean, std), n_outputs=n_t, ckpt_path=out / "checkpoint.pt",
                                  label=label, seed_key=None)
        history, states = st["history"], [st]
    write_csv(out / "history.csv", history)  # also when finished checkpoints were resumed
    _write_timing(out, settings.family, device, [t for st in states for t in st["epoch_times_s"]])
    best = [st["best_epoch"] for st in states]
    info.update(training={**asdict(settings), "n_parameters": count_parameters(model),
                          "best_epoch": best[0] if len(best) == 1 else best,
                          "epochs_run": [st["epoch"] for st in states] if len(states) > 1 else states[0]["epoch"],
                          "stop_reason": [st["stop_reason"] for st in states] if len(states) > 1
                          else states[0]["stop_reason"], "avg_neighbors": avg_nb,
                          "train_configurations": [s.name for s in train_samples],
                          "val_configurations": [s.name for s in val_samples]})
    artifact = make_artifact(settings.family, model, n_t, hparams, info, n_descriptors=n_desc)
    save_artifact(out / "model.pt", artifact)
    return artifact


def _loss(pred: torch.Tensor, y: torch.Tensor, types: torch.Tensor, loss_types: tuple[str, ...]) -> torch.Tensor:
    """Mean squared error over the particles of ``loss_types`` (Bapst et al.: type A only)."""
    if set(loss_types) >= {"A", "B"}:
        return torch.mean((pred.float() - y) ** 2)
    mask = torch.zeros_like(types, dtype=torch.bool)
    for name in loss_types:
        mask |= types == "AB".index(name)
    return torch.mean((pred.float()[mask] - y[mask]) ** 2)


def _fit_gradient(spec, settings: TrainSettings, hparams: dict[str, Any], n_desc: int, device: torch.device,
                  out: Path, train_samples: list[Sample], val_samples: list[Sample],
                  standardize: tuple[np.ndarray, np.ndarray], n_outputs: int, ckpt_path: Path, label: str,
                  seed_key: int | tuple | None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """One gradient-descent training run (checkpointed every epoch, resumable); the best model and its state."""
    mean, std = standardize
    seed = (settings.seed if seed_key is None else derive_seed(settings.seed, *seed_key) if isinstance(seed_key, tuple)
            else derive_seed(settings.seed, "timescale", seed_key))
    torch.manual_seed(derive_seed(seed, "init"))
    model = spec.build(n_outputs, hparams, n_desc)
    if spec.setup is not None:
        spec.setup(model, train_samples)
    model.to(device)
    n_params = count_parameters(model)
    print(f"[{label}] {settings.family}: {n_params} parameters, {len(train_samples)} train / "
          f"{len(val_samples)} validation configurations, device {device}", file=sys.stderr, flush=True)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    sched, per_step = _scheduler(opt, settings, -(-len(train_samples) // settings.batch_size))
    runner = _Runner(model, settings.family, device, (mean, std))
    use_amp = bool(settings.amp and device.type == "cuda")
    # what the weights depend on: settings (seed included) and every array the model reads
    signature = fingerprint(settings=asdict(settings), seed=seed, training_data=sample_arrays(train_samples),
                            validation_data=sample_arrays(val_samples))
    state = {"epoch": 0, "best_val": math.inf, "best_epoch": -1, "best_state": None, "history": [],
             "bad_epochs": 0, "elapsed": 0.0, "epoch_times_s": [], "stop_reason": None}
    if ckpt_path.exists():
        try:
            ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        except Exception as err:  # unreadable checkpoint: start over
            discard(ckpt_path, f"unreadable ({type(err).__name__}: {err})", label)
        else:
            if accept(ckpt_path, ck.get("signature") if isinstance(ck, dict) else None, signature, label):
                model.load_state_dict(ck["model"])
                opt.load_state_dict(ck["optimizer"])
                if sched is not None and ck.get("scheduler") is not None:
                    sched.load_state_dict(ck["scheduler"])
                state = {"epoch_times_s": [], "stop_reason": None, **ck["state"]}
                done = f" (finished: {state['stop_reason']}; writing its outputs)" if state["stop_reason"] else ""
                print(f"[{label}] resuming after epoch {state['epoch']}{done}", file=sys.stderr, flush=True)

    rep = Reporter(label, settings.epochs, "epochs")
    rep.update(state["epoch"])
    tb = _tensorboard(out) if state["stop_reason"] is None else None
    stop_reason = state["stop_reason"] or "max epochs"
    for epoch in range(state["epoch"], settings.epochs if state["stop_reason"] is None else 0):
        ep_start = time.perf_counter()
        model.train()
        order = np.random.default_rng(derive_seed(seed, "shuffle", epoch)).permutation(len(train_samples))
        losses = []
        for step, k in enumerate(range(0, len(order), settings.batch_size)):
            chunk = [train_samples[i] for i in order[k: k + settings.batch_size]]
            gen = None
            if settings.augment_rotations:
                gen = torch.Generator().manual_seed(derive_seed(seed, "augment", epoch, step))
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_amp):
                pred, batch = runner.forward(chunk, gen, settings.rotation_group)
            loss = _loss(pred, batch.y, batch.types, settings.loss_types)
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"{label}: loss is {loss.item()} at epoch {epoch + 1} batch {step}; "
                                       f"the last good checkpoint is {ckpt_path}; lower train.lr")
            opt.zero_grad()
            loss.backward()
            gnorm = torch.nn.utils.clip_grad_norm_(
                model.parameters(), settings.grad_clip if settings.grad_clip > 0 else float("inf")
            )
            # a huge but finite norm is harmless when it is clipped (Bapst et al.'s recipe starts there)
            if not torch.isfinite(gnorm) or (settings.grad_clip <= 0 and gnorm > settings.explode_threshold):
                raise TrainingDiverged(f"{label}: gradient norm {float(gnorm):.3g} at epoch {epoch + 1} "
                                       f"batch {step}; the last good checkpoint is {ckpt_path}; lower train.lr")
            opt.step()
            if per_step:
                sched.step()
            losses.append(loss.item())
        val_loss, scores = evaluate_loss(runner, val_samples or train_samples, settings.loss_types)
        if sched is not None and not per_step:
            sched.step(val_loss) if settings.lr_schedule == "plateau" else sched.step()
        state["elapsed"] += time.perf_counter() - ep_start
        state["epoch_times_s"].append(round(time.perf_counter() - ep_start, 3))
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "val_loss": val_loss,
               "val_rho_A": scores["rho_A"], "val_rho_B": scores["rho_B"], "lr": opt.param_groups[0]["lr"]}
        state["history"].append(row)
        # the checkpoint kept: lowest validation loss, or highest validation ρ_A (settings.select_by)
        score = val_loss if settings.select_by == "val_loss" else -scores["rho_A"]
        if score < state["best_val"]:
            state.update(best_val=score, best_epoch=epoch + 1, bad_epochs=0,
                         best_state={k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch + 1
        if state["bad_epochs"] >= settings.patience:
            stop_reason = f"early stopping (no improvement for {settings.patience} epochs)"
        elif settings.max_time_s is not None and state["elapsed"] >= settings.max_time_s:
            stop_reason = f"wall-time budget {settings.max_time_s} s"
        elif epoch + 1 == settings.epochs:
            stop_reason = "max epochs"
        else:
            stop_reason = None
        state["stop_reason"] = stop_reason
        _save_checkpoint(ckpt_path, signature, model, opt, sched, state)
        write_csv(out / "history.csv", state["history"])
        rep.update(epoch + 1, loss=row["train_loss"], val=val_loss, rho_A=scores["rho_A"])
        if tb is not None:
            for key, value in row.items():
                if key != "epoch":
                    tb.add_scalar(key, value, epoch + 1)
            tb.flush()
        if stop_reason is not None:
            break
        check_budget(max(state["epoch_times_s"][-5:]), label, "epoch")  # SegmentDone: resubmit resumes
    stop_reason = stop_reason or "max epochs"
    state["stop_reason"] = stop_reason
    rep.close(f"best epoch {state['best_epoch']} ({settings.select_by} {abs(state['best_val']):.4f}; {stop_reason})")
    model.load_state_dict(state["best_state"])
    return model, state


def sample_arrays(samples: list[Sample]) -> list[np.ndarray]:
    """Every array a model reads from ``samples`` (for checkpoint fingerprints), in order."""
    arrays: list[np.ndarray] = []
    for s in samples:
        g = s.graph
        arrays += [g.types, g.src, g.dst, g.vec, g.box, s.descriptors, np.float64(s.temperature)[None]]
        arrays += [a for a in (s.targets, s.extra) if a is not None]
    return arrays


def _save_checkpoint(path: Path, signature: dict, model, opt, sched, state: dict[str, Any]) -> None:
    import io

    buf = io.BytesIO()  # serialize first: a failing disk then raises one clear error in write_bytes
    torch.save({"signature": signature, "model": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict() if sched is not None else None, "state": state}, buf)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())


def _write_timing(out: Path, family: str, device: Any, epoch_times: list[float]) -> None:
    """Wall-clock times of a training run: ``timing.json``, beside (not inside) the results."""
    write_json(out / "timing.json", {
        "family": family, "device": str(device), "epochs_timed": len(epoch_times),
        "train_time_s": round(float(sum(epoch_times)), 3), "epoch_times_s": epoch_times,
        "note": "wall-clock times; epochs run before a resume are included when the checkpoint recorded them",
    })


def read_train_time(model_dir: str | Path) -> float | None:
    """Total training wall time [s] from ``timing.json`` in ``model_dir``, or None."""
    p = Path(model_dir) / "timing.json"
    try:
        return float(json.loads(p.read_text())["train_time_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _tensorboard(out: Path):
    """A TensorBoard writer in ``out/tensorboard`` when the tensorboard package is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(out / "tensorboard"))


@torch.no_grad()
def evaluate_loss(runner: _Runner, samples: list[Sample], loss_types: tuple[str, ...] = ("A", "B")
                  ) -> tuple[float, dict]:
    """Validation loss (as in training) and mean per-configuration ρ per species."""
    runner.model.eval()
    losses, preds, trues, types = [], [], [], []
    for s in samples:
        pred, batch = runner.forward([s])
        losses.append(_loss(pred, batch.y, batch.types, loss_types).item())
        preds.append(pred.cpu().numpy())
        trues.append(batch.y.cpu().numpy())
        types.append(s.graph.types)
    runner.model.train()
    return float(np.mean(losses)), validation_scores(preds, trues, types)


def _fit_closed_form(spec, hparams, train_samples, val_samples, settings, out, mean, std, info, t0) -> dict[str, Any]:
    """Families fitted in closed form (ridge): fit, write the model file, an empty history and timing."""
    model = spec.fit(spec.build(train_samples[0].targets.shape[1], hparams, train_samples[0].descriptors.shape[1]),
                     train_samples, val_samples, (mean, std))
    elapsed = time.perf_counter() - t0
    info.update(training={**asdict(settings), "n_parameters": model.n_parameters(),
                          **({"alpha": model.alpha.tolist()} if hasattr(model, "alpha") else {}),
                          "train_configurations": [s.name for s in train_samples],
                          "val_configurations": [s.name for s in val_samples]})
    artifact = make_artifact(settings.family, model, train_samples[0].targets.shape[1], hparams, info,
                             n_descriptors=train_samples[0].descriptors.shape[1])
    save_artifact(out / "model.pt", artifact)
    with atomic_path(out / "history.csv") as tmp:
        tmp.write_text("epoch,train_loss,val_loss\n")
    _write_timing(out, settings.family, "cpu", [round(elapsed, 3)])
    print(f"[{settings.family}] fitted in {elapsed:.2f}s", file=sys.stderr, flush=True)
    return artifact
