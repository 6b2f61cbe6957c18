"""Seeds: the pure-Python derivation equals NumPy's SeedSequence, so plans and jobs agree."""

from __future__ import annotations

import random
import zlib

import numpy as np

from equiglass.seeds import derive_seed, seed_sequence_word


def test_seed_sequence_word_equals_numpy():
    rng = random.Random(0)
    for _ in range(500):
        base = rng.choice([0, 1, 7, rng.randrange(2**31), rng.randrange(2**64), rng.randrange(2**100)])
        spawn = [rng.randrange(2**32) for _ in range(rng.randrange(0, 5))]
        ref = np.random.SeedSequence(base, spawn_key=tuple(spawn)).generate_state(1, np.uint64)[0]
        assert seed_sequence_word(base, spawn) == int(ref), (base, spawn)


def test_derive_seed_keys_and_range():
    keys = ("iso", "0.60", "003")
    spawn = tuple(zlib.crc32(repr(k).encode()) for k in keys)
    ref = int(np.random.SeedSequence(2, spawn_key=spawn).generate_state(1, np.uint64)[0]) % (1 << 31)
    assert derive_seed(2, *keys) == ref
    seeds = {derive_seed(1, "replica", r) for r in range(1000)}
    assert len(seeds) == 1000 and all(0 <= s < 2**31 for s in seeds)
    assert derive_seed(1, "a", bits=16) < 2**16


def test_permutation_equals_numpy_default_rng():
    from equiglass.seeds import permutation

    rng = random.Random(1)
    for _ in range(200):
        seed = rng.choice([0, 1, rng.randrange(2**31), rng.randrange(2**63)])
        n = rng.choice([0, 1, 2, 5, 24, 400])
        assert permutation(seed, n) == np.random.default_rng(seed).permutation(n).tolist(), (seed, n)
