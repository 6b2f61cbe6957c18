"""Ridge regression on rotation-invariant descriptors: linear regression per particle type, all
timescales at once (Boattini, Smallenburg, Filion, PRL 127, 088007 (2021) use linear regression on
coarse-grained bond-order/radial descriptors); the penalty α is chosen on the validation set."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import Ridge, RidgeCV

from .spec import ModelSpec


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


def _stack(samples, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Descriptors (M, D), standardized targets (M, n_t) and types (M,) of all particles."""
    x = np.concatenate([s.descriptors for s in samples]).astype(np.float64)
    t = np.concatenate([s.graph.types for s in samples])
    y = (np.concatenate([s.targets for s in samples]) - mean[t]) / std[t]
    return x, y, t


def _fit(model: RidgeModel, train_samples, val_samples, standardize) -> RidgeModel:
    x, y, t = _stack(train_samples, *standardize)
    xv, yv, tv = _stack(val_samples, *standardize) if val_samples else (None, None, None)
    return model.fit(x, y, t, xv, yv, tv)


SPEC = ModelSpec(
    build=lambda n_outputs, hp, n_descriptors=0: RidgeModel(
        **{k: tuple(v) if k == "alphas" else v for k, v in hp.items()}),
    fit=_fit,
    predict=lambda model, sample: model.predict(sample.descriptors.astype(np.float64), sample.graph.types),
    weights=lambda model: model.state(), load_weights=lambda model, w: model.load_state(w))
