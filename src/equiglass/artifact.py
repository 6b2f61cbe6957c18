"""Self-contained model files: weights + architecture + standardization + what the model expects.

A model file (``model.pt``, a ``torch.save`` dictionary readable with ``weights_only=True``)
holds: ``format``/``format_version``, ``family``, ``hparams`` (constructor arguments),
``weights``, ``info`` (target standardization per (type, timescale), timescale labels and
times, training temperatures, input settings such as graph cutoff and descriptor settings,
training summary), package ``versions`` and a ``content_hash`` of the weights. Loading needs
nothing but the file; :class:`Predictor` turns configurations into propensities.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .dataset import Sample, apply_model_inputs, to_batch
from .files import InputError, atomic_path
from .models import registry
from .provenance import package_versions

FORMAT = "equiglass-model"
FORMAT_VERSION = 1


class PerTimescale(torch.nn.Module):
    """One single-output model per timescale (Bapst et al.'s protocol), predicting together."""

    def __init__(self, models: list[torch.nn.Module]) -> None:
        super().__init__()
        self.models = torch.nn.ModuleList(models)


class Ensemble(torch.nn.Module):
    """Models of one architecture trained from different seeds; predictions are averaged."""

    def __init__(self, models: list[torch.nn.Module]) -> None:
        super().__init__()
        self.models = torch.nn.ModuleList(models)


def build_model(family: str, n_outputs: int, hparams: dict[str, Any], n_descriptors: int = 0) -> Any:
    """An untrained model of ``family`` with constructor arguments ``hparams`` (as stored in model files).

    ``hparams["per_timescale"]``: ``n_outputs`` single-output models (:class:`PerTimescale`);
    ``hparams["ensemble"]``: that many models whose predictions are averaged (:class:`Ensemble`).
    """
    try:
        spec = registry.spec(family)
    except KeyError as err:
        raise InputError(str(err.args[0])) from None
    hp = dict(hparams)
    members = int(hp.pop("ensemble", 1))
    if hp.pop("per_timescale", False):
        return PerTimescale([spec.build(1, dict(hp), n_descriptors) for _ in range(n_outputs)])
    if members > 1:
        return Ensemble([spec.build(n_outputs, dict(hp), n_descriptors) for _ in range(members)])
    return spec.build(n_outputs, hp, n_descriptors)


def forward(spec, model: Any, batch: Any, samples: list[Sample], cache: dict | None) -> torch.Tensor:
    """Standardized predictions (N, n_outputs) of a gradient-trained model (or a :class:`PerTimescale`)."""
    if isinstance(model, PerTimescale | Ensemble):
        caches = [None] * len(model.models) if cache is None else [cache.setdefault(("member", k), {})
                                                                    for k in range(len(model.models))]
        outs = [spec.forward(m, batch, samples, c) for m, c in zip(model.models, caches)]
        return torch.cat(outs, dim=1) if isinstance(model, PerTimescale) else torch.stack(outs).mean(dim=0)
    return spec.forward(model, batch, samples, cache)


def _weights(family: str, model: Any) -> dict[str, torch.Tensor]:
    spec = registry.spec(family)
    if spec.weights is not None:
        return spec.weights(model)
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def content_hash(weights: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(weights):
        h.update(k.encode())
        h.update(weights[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def make_artifact(
    family: str, model: Any, n_outputs: int, hparams: dict[str, Any], info: dict[str, Any],
    n_descriptors: int = 0,
) -> dict[str, Any]:
    """The model-file dictionary of a trained model; ``hparams`` are its constructor arguments."""
    weights = _weights(family, model)
    hp = dict(hparams)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "family": family,
        "n_outputs": int(n_outputs),
        "n_descriptors": int(n_descriptors),
        "hparams": hp,
        "weights": weights,
        "info": info,
        "versions": package_versions(),
        "content_hash": content_hash(weights),
    }


def save_artifact(path: str | Path, artifact: dict[str, Any]) -> None:
    """Write a model file atomically; the same artifact always gives the same bytes."""
    data = artifact_bytes(artifact)  # serialized first: a full disk fails in one clear write
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def load_artifact(path: str | Path) -> dict[str, Any]:
    """Read and check a model file (format, version, hash)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: model file not found; check the path (the pipeline writes results/models/<family>/<set>/model.pt)")
    try:
        art = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:
        raise InputError(
            f"{p}: not a readable equiglass model file ({type(err).__name__}: {err}); it is truncated or "
            "corrupt: delete it and rebuild it (`snakemake <that file>`, which resumes its finished training checkpoint)"
        ) from err
    if not isinstance(art, dict) or art.get("format") != FORMAT:
        raise InputError(f"{p}: not an equiglass model file (no '{FORMAT}' header); pass a model.pt written "
                         "by `equiglass train` (results/models/<family>/<set>/model.pt)")
    if art.get("format_version") != FORMAT_VERSION:
        raise InputError(
            f"{p}: model format version {art.get('format_version')} but this equiglass reads version "
            f"{FORMAT_VERSION}; retrain the model or install the equiglass version that wrote it "
            f"({art.get('versions', {}).get('equiglass', '?')})"
        )
    if content_hash(art["weights"]) != art.get("content_hash"):
        raise InputError(f"{p}: weights do not match their content hash (file corrupted); delete it and "
                         "rebuild it (`snakemake <that file>`)")
    return art


class Predictor:
    """A trained model ready to predict propensities (physical units) for samples."""

    def __init__(self, artifact: dict[str, Any], device: str = "cpu") -> None:
        self.artifact = artifact
        self.family = artifact["family"]
        self.info = artifact["info"]
        st = self.info["standardization"]
        self.mean = np.asarray(st["mean"], dtype=np.float32)
        self.std = np.asarray(st["std"], dtype=np.float32)
        self.device = torch.device(device)
        self.spec = registry.spec(self.family)
        model = build_model(self.family, artifact["n_outputs"], artifact["hparams"], artifact["n_descriptors"])
        if self.spec.load_weights is not None:
            self.spec.load_weights(model, artifact["weights"])
        else:
            try:
                model.load_state_dict(artifact["weights"])
            except RuntimeError as err:
                raise InputError(f"model weights do not fit the {self.family} architecture: {err}") from err
            model.to(self.device).eval()
        self.model = model

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> Predictor:
        """From a model file (a published model by name: ``published_models.resolve_model``)."""
        return cls(load_artifact(path), device)

    @property
    def n_outputs(self) -> int:
        return int(self.artifact["n_outputs"])

    @torch.no_grad()
    def predict_standardized(self, sample: Sample) -> np.ndarray:
        sample = apply_model_inputs(sample, self.info.get("inputs", {}))
        if self.spec.predict is not None:
            return self.spec.predict(self.model, sample)
        batch = to_batch([sample]).to(self.device)
        return forward(self.spec, self.model, batch, [sample], None).cpu().numpy()

    def predict(self, sample: Sample) -> np.ndarray:
        """Propensities (N, n_outputs) in the units of the training targets."""
        z = self.predict_standardized(sample)
        t = sample.graph.types
        return z * self.std[t] + self.mean[t]

    def features(self, sample: Sample) -> list[np.ndarray]:
        """Node features after the embedding and after each layer (SE(3) GNN only)."""
        if self.family != "se3gnn":
            raise InputError(f"features are defined for se3gnn models, not {self.family}")
        sample = apply_model_inputs(sample, self.info.get("inputs", {}))
        with torch.no_grad():
            feats = self.model.features(to_batch([sample]).to(self.device))
        return [f.cpu().numpy() for f in feats]


def artifact_bytes(artifact: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    torch.save(artifact, buf)
    return buf.getvalue()
