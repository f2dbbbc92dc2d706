"""A deterministic random stream keyed by any tuple of values.

Python guarantees that `random.Random(int).random()` gives the same sequence on every version
and platform, but not `randrange`, `choice` or `shuffle`. Everything here is built on
`random()` alone, so the same (seed, index) gives the same problem bytes everywhere.
"""

from __future__ import annotations

import hashlib
import random


def derive_seed(*parts) -> int:
    """A 64-bit seed from any sequence of printable parts (stable across processes and versions)."""
    key = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


class Rng:
    __slots__ = ("_random",)

    def __init__(self, *key) -> None:
        self._random = random.Random(derive_seed(*key)).random

    def random(self) -> float:
        return self._random()

    def below(self, n: int) -> int:
        """Uniform integer in [0, n)."""
        return int(self._random() * n)

    def randint(self, lo: int, hi: int) -> int:
        """Uniform integer in [lo, hi], both ends included."""
        return lo + int(self._random() * (hi - lo + 1))

    def choice(self, seq):
        return seq[int(self._random() * len(seq))]

    def weighted(self, weights) -> int:
        """Index drawn with probability proportional to weights (all >= 0, sum > 0)."""
        total = sum(weights)
        r = self._random() * total
        acc = 0.0
        for i, w in enumerate(weights):
            acc += w
            if r < acc:
                return i
        return max(i for i, w in enumerate(weights) if w > 0)

    def shuffle(self, items: list) -> None:
        for i in range(len(items) - 1, 0, -1):
            j = int(self._random() * (i + 1))
            items[i], items[j] = items[j], items[i]

    def sample(self, seq, k: int) -> list:
        pool = list(seq)
        for i in range(k):
            j = i + int(self._random() * (len(pool) - i))
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]
