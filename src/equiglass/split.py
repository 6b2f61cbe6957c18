"""Assignment of configurations to train / validation / test, by configuration (never by particle)."""

from __future__ import annotations

import numpy as np

from .provenance import derive_seed


def split_samples(n_samples: int, n_val: int, n_test: int, seed: int, temperature_key: str) -> dict[str, list[int]]:
    """Seeded permutation of sample indices 0..n-1 at one temperature: test first, then validation.

    Returns {"train": [...], "validation": [...], "test": [...]} (each sorted).
    """
    if n_val + n_test >= n_samples:
        raise ValueError(f"split needs more than validation+test = {n_val + n_test} samples, got {n_samples}")
    perm = np.random.default_rng(derive_seed(seed, "split", temperature_key)).permutation(n_samples)
    test = sorted(perm[:n_test].tolist())
    val = sorted(perm[n_test: n_test + n_val].tolist())
    train = sorted(perm[n_test + n_val:].tolist())
    return {"train": train, "validation": val, "test": test}
