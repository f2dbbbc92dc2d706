"""RL prompts: which problems (op range, context mix, edge of competence) and which ones each step.

* `load_pool` reads a corpus split (or a JSONL file), keeps the configured ops / contexts / modes,
  tokenises every prompt once and leaves out prompts longer than `rollout.max_prompt_tokens`.
* `edge_select` keeps the problems at the model's edge of competence: sampled n times, the model
  fails at pass@1 (<= max_pass1) yet succeeds at pass@k (>= min_passk).
* `PromptSchedule.batch(step)` gives the N prompts of an RL step as a pure function of
  (seed, pool, step): each context is an endless stream of seeded permutations of its problems
  (epoch after epoch), and a step takes the next weight·N items of every stream. Resuming at any
  step therefore needs no saved position, only the pool.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from interplay.errors import UserError
from interplay.rl.config import EdgeConfig, RLDataConfig

# Salts keep the random streams of different purposes apart (same seed, independent draws).
_SALT_STREAM, _SALT_ORDER, _SALT_CANDIDATES = 101, 102, 103


@dataclass(frozen=True)
class Problem:
    record: dict[str, Any]
    prompt_ids: tuple[int, ...]

    @property
    def id(self) -> str:
        return str(self.record["id"])

    @property
    def context(self) -> str | None:
        return self.record.get("context")


def load_pool(cfg: RLDataConfig, tokenizer: Any, max_prompt_tokens: int) -> tuple[list[Problem], dict[str, int]]:
    """The problems RL may draw from, in stored order, and counts of what the filters left out."""
    from interplay.lm.records import iter_records
    from interplay.text import format_prompt

    lo, hi = cfg.ops if cfg.ops is not None else (None, None)
    wanted_contexts = None if cfg.contexts is None else {c for c, w in cfg.contexts.items() if w > 0}
    kept: list[dict[str, Any]] = []
    seen = 0
    for i, record in enumerate(iter_records(cfg.path, split=cfg.split, field="data.path")):
        seen += 1
        op = record.get("op")
        if lo is not None and not (isinstance(op, int) and lo <= op <= hi):
            continue
        if wanted_contexts is not None and record.get("context") not in wanted_contexts:
            continue
        if cfg.modes is not None and record.get("mode", "forward") not in cfg.modes:
            continue
        record = dict(record)
        record.setdefault("id", f"line-{i}")
        kept.append(record)
    stats = {"records": seen, "after_filters": len(kept)}
    ids = tokenizer([format_prompt(r) for r in kept], add_special_tokens=False)["input_ids"] if kept else []
    pool = [Problem(r, tuple(p)) for r, p in zip(kept, ids, strict=True) if len(p) <= max_prompt_tokens]
    stats["too_long"] = len(kept) - len(pool)
    if cfg.max_problems is not None:
        pool = pool[: cfg.max_problems]
    stats["pool"] = len(pool)
    if not pool:
        where = f"split {cfg.split!r} of {cfg.path}"
        raise UserError(f"data: no problems left in {where} after the filters (ops {cfg.ops}, contexts "
                        f"{sorted(wanted_contexts) if wanted_contexts else 'any'}, modes {cfg.modes or 'any'}, "
                        f"prompts <= {max_prompt_tokens} tokens): {stats}")
    return pool, stats


def _largest_remainder(weights: Sequence[float], total: int) -> list[int]:
    s = sum(weights)
    exact = [w * total / s for w in weights]
    counts = [math.floor(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


class PromptSchedule:
    """The prompts of every RL step, deterministic in (seed, pool, step - start)."""

    def __init__(self, pool: list[Problem], n: int, seed: int, contexts: dict[str, float] | None, start: int = 0):
        self.pool, self.n, self.seed, self.start = pool, n, seed, start
        if contexts is None:
            self.streams = [list(range(len(pool)))]
            self.counts = [n]
            self.names = ["all"]
        else:
            names = [c for c, w in contexts.items() if w > 0]
            counts = _largest_remainder([contexts[c] for c in names], n)
            self.streams, self.counts, self.names = [], [], []
            for name, count in zip(names, counts, strict=True):
                members = [i for i, p in enumerate(pool) if p.context == name]
                if count and not members:
                    raise UserError(f"data.contexts.{name}: the prompt pool has no problem of context {name!r} "
                                    f"(its share is {count} of {n} prompts per step)")
                if count:
                    self.streams.append(members)
                    self.counts.append(count)
                    self.names.append(name)
        self._perms: dict[tuple[int, int], np.ndarray] = {}

    def _item(self, stream: int, i: int) -> int:
        members = self.streams[stream]
        epoch, pos = divmod(i, len(members))
        key = (stream, epoch)
        if key not in self._perms:
            if len(self._perms) > 64:
                self._perms.clear()
            rng = np.random.default_rng([self.seed, _SALT_STREAM, self.start, stream, epoch])
            self._perms[key] = rng.permutation(len(members))
        return members[int(self._perms[key][pos])]

    def batch(self, step: int) -> list[Problem]:
        k = step - self.start
        chosen = []
        for s, count in enumerate(self.counts):
            chosen += [self._item(s, k * count + j) for j in range(count)]
        order = np.random.default_rng([self.seed, _SALT_ORDER, step]).permutation(len(chosen))
        return [self.pool[chosen[int(i)]] for i in order]


def draw_candidates(pool: list[Problem], count: int, seed: int, round_index: int) -> list[Problem]:
    """`count` distinct problems of the pool (all of them if it is smaller), seeded by the selection round."""
    if count >= len(pool):
        return list(pool)
    rng = np.random.default_rng([seed, _SALT_CANDIDATES, round_index])
    return [pool[int(i)] for i in rng.choice(len(pool), size=count, replace=False)]


def edge_select(
    sampler: Any,
    candidates: list[Problem],
    cfg: EdgeConfig,
    *,
    seed: int,
    max_new_tokens: int,
    max_batch_rows: int = 128,
    rank: int = 0,
    world: int = 1,
    gather: Callable[[list], list] | None = None,
) -> tuple[list[Problem], dict[str, Any]]:
    """The candidates at the model's edge of competence, and statistics of the selection.

    With several processes each samples its share (candidates rank, rank + world, ...); `gather`
    (an all-gather of Python lists) brings the counts together. The result does not depend on the
    number of processes: the sampler's randomness is keyed per (seed, prompt, sample index).
    """
    from interplay.evaluate.ladder import edge_of_competence
    from interplay.lm.sampler import Request, SamplingConfig
    from interplay.verify import load_gold, pass_at_k, verify

    mine = list(range(rank, len(candidates), world))
    config = SamplingConfig(n=cfg.samples, temperature=cfg.temperature, max_new_tokens=max_new_tokens,
                            seed=seed, max_batch_rows=max_batch_rows)
    requests = [Request(candidates[i].prompt_ids, j, prompt_index=i) for i in mine for j in range(cfg.samples)]
    correct = {i: 0 for i in mine}
    tokens = 0
    golds = {i: load_gold(candidates[i].record) for i in mine}
    for c in sampler.generate(requests, config):
        v = verify(golds[c.prompt_index], c.text)
        ok = v.outcome_correct if cfg.metric == "outcome" else v.process_correct
        correct[c.prompt_index] += bool(ok)
        tokens += len(candidates[c.prompt_index].prompt_ids) + len(c.token_ids)
    local = [(i, correct[i]) for i in mine]
    parts = gather([local, tokens]) if gather is not None else [[local, tokens]]
    counts: dict[int, int] = {}
    tokens = 0
    for part_counts, part_tokens in parts:
        counts.update(dict(part_counts))
        tokens += part_tokens
    # The keep rule is the evaluation package's: one definition of "edge of competence".
    n, k = cfg.samples, cfg.k
    rows = [{"id": i, "n": n, f"c_{cfg.metric}": counts[i]} for i in range(len(candidates))]
    kept = edge_of_competence(rows, k, metric=cfg.metric, max_pass_1=cfg.max_pass1, min_pass_k=cfg.min_passk)
    selected = [candidates[row["id"]] for row in kept]
    pass1 = [pass_at_k(n, counts[i], 1) for i in range(len(candidates))]
    passk = [pass_at_k(n, counts[i], k) for i in range(len(candidates))]
    stats = {
        "candidates": len(candidates),
        "selected": len(selected),
        "candidate_pass1": float(np.mean(pass1)) if pass1 else 0.0,
        f"candidate_pass{k}": float(np.mean(passk)) if passk else 0.0,
        "sampled_tokens": tokens,
    }
    return selected, stats
