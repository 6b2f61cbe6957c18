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
from .provenance import package_versions

FORMAT = "equiglass-model"
FORMAT_VERSION = 1


def build_model(
    family: str, n_outputs: int, hparams: dict[str, Any], n_descriptors: int = 0, avg_neighbors: float = 40.0
) -> Any:
    """Construct an untrained model of ``family`` with ``hparams``."""
    hp = dict(hparams)
    if family == "se3gnn":
        from .models.se3 import SE3GNN

        hp.setdefault("avg_neighbors", avg_neighbors)
        return SE3GNN(n_outputs=n_outputs, **hp)
    if family == "bapst":
        from .models.bapst import BapstGNN

        if "mlp_sizes" in hp:
            hp["mlp_sizes"] = tuple(hp["mlp_sizes"])
        return BapstGNN(n_outputs=n_outputs, **hp)
    if family == "descriptor_mlp":
        from .models.descriptor import DescriptorMLP

        if "hidden" in hp:
            hp["hidden"] = tuple(hp["hidden"])
        return DescriptorMLP(n_inputs=n_descriptors, n_outputs=n_outputs, **hp)
    if family == "ridge":
        from .models.descriptor import RidgeModel

        return RidgeModel(**{k: tuple(v) if k == "alphas" else v for k, v in hp.items()})
    raise InputError(f"unknown model family {family!r} (se3gnn, bapst, descriptor_mlp, ridge)")


def _weights(family: str, model: Any) -> dict[str, torch.Tensor]:
    if family == "ridge":
        return model.state()
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def content_hash(weights: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(weights):
        h.update(k.encode())
        h.update(weights[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def make_artifact(
    family: str, model: Any, n_outputs: int, hparams: dict[str, Any], info: dict[str, Any],
    n_descriptors: int = 0, avg_neighbors: float = 40.0,
) -> dict[str, Any]:
    weights = _weights(family, model)
    hp = dict(hparams)
    if family == "se3gnn":
        hp.setdefault("avg_neighbors", avg_neighbors)
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
        model = build_model(self.family, artifact["n_outputs"], artifact["hparams"], artifact["n_descriptors"])
        if self.family == "ridge":
            model.load_state(artifact["weights"])
        else:
            try:
                model.load_state_dict(artifact["weights"])
            except RuntimeError as err:
                raise InputError(f"model weights do not fit the {self.family} architecture: {err}") from err
            model.to(self.device).eval()
        self.model = model

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> Predictor:
        return cls(load_artifact(path), device)

    @property
    def n_outputs(self) -> int:
        return int(self.artifact["n_outputs"])

    @torch.no_grad()
    def predict_standardized(self, sample: Sample) -> np.ndarray:
        sample = apply_model_inputs(sample, self.info.get("inputs", {}))
        if self.family == "ridge":
            return self.model.predict(sample.descriptors.astype(np.float64), sample.graph.types)
        batch = to_batch([sample]).to(self.device)
        if self.family == "descriptor_mlp":
            x = torch.as_tensor(sample.descriptors, device=self.device)
            out = self.model(x, batch.types)
        else:
            out = self.model(batch)
        return out.cpu().numpy()

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
