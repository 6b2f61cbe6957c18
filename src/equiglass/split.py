"""Assignment of configurations to train / validation / test, by configuration (never by particle)."""

from __future__ import annotations

from .seeds import derive_seed, permutation


def split_samples(n_samples: int, n_val: int, n_test: int, seed: int, temperature_key: str) -> dict[str, list[int]]:
    """Seeded permutation of sample indices 0..n-1 at one temperature: test first, then validation.

    Returns {"train": [...], "validation": [...], "test": [...]} (each sorted).
    """
    if n_val + n_test >= n_samples:
        raise ValueError(f"split needs more than validation+test = {n_val + n_test} samples, got {n_samples}")
    perm = permutation(derive_seed(seed, "split", temperature_key), n_samples)  # = NumPy's default_rng
    test = sorted(perm[:n_test])
    val = sorted(perm[n_test: n_test + n_val])
    train = sorted(perm[n_test + n_val:])
    return {"train": train, "validation": val, "test": test}
