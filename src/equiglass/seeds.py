"""Reproducible seeds from a base seed and keys, in pure Python (no NumPy needed to plan a run).

``derive_seed(base, *keys)`` gives exactly ``np.random.SeedSequence(entropy=base,
spawn_key=(crc32(repr(k)) for k in keys)).generate_state(1, uint64)[0] % 2**bits``: NumPy's
SeedSequence (M. E. O'Neill's ``seed_seq`` hash, numpy/random/bit_generator.pyx) re-implemented
with 32-bit integer arithmetic, so the workflow can derive every job's seed at parse time on a
login node without NumPy, and the simulation code gets the same numbers. Different keys give
statistically independent streams. :func:`permutation` is ``np.random.default_rng(seed).permutation``
(PCG64), for the train/validation/test split.
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


def _generate_uint64(pool: list[int], n_words: int = 1) -> list[int]:
    """SeedSequence.generate_state(n_words, uint64): pairs of 32-bit words, little-endian."""
    hash_const = _INIT_B
    words = []
    for i in range(2 * n_words):
        value = (pool[i % _POOL] ^ hash_const) & _MASK
        hash_const = (hash_const * _MULT_B) & _MASK
        value = (value * hash_const) & _MASK
        words.append(value ^ (value >> _SHIFT))
    return [words[2 * k] | (words[2 * k + 1] << 32) for k in range(n_words)]


def _seed_pool(entropy: int, spawn_key: Iterable[int] = ()) -> list[int]:
    run = _words(int(entropy))
    spawn = [w for k in spawn_key for w in _words(int(k))]
    if spawn and len(run) < _POOL:
        run = run + [0] * (_POOL - len(run))
    return _pool(run + spawn)


def seed_sequence_word(entropy: int, spawn_key: Iterable[int] = ()) -> int:
    """``SeedSequence(entropy, spawn_key=spawn_key).generate_state(1, np.uint64)[0]`` as an int."""
    return _generate_uint64(_seed_pool(entropy, spawn_key))[0]


# NumPy's default generator, PCG64 (XSL-RR 128/64, M. E. O'Neill; numpy/random/src/pcg64), seeded
# from a SeedSequence, and Generator.permutation (Fisher-Yates with masked rejection sampling).
_M128 = (1 << 128) - 1
_M64 = (1 << 64) - 1
_PCG_MULT = (2549297995355413924 << 64) | 4865540595714422341


class _PCG64:
    def __init__(self, seed: int) -> None:
        s0, s1, i0, i1 = _generate_uint64(_seed_pool(seed), 4)
        self.inc = ((((i0 << 64) | i1) << 1) | 1) & _M128
        self.state = 0
        self._step()
        self.state = (self.state + ((s0 << 64) | s1)) & _M128
        self._step()
        self.half: int | None = None

    def _step(self) -> None:
        self.state = (self.state * _PCG_MULT + self.inc) & _M128

    def next64(self) -> int:
        self._step()
        x = ((self.state >> 64) ^ self.state) & _M64
        rot = self.state >> 122
        return ((x >> rot) | (x << ((-rot) & 63))) & _M64

    def next32(self) -> int:
        if self.half is not None:
            out, self.half = self.half, None
            return out
        nxt = self.next64()
        self.half = nxt >> 32
        return nxt & _MASK

    def interval(self, top: int) -> int:
        """Uniform integer in [0, top] (random_interval)."""
        if top == 0:
            return 0
        mask = top
        for shift in (1, 2, 4, 8, 16, 32):
            mask |= mask >> shift
        draw = self.next32 if top <= _MASK else self.next64
        while True:
            value = draw() & mask
            if value <= top:
                return value


def permutation(seed: int, n: int) -> list[int]:
    """``np.random.default_rng(seed).permutation(n).tolist()`` without NumPy."""
    rng = _PCG64(int(seed))
    out = list(range(n))
    for i in range(n - 1, 0, -1):
        j = rng.interval(i)
        out[i], out[j] = out[j], out[i]
    return out


def derive_seed(base: int, *keys: object, bits: int = 31) -> int:
    """A reproducible seed in [0, 2**bits) from a base seed and any keys (T, sample, replica...)."""
    spawn = tuple(zlib.crc32(repr(k).encode()) for k in keys)
    return seed_sequence_word(int(base), spawn) % (1 << bits)


__all__ = ["derive_seed", "permutation", "seed_sequence_word"]
