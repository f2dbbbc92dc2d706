"""RL prompts: filters, the per-step schedule (deterministic, exact context mix), the edge filter's rule."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from interplay.errors import UserError
from interplay.lm.sampling.toy import toy_tokenizer
from interplay.rl.config import EdgeConfig, RLDataConfig
from interplay.rl.data import PromptSchedule, Problem, draw_candidates, edge_select, load_pool
from interplay.text import format_prompt


@pytest.fixture(scope="module")
def records_file(tmp_path_factory) -> Path:
    from interplay.world import generate

    records = [generate(op=op, context=ctx, mode=mode, seed=0, index=i)
               for op in (2, 3, 4, 5) for ctx in ("zoo", "school") for mode in ("forward", "reverse") for i in range(5)]
    path = tmp_path_factory.mktemp("rldata") / "rl.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture(scope="module")
def tokenizer():
    return toy_tokenizer(64)


def test_filters_by_op_context_and_mode(records_file, tokenizer):
    cfg = RLDataConfig(path=str(records_file), ops=[3, 4], contexts={"school": 1.0}, modes=["reverse"])
    pool, stats = load_pool(cfg, tokenizer, 10_000)
    assert stats == {"records": 80, "after_filters": 10, "too_long": 0, "pool": 10}
    assert {(p.record["op"], p.context, p.record["mode"]) for p in pool} == {(3, "school", "reverse"), (4, "school", "reverse")}
    for p in pool:
        assert p.prompt_ids == tuple(tokenizer(format_prompt(p.record), add_special_tokens=False)["input_ids"])


def test_long_prompts_are_left_out_and_counted(records_file, tokenizer):
    pool, stats = load_pool(RLDataConfig(path=str(records_file)), tokenizer, 10_000)
    limit = sorted(len(p.prompt_ids) for p in pool)[40]
    short, stats = load_pool(RLDataConfig(path=str(records_file)), tokenizer, limit)
    assert stats["too_long"] == sum(len(p.prompt_ids) > limit for p in pool) > 0
    assert all(len(p.prompt_ids) <= limit for p in short)
    capped, _ = load_pool(RLDataConfig(path=str(records_file), max_problems=7), tokenizer, 10_000)
    assert [p.id for p in capped] == [p.id for p in pool[:7]]


def test_an_empty_pool_is_a_user_error(records_file, tokenizer):
    with pytest.raises(UserError, match="no problems left"):
        load_pool(RLDataConfig(path=str(records_file), ops=[11, 14]), tokenizer, 10_000)


def test_a_record_without_op_is_a_user_error_naming_the_line(tmp_path, records_file, tokenizer):
    lines = records_file.read_text().splitlines()
    record = json.loads(lines[3])
    del record["op"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines[:3] + [json.dumps(record)] + lines[4:]) + "\n")
    for ops in ([2, 3], None):  # never skipped silently, with or without an op filter
        with pytest.raises(UserError, match=r"bad.jsonl:4 lacks record field\(s\) op"):
            load_pool(RLDataConfig(path=str(bad), ops=ops), tokenizer, 10_000)


def _pool(n_zoo: int, n_school: int) -> list[Problem]:
    return [Problem({"id": f"{ctx}-{i}", "context": ctx}, (i,)) for ctx, n in (("zoo", n_zoo), ("school", n_school))
            for i in range(n)]


def test_schedule_is_a_pure_function_of_seed_and_step():
    pool = _pool(30, 10)
    a, b = PromptSchedule(pool, 8, seed=3, contexts=None), PromptSchedule(pool, 8, seed=3, contexts=None)
    assert [p.id for p in a.batch(5)] == [p.id for p in b.batch(5)]  # no state: any step, any order
    assert [p.id for p in a.batch(0)] != [p.id for p in a.batch(1)]
    assert [p.id for p in PromptSchedule(pool, 8, seed=4, contexts=None).batch(0)] != [p.id for p in a.batch(0)]


def test_schedule_covers_every_problem_once_per_epoch():
    pool = _pool(30, 10)
    s = PromptSchedule(pool, 8, seed=0, contexts=None)
    seen = Counter(p.id for step in range(5) for p in s.batch(step))  # 5 x 8 = 40 = one epoch
    assert len(seen) == 40 and set(seen.values()) == {1}


def test_context_mix_is_exact_per_step():
    pool = _pool(30, 10)
    s = PromptSchedule(pool, 10, seed=0, contexts={"zoo": 0.75, "school": 0.25})
    for step in range(7):
        counts = Counter(p.context for p in s.batch(step))
        # 7.5 / 2.5 by largest remainder (ties to the first listed): 8 zoo, 2 school, every step.
        assert counts == {"zoo": 8, "school": 2}
    # The 10 school problems are cycled through: 7 steps x 2 = 14 draws cover all 10.
    assert {p.id for step in range(7) for p in s.batch(step) if p.context == "school"} == {f"school-{i}" for i in range(10)}


def test_a_context_with_a_share_but_no_problems_is_named():
    with pytest.raises(UserError, match="data.contexts.movies"):
        PromptSchedule(_pool(5, 5), 8, seed=0, contexts={"zoo": 0.5, "movies": 0.5})


def test_candidates_are_distinct_and_seeded():
    pool = _pool(50, 0)
    a = draw_candidates(pool, 10, seed=1, round_index=0)
    assert len({p.id for p in a}) == 10
    assert [p.id for p in a] == [p.id for p in draw_candidates(pool, 10, seed=1, round_index=0)]
    assert [p.id for p in a] != [p.id for p in draw_candidates(pool, 10, seed=1, round_index=1)]
    assert len(draw_candidates(pool, 99, seed=1, round_index=0)) == 50


# -- the edge-of-competence rule, with a sampler whose successes we choose ------------------------------


@dataclass
class _Completion:
    prompt_index: int
    sample_index: int
    token_ids: list[int]
    text: str
    finish_reason: str = "stop"


class ScriptedSampler:
    """Sample j of problem i is the gold completion when j < successes[i], else a wrong answer."""

    def __init__(self, problems: list[Problem], successes: list[int]):
        from interplay.text import format_completion

        self.gold = [format_completion(p.record) for p in problems]
        self.successes = successes

    def generate(self, requests, config):
        for r in requests:
            text = self.gold[r.prompt_index] if r.sample_index < self.successes[r.prompt_index] else " Answer: -1."
            yield _Completion(r.prompt_index, r.sample_index, [1, 2, 3], text)


def _real_problems(n: int) -> list[Problem]:
    from interplay.world import generate

    return [Problem(generate(op=3, context="zoo", seed=1, index=i), (i + 1,)) for i in range(n)]


def test_edge_keeps_failed_at_pass1_solved_at_passk():
    problems = _real_problems(6)
    successes = [0, 1, 2, 4, 8, 3]  # correct samples out of 8
    cfg = EdgeConfig(samples=8, k=8, max_pass1=0.375, min_passk=0.5, metric="process")
    chosen, stats = edge_select(ScriptedSampler(problems, successes), problems, cfg, seed=0, max_new_tokens=10)
    # pass@1 = c/8 <= 0.375 -> c <= 3; pass@8 = 1 if c >= 1 (n = k): c in {1, 2, 3}.
    assert [p.id for p in chosen] == [problems[i].id for i in (1, 2, 5)]
    assert stats["candidates"] == 6 and stats["selected"] == 3
    assert stats["candidate_pass1"] == pytest.approx(sum(successes) / 48)
    assert stats["sampled_tokens"] == 6 * 8 * (1 + 3)


def test_edge_with_k_below_n_uses_the_unbiased_estimator():
    problems = _real_problems(3)
    # n = 8, k = 2: pass@2 = 1 - C(8 - c, 2) / C(8, 2): c = 1 -> 0.25, c = 2 -> 13/28 = 0.464, c = 3 -> 0.643
    cfg = EdgeConfig(samples=8, k=2, max_pass1=1.0, min_passk=0.5, metric="outcome")
    chosen, _ = edge_select(ScriptedSampler(problems, [1, 2, 3]), problems, cfg, seed=0, max_new_tokens=10)
    assert [p.id for p in chosen] == [problems[2].id]


def test_edge_selection_does_not_depend_on_the_number_of_processes():
    problems = _real_problems(7)
    successes = [0, 1, 2, 3, 5, 8, 1]
    cfg = EdgeConfig(samples=8, k=8, max_pass1=0.5, min_passk=0.5)
    one, stats1 = edge_select(ScriptedSampler(problems, successes), problems, cfg, seed=0, max_new_tokens=10)
    # Two "processes": each computes its share; the all-gather hands both shares to each of them.
    shares = []

    class Collected(Exception):
        pass

    def collect(obj):
        shares.append(obj)
        raise Collected

    def run(rank, gather):
        return edge_select(ScriptedSampler(problems, successes), problems, cfg, seed=0, max_new_tokens=10,
                           rank=rank, world=2, gather=gather)

    for rank in (0, 1):
        with pytest.raises(Collected):
            run(rank, collect)
    assert {i for part, _ in shares for i, _ in part} == set(range(7))  # disjoint shares, all candidates
    for rank in (0, 1):
        two, stats2 = run(rank, lambda obj: list(shares))
        assert [p.id for p in two] == [p.id for p in one] and stats2 == stats1
