"""Baselines on rotation-invariant descriptors (Steinhardt q_l, q̄_l, radial densities).

- :class:`RidgeModel`: linear ridge regression per particle type, all timescales at once
  (Boattini et al., PRL 127, 088007 (2021) use linear regression on coarse-grained
  bond-order/radial descriptors); the penalty α is chosen on the validation set.
- :class:`DescriptorMLP`: a small MLP on the same standardized descriptors, per-type heads
  (GlassMLP-style, Jung et al., PRL 130, 238202 (2023)), trained by the common loop.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from sklearn.linear_model import Ridge, RidgeCV
from torch import nn

from .common import select_by_type


class RidgeModel:
    """Per-type multi-output ridge regression on standardized descriptors.

    Attributes after :meth:`fit`: x_mean, x_std (D,); coef (n_types, n_t, D);
    intercept (n_types, n_t); alpha (n_types,) chosen per type.
    """

    def __init__(self, alphas: tuple[float, ...] = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0), n_types: int = 2):
        self.alphas = tuple(float(a) for a in alphas)
        self.n_types = n_types
        self.x_mean = self.x_std = self.coef = self.intercept = self.alpha = None

    def _x(self, x: np.ndarray) -> np.ndarray:
        return (x - self.x_mean) / self.x_std

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        types: np.ndarray,
        x_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        types_val: np.ndarray | None = None,
    ) -> RidgeModel:
        """x (M, D) descriptors, y (M, n_t) standardized targets, types (M,) of M particles."""
        self.x_mean = x.mean(axis=0)
        std = x.std(axis=0)
        self.x_std = np.where(std > 1e-12, std, 1.0)
        xs = self._x(x)
        n_t = y.shape[1]
        d = x.shape[1]
        self.coef = np.zeros((self.n_types, n_t, d))
        self.intercept = np.zeros((self.n_types, n_t))
        self.alpha = np.zeros(self.n_types)
        for a in range(self.n_types):
            m = types == a
            if not np.any(m):
                continue
            if x_val is None or types_val is None or not np.any(types_val == a):
                reg = RidgeCV(alphas=self.alphas).fit(xs[m], y[m])  # leave-one-out choice of α
                alpha = float(reg.alpha_)
            else:
                mv = types_val == a
                scored = []
                for alpha in self.alphas:
                    r = Ridge(alpha=alpha).fit(xs[m], y[m])
                    scored.append((float(np.mean((r.predict(self._x(x_val[mv])) - y_val[mv]) ** 2)), alpha, r))
                _, alpha, reg = min(scored, key=lambda s: s[0])
            self.coef[a], self.intercept[a], self.alpha[a] = reg.coef_, reg.intercept_, alpha
        return self

    def predict(self, x: np.ndarray, types: np.ndarray) -> np.ndarray:
        """(M, D), (M,) → (M, n_t) standardized predictions."""
        xs = self._x(x)
        return np.einsum("md,mtd->mt", xs, self.coef[types]) + self.intercept[types]

    def state(self) -> dict:
        return {k: torch.as_tensor(getattr(self, k)) for k in ("x_mean", "x_std", "coef", "intercept", "alpha")}

    def load_state(self, state: dict) -> RidgeModel:
        for k, v in state.items():
            setattr(self, k, v.numpy() if isinstance(v, torch.Tensor) else np.asarray(v))
        return self

    def n_parameters(self) -> int:
        return int(self.coef.size + self.intercept.size)


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
