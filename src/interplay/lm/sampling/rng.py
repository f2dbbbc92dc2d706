"""Counter-based random numbers: one independent stream per sample, keyed, not sequential.

A completion must not depend on which other prompts share its batch, nor on the batch size, nor on
which samples were already stored when an evaluation resumes. A single torch.Generator shared by the
batch breaks all three (row i's draw depends on how many rows came before it). Instead every sample
gets a 64-bit key derived from (seed, prompt token ids, sample index), and the uniform used for its
t-th token is a pure function of (key, t): splitmix64 of the key advanced by t golden-ratio steps.
Vectorised in numpy (uint64 arithmetic wraps modulo 2**64, which is what splitmix64 wants).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TWO_POW_MINUS_53 = 1.0 / float(1 << 53)


def sample_key(seed: int, prompt_ids: Sequence[int], sample_index: int) -> int:
    """The 64-bit key of one sample: a hash of everything that identifies it, nothing else."""
    h = hashlib.blake2b(digest_size=8, person=b"interplay-smp")
    h.update(int(seed).to_bytes(16, "little", signed=True))
    h.update(int(sample_index).to_bytes(8, "little", signed=False))
    h.update(np.asarray(prompt_ids, dtype="<i8").tobytes())
    return int.from_bytes(h.digest(), "little")


def _splitmix64(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def uniforms(keys: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Uniform floats in [0, 1), one per row: row i gets stream `keys[i]` at position `steps[i]`."""
    keys = np.asarray(keys, dtype=np.uint64)
    steps = np.asarray(steps, dtype=np.uint64)
    with np.errstate(over="ignore"):
        bits = _splitmix64(keys + (steps + np.uint64(1)) * _GOLDEN)
    return (bits >> np.uint64(11)).astype(np.float64) * _TWO_POW_MINUS_53
