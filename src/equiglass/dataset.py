"""Samples for learning: one configuration = graph + descriptors + propensity targets.

A :class:`Sample` is what both GNNs and descriptor models read. Targets are (N, n_t)
propensities in σ_AA (or σ_AA² for squared displacements) at the timescales of the
propensity file; ``timescale_labels`` name them (e.g. ``Fs=0.50``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .files import InputError, load_npz
from .graphs import Graph, load_graph
from .models.common import GraphBatch

REGEN = "; delete it and rebuild it (`snakemake <that file>`)"
PROPENSITY_KEYS = ("propensity", "stderr", "times", "types", "temperature")


@dataclass
class Sample:
    """One configuration: graph, descriptors (N, D), targets (N, n_t) or None, metadata."""

    name: str
    graph: Graph
    descriptors: np.ndarray
    descriptor_names: list[str]
    temperature: float
    targets: np.ndarray | None = None
    times: np.ndarray | None = None
    timescale_labels: list[str] = field(default_factory=list)
    extra: np.ndarray | None = None

    @property
    def n(self) -> int:
        return self.graph.n_nodes


def load_propensity(path: str | Path) -> dict:
    """Arrays of a propensity file plus its decoded metadata under ``meta``."""
    data = load_npz(path, required=PROPENSITY_KEYS)
    data["meta"] = json.loads(str(data["metadata"])) if "metadata" in data else {}
    return data


def load_sample(graph_path: str | Path, propensity_path: str | Path | None = None, name: str = "") -> Sample:
    """Read a graph file and (optionally) its propensity file; check they describe the same N."""
    graph, desc, gmeta = load_graph(graph_path)
    sample = Sample(
        name=name or Path(graph_path).stem,
        graph=graph,
        descriptors=desc.astype(np.float32),
        descriptor_names=list(gmeta.get("descriptor_names", [])),
        temperature=float(gmeta.get("temperature", float("nan"))),
        extra=gmeta.get("extra"),
    )
    if propensity_path is not None:
        p = load_propensity(propensity_path)
        prop = p["propensity"]
        if prop.ndim != 2 or prop.shape[1] != graph.n_nodes:
            raise InputError(
                f"{propensity_path}: propensity has shape {prop.shape}, expected (n_times, N={graph.n_nodes})"
                f" to match {graph_path}; rerun the propensity and graphs steps of this configuration"
            )
        if not np.array_equal(p["types"], graph.types):
            raise InputError(f"{propensity_path}: particle types differ from {graph_path}; "
                             "rerun the propensity and graphs steps of this configuration")
        if not np.all(np.isfinite(prop)):
            raise InputError(f"{propensity_path}: non-finite propensities{REGEN}")
        sample.targets = prop.T.astype(np.float32)
        sample.times = p["times"]
        sample.temperature = float(p["temperature"])
        sample.timescale_labels = list(p["meta"].get("timescale_labels", [f"t{k}" for k in range(len(prop))]))
    return sample


def apply_model_inputs(sample: Sample, inputs: dict) -> Sample:
    """The sample as a model with these ``inputs`` (artifact ``info["inputs"]``) expects it.

    With ``temperature_input`` the temperature [ε/k_B] is appended as an extra node scalar and as
    a descriptor column (it must be known: pipeline GSD files record it).
    """
    if not inputs.get("temperature_input"):
        return sample
    t = float(sample.temperature)
    if not np.isfinite(t):
        raise InputError(f"{sample.name}: this model takes the temperature as an input, but the configuration "
                         "does not record one (GSD log field equiglass/temperature)")
    col = np.full((sample.n, 1), t, dtype=np.float32)
    from dataclasses import replace

    extra = col if sample.extra is None else np.concatenate([sample.extra, col], axis=1)
    return replace(sample, extra=extra, descriptors=np.concatenate([sample.descriptors, col], axis=1),
                   descriptor_names=[*sample.descriptor_names, "temperature"])


def to_batch(samples: list[Sample], standardize: tuple[np.ndarray, np.ndarray] | None = None) -> GraphBatch:
    """Concatenate samples into one disconnected graph (edge indices offset).

    ``standardize`` = (mean, std), each (n_types, n_t), maps targets to z-scores per type.
    """
    offset = 0
    types, src, dst, vec, ng, temp, ys, extras = [], [], [], [], [], [], [], []
    for k, s in enumerate(samples):
        g = s.graph
        types.append(torch.as_tensor(g.types, dtype=torch.long))
        src.append(torch.as_tensor(g.src, dtype=torch.long) + offset)
        dst.append(torch.as_tensor(g.dst, dtype=torch.long) + offset)
        vec.append(torch.tensor(g.vec, dtype=torch.float32))
        ng.append(torch.full((s.n,), k, dtype=torch.long))
        temp.append(torch.full((s.n,), s.temperature, dtype=torch.float32))
        if s.targets is not None:
            y = s.targets
            if standardize is not None:
                mean, std = standardize
                y = (y - mean[g.types]) / std[g.types]
            ys.append(torch.as_tensor(y, dtype=torch.float32))
        if s.extra is not None:
            extras.append(torch.as_tensor(s.extra, dtype=torch.float32))
        offset += s.n
    return GraphBatch(
        types=torch.cat(types), src=torch.cat(src), dst=torch.cat(dst), vec=torch.cat(vec),
        node_graph=torch.cat(ng), temperature=torch.cat(temp),
        y=torch.cat(ys) if len(ys) == len(samples) else None,
        extra=torch.cat(extras) if len(extras) == len(samples) else None,
    )


def target_statistics(samples: list[Sample], n_types: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of targets per (type, timescale) over training samples: two (n_types, n_t)."""
    y = np.concatenate([s.targets for s in samples])
    t = np.concatenate([s.graph.types for s in samples])
    mean = np.stack([y[t == a].mean(axis=0) if np.any(t == a) else np.zeros(y.shape[1]) for a in range(n_types)])
    std = np.stack([y[t == a].std(axis=0) if np.any(t == a) else np.ones(y.shape[1]) for a in range(n_types)])
    return mean.astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32)
