"""Deterministic random streams.

Every purpose gets its own generator, keyed by the seed, the purpose's name and the simulated window,
so that adding draws for one purpose never shifts the numbers another purpose sees, and a continued
day draws the same numbers whatever else changed in the code path before it.
"""

from __future__ import annotations

import zlib

import numpy as np

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _purpose_key(purpose: str) -> int:
    return zlib.crc32(purpose.encode("utf-8"))


def stream(seed: int, purpose: str, *keys: int) -> np.random.Generator:
    """An independent generator for `purpose` in the window identified by `keys`."""
    entropy = [int(seed) & 0xFFFFFFFF, (int(seed) >> 32) & 0xFFFFFFFF, _purpose_key(purpose), *map(int, keys)]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def hash_uniform(seed: int, purpose: str, keys: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) numbers that depend only on (seed, purpose, key).

    Used for facts about a calendar day (is it a storm day?) that every window touching that day must
    agree on, whichever window draws them.
    """
    salt = np.uint64((int(seed) * 0x9E3779B1 + _purpose_key(purpose) * 0x85EBCA77) & 0xFFFFFFFFFFFFFFFF)
    x = np.asarray(keys).astype(np.uint64)
    with np.errstate(over="ignore"):
        # splitmix64: a cheap, well-mixed bijection of 64-bit integers
        x = (x * np.uint64(0x9E3779B97F4A7C15) + salt) & _MASK64
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def pick_rows(rng: np.random.Generator, cum: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a row-wise cumulative weight matrix (weights need not sum to 1)."""
    u = rng.random(cum.shape[0]) * cum[:, -1]
    return (cum < u[:, None]).sum(axis=1).clip(0, cum.shape[1] - 1)


def pick_grouped(rng: np.random.Generator, group: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """For each row, draw a column from the weight row `weights[group[row]]`.

    One searchsorted over the stacked, per-row-normalised cumulative weights: row g occupies [g, g+1).
    """
    w = np.asarray(weights, dtype=np.float64)
    cum = np.cumsum(w, axis=1) / w.sum(axis=1, keepdims=True)
    stacked = (cum + np.arange(w.shape[0])[:, None]).ravel()
    stacked[w.shape[1] - 1 :: w.shape[1]] = np.arange(1, w.shape[0] + 1)  # exact upper bounds
    u = group + rng.random(group.shape[0]) * (1 - 1e-12)
    flat = np.searchsorted(stacked, u, side="right")
    return (flat - group * w.shape[1]).clip(0, w.shape[1] - 1)
