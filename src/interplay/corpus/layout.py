"""Which problem sits in which row: cells, exact mixture counts, and a keyed row permutation.

A split of N rows is a list of cells (op, context, mode) with exact counts (largest remainder),
laid out in blocks and then scattered by a keyed permutation of [0, N), so row i depends only on
(seed, split, i): any worker can build any shard and get the same bytes.
"""

from __future__ import annotations

import bisect
import hashlib
import math

from interplay.corpus.config import CorpusConfig, SplitSpec
from interplay.world.rng import Rng

Cell = tuple[int, str, str]  # (op, context, mode)


def cell_probabilities(split: SplitSpec) -> dict[Cell, float]:
    probs: dict[Cell, float] = {}
    for comp in split.components:
        n_ops = comp.ops[1] - comp.ops[0] + 1
        for op in range(comp.ops[0], comp.ops[1] + 1):
            for ctx, cs in comp.contexts.items():
                for mode, ms in comp.modes.items():
                    p = comp.weight * cs * ms / n_ops
                    if p > 0:
                        probs[(op, ctx, mode)] = probs.get((op, ctx, mode), 0.0) + p
    return probs


def allocate(probs: dict[Cell, float], n: int) -> dict[Cell, int]:
    """Exact integer counts summing to n, each within 1 of n*p (largest remainder, ties by cell)."""
    cells = sorted(probs)
    raw = {c: probs[c] * n for c in cells}
    counts = {c: math.floor(raw[c]) for c in cells}
    short = n - sum(counts.values())
    for c in sorted(cells, key=lambda c: (counts[c] - raw[c], c))[:short]:
        counts[c] += 1
    return {c: k for c, k in counts.items() if k > 0}


class KeyedPermutation:
    """A bijection of [0, n) from a 4-round Feistel network with cycle walking (O(1) memory)."""

    def __init__(self, n: int, *key) -> None:
        self.n = n
        bits = max(2, (max(n, 2) - 1).bit_length())
        bits += bits % 2
        self.half = bits // 2
        self.mask = (1 << self.half) - 1
        self.key = "\x1f".join(map(str, key)).encode()

    def _round(self, r: int, value: int) -> int:
        digest = hashlib.blake2b(self.key + b"%d:%d" % (r, value), digest_size=8).digest()
        return int.from_bytes(digest, "big") & self.mask

    def __call__(self, i: int) -> int:
        x = i
        while True:
            left, right = x >> self.half, x & self.mask
            for r in range(4):
                left, right = right, left ^ self._round(r, right)
            x = (left << self.half) | right
            if x < self.n:
                return x


class SplitLayout:
    def __init__(self, cfg: CorpusConfig, split: SplitSpec, rows: int) -> None:
        self.split = split.name
        if split.per_cell is not None:
            self.counts = {c: split.per_cell for c in sorted(cell_probabilities(split))}
        else:
            self.counts = allocate(cell_probabilities(split), rows)
        self.cells = sorted(self.counts)
        self.starts = []
        acc = 0
        for c in self.cells:
            self.starts.append(acc)
            acc += self.counts[c]
        self.rows = acc
        self.permutation = KeyedPermutation(self.rows, "interplay-corpus-v1", cfg.seed, split.name)

    def cell(self, row: int) -> Cell:
        pos = self.permutation(row)
        return self.cells[bisect.bisect_right(self.starts, pos) - 1]


def pilot_tokens_per_problem(cfg: CorpusConfig, split: SplitSpec, draws: int = 400) -> float:
    """Mean approximate tokens per problem of a split's mixture, from a fixed pilot sample."""
    from interplay.corpus.tokens import approx_tokens
    from interplay.text import format_example
    from interplay.world import generate

    probs = cell_probabilities(split)
    cells = sorted(probs)
    rng = Rng("interplay-pilot-v1", cfg.seed, split.name)
    total = 0
    for i in range(draws):
        op, ctx, mode = cells[rng.weighted([probs[c] for c in cells])]
        total += approx_tokens(format_example(generate(op, ctx, mode, seed=cfg.seed, index=-1 - i, options=cfg.world)))
    return total / draws
