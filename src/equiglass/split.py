"""Assignment of configurations to train / validation / test, by configuration (never by particle)."""

from __future__ import annotations

import functools
from typing import Any

from .config import is_test_only, samples_at, temperature_key
from .seeds import derive_seed, permutation


def split_samples(n_samples: int, n_val: int, n_test: int, seed: int, temperature_key: str,
                  test_only: bool = False) -> dict[str, list[int]]:
    """Seeded permutation of sample indices 0..n-1 at one temperature: test first, then validation.

    ``test_only`` (a temperature of ``split.test_only``): every sample is a test sample and
    ``n_val``, ``n_test`` are ignored. Otherwise at least one training sample must remain.
    Returns {"train": [...], "validation": [...], "test": [...]} (each sorted).
    """
    if test_only:
        return {"train": [], "validation": [], "test": list(range(n_samples))}
    if n_val + n_test >= n_samples:
        raise ValueError(f"split needs more than validation+test = {n_val + n_test} samples, got {n_samples}")
    return {part: list(ids) for part, ids in _split(n_samples, n_val, n_test, seed, temperature_key).items()}


@functools.lru_cache(maxsize=256)
def _split(n_samples: int, n_val: int, n_test: int, seed: int, temperature_key: str) -> dict[str, tuple[int, ...]]:
    """The permutation split (cached: the workflow asks for it once per replica batch)."""
    perm = permutation(derive_seed(seed, "split", temperature_key), n_samples)  # = NumPy's default_rng
    return {"train": tuple(sorted(perm[n_test + n_val:])), "validation": tuple(sorted(perm[n_test: n_test + n_val])),
            "test": tuple(sorted(perm[:n_test]))}


def split_at(cfg: dict[str, Any], T: str | float) -> dict[str, list[int]]:
    """The split of the simulated configurations at temperature ``T`` (a checked configuration)."""
    key = temperature_key(float(T))
    sp = cfg["split"]
    return split_samples(samples_at(cfg, key), sp["validation"], sp["test"], cfg["seeds"]["split"], key,
                         test_only=is_test_only(cfg, key))
