"""The descriptor MLP: a small MLP on standardized rotation-invariant descriptors (Steinhardt
q_l, q̄_l, radial densities, coarse-grained), per-type heads (GlassMLP-style, Jung, Biroli,
Berthier, PRL 130, 238202 (2023)), trained by the common loop."""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn

from .common import select_by_type
from .spec import ModelSpec


class DescriptorMLP(nn.Module):
    """MLP on standardized descriptors: (N, D) → (N, n_outputs) with per-type heads."""

    def __init__(self, n_inputs: int, n_outputs: int, hidden: tuple[int, ...] = (64, 64), n_types: int = 2):
        super().__init__()
        self.n_outputs = n_outputs
        sizes = [n_inputs, *hidden]
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(sizes):
            layers += [nn.Linear(a, b), nn.ELU()]
        layers.append(nn.Linear(sizes[-1], n_types * n_outputs))
        self.net = nn.Sequential(*layers)
        self.register_buffer("x_mean", torch.zeros(n_inputs))
        self.register_buffer("x_std", torch.ones(n_inputs))

    def set_normalization(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.x_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.x_std.copy_(torch.as_tensor(np.where(std > 1e-12, std, 1.0), dtype=torch.float32))

    def forward(self, x: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        return select_by_type(self.net((x - self.x_mean) / self.x_std), types, self.n_outputs)


def _forward(model: DescriptorMLP, batch, samples, cache) -> torch.Tensor:
    x = torch.as_tensor(np.concatenate([s.descriptors for s in samples]), device=batch.types.device)
    return model(x, batch.types)


def _setup(model: DescriptorMLP, samples) -> None:
    x = np.concatenate([s.descriptors for s in samples])
    model.set_normalization(x.mean(axis=0), x.std(axis=0))


SPEC = ModelSpec(
    build=lambda n_outputs, hp, n_descriptors=0: DescriptorMLP(
        n_inputs=n_descriptors, n_outputs=n_outputs, **{**hp, "hidden": tuple(hp.get("hidden", (64, 64)))}),
    forward=_forward, setup=_setup)
