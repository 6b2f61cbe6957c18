"""What the shared code (training, model files, prediction) needs to know of a model family."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def _same(hparams: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    return dict(hparams)


@dataclass(frozen=True)
class ModelSpec:
    """How to build, feed, train and store one model family.

    hparams(hparams, context) -> constructor arguments, completed from the training context
      (``graph_cutoff`` [σ_AA], ``avg_neighbors``, ``n_extra`` node inputs); stored in model files.
    build(n_outputs, hparams, n_descriptors) -> an untrained model.
    forward(model, batch, samples, cache) -> standardized predictions (N, n_outputs) as a tensor,
      for families trained by gradient descent (``cache``: a dict the family may use to keep
      per-sample tensors during training, or None).
    setup(model, train_samples): called once before training (e.g. input normalization).
    fit(model, train_samples, val_samples, standardize) -> model: closed-form families instead.
    predict(model, sample) -> standardized predictions (N, n_outputs) as a numpy array
      (closed-form families); weights(model) / load_weights(model, weights) -> their tensors.
    match_parameters(hparams, reference, vary, n_outputs, context) -> hparams whose ``vary``
      value gives the parameter count nearest to the ``reference`` hyperparameters' (ablations).
    """

    build: Callable[..., Any]
    hparams: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] = _same
    forward: Callable[..., Any] | None = None
    setup: Callable[..., None] | None = None
    fit: Callable[..., Any] | None = None
    predict: Callable[..., Any] | None = None
    weights: Callable[[Any], dict[str, Any]] | None = None
    load_weights: Callable[[Any, dict[str, Any]], Any] | None = None
    match_parameters: Callable[..., dict[str, Any]] | None = None

    @property
    def closed_form(self) -> bool:
        return self.fit is not None
