"""Reproducible seeds from a base seed and keys, in pure Python (no NumPy needed to plan a run).

``derive_seed(base, *keys)`` gives exactly ``np.random.SeedSequence(entropy=base,
spawn_key=(crc32(repr(k)) for k in keys)).generate_state(1, uint64)[0] % 2**bits``: NumPy's
SeedSequence (M. E. O'Neill's ``seed_seq`` hash, numpy/random/bit_generator.pyx) re-implemented
with 32-bit integer arithmetic, so the workflow can derive every job's seed at parse time on a
login node without NumPy, and the simulation code gets the same numbers. Different keys give
statistically independent streams.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

_MASK = 0xFFFFFFFF
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_SHIFT = 16
_POOL = 4


def _words(value: int) -> list[int]:
    """A non-negative integer as little-endian 32-bit words ([0] for 0), as NumPy coerces entropy."""
    if value < 0:
        raise ValueError(f"seed entropy must be non-negative, got {value}")
    out = []
    while True:
        out.append(value & _MASK)
        value >>= 32
        if not value:
            return out


def _pool(entropy: list[int]) -> list[int]:
    """The mixed entropy pool of 4 words (SeedSequence.mix_entropy)."""
    hash_const = _INIT_A

    def hashmix(value: int) -> int:
        nonlocal hash_const
        value = (value ^ hash_const) & _MASK
        hash_const = (hash_const * _MULT_A) & _MASK
        value = (value * hash_const) & _MASK
        return value ^ (value >> _SHIFT)

    def mix(x: int, y: int) -> int:
        result = (_MIX_L * x - _MIX_R * y) & _MASK
        return result ^ (result >> _SHIFT)

    pool = [hashmix(entropy[i] if i < len(entropy) else 0) for i in range(_POOL)]
    for i_src in range(_POOL):
        for i_dst in range(_POOL):
            if i_src != i_dst:
                pool[i_dst] = mix(pool[i_dst], hashmix(pool[i_src]))
    for i_src in range(_POOL, len(entropy)):
        for i_dst in range(_POOL):
            pool[i_dst] = mix(pool[i_dst], hashmix(entropy[i_src]))
    return pool


def _generate_uint64(pool: list[int]) -> int:
    """The first 64-bit word of SeedSequence.generate_state (two 32-bit words, little-endian)."""
    hash_const = _INIT_B
    words = []
    for i in range(2):
        value = (pool[i % _POOL] ^ hash_const) & _MASK
        hash_const = (hash_const * _MULT_B) & _MASK
        value = (value * hash_const) & _MASK
        words.append(value ^ (value >> _SHIFT))
    return words[0] | (words[1] << 32)


def seed_sequence_word(entropy: int, spawn_key: Iterable[int] = ()) -> int:
    """``SeedSequence(entropy, spawn_key=spawn_key).generate_state(1, np.uint64)[0]`` as an int."""
    run = _words(int(entropy))
    spawn = [w for k in spawn_key for w in _words(int(k))]
    if spawn and len(run) < _POOL:
        run = run + [0] * (_POOL - len(run))
    return _generate_uint64(_pool(run + spawn))


def derive_seed(base: int, *keys: object, bits: int = 31) -> int:
    """A reproducible seed in [0, 2**bits) from a base seed and any keys (T, sample, replica...)."""
    spawn = tuple(zlib.crc32(repr(k).encode()) for k in keys)
    return seed_sequence_word(int(base), spawn) % (1 << bits)


__all__ = ["derive_seed", "seed_sequence_word"]
