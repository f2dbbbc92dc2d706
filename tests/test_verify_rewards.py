"""Rewards by name: values on hand-computed verdicts, and the table that documents them."""

from __future__ import annotations

import pytest

from interplay.errors import UserError
from interplay.verify import REWARDS, Errors, Verdict, get_reward, verify
from interplay.verify import rewards as rewards_module


def verdict(outcome, accuracy, n, missing=(), dependency=(), value=(), extra=()):
    errors = Errors(list(missing), list(dependency), list(value), list(extra))
    process = outcome and not (missing or dependency or value)
    return Verdict(True, 1, outcome, process, accuracy, errors, n)


RIGHT_BUT_SLOPPY = verdict(True, 0.75, 4, dependency=["B"], extra=["E"])  # penalty 2 of 4
WRONG_AND_BROKEN = verdict(False, 0.5, 4, missing=["A"], dependency=["B"], value=["B"], extra=["E1", "E2"])


@pytest.mark.parametrize(
    "name, params, sloppy, broken",
    [
        ("outcome", {}, 1.0, 0.0),
        ("process", {}, 0.75, 0.5),
        ("process_penalty", {}, 0.5, 0.0),  # broken: 1 + 1 + 1 + 2 + 1 = 6 > 4
        ("composite", {}, 0.2 + 0.8 * 0.75, 0.8 * 0.5),
        ("composite", {"alpha": 0.5}, 0.5 + 0.5 * 0.75, 0.25),
        ("composite", {"alpha": 0.2, "process": "process_penalty"}, 0.2 + 0.8 * 0.5, 0.0),
        ("gated_composite", {}, 0.2 + 0.8 * 0.5, 0.0),
        ("gated_composite", {"answer_weight": 1, "step_weight": 1}, 0.75, 0.0),
        ("gated_composite", {"zero_on_mismatch": True}, 0.0, 0.0),
        ("strict", {}, 0.0, 0.0),
    ],
)
def test_reward_values(name, params, sloppy, broken):
    r = get_reward(name, **params)
    assert r(RIGHT_BUT_SLOPPY) == pytest.approx(sloppy)
    assert r(WRONG_AND_BROKEN) == pytest.approx(broken)


def test_extra_nodes_cost_only_in_the_penalty_forms():
    clean = verdict(True, 1.0, 4)
    with_extra = verdict(True, 1.0, 4, extra=["E"])
    for name in ("outcome", "process", "composite", "strict"):
        assert get_reward(name)(with_extra) == get_reward(name)(clean) == 1.0
    assert get_reward("process_penalty")(with_extra) == 0.75
    assert get_reward("gated_composite", zero_on_mismatch=True)(with_extra) == 0.0
    assert get_reward("gated_composite", zero_on_mismatch=True)(clean) == 1.0


def test_penalty_caps_extra_nodes_at_the_gold_size():
    v = verdict(True, 1.0, 2, extra=["E"] * 10)
    assert get_reward("process_penalty")(v) == 0.0  # min(10, 2) / 2


def test_rewards_on_real_verdicts(reference_rows):
    r = reference_rows[130]
    n = len(r["generator_graph"]["nodes"])
    perfect = verify(r, f" {r['solution']} </solution> <answer> {r['answer']} </answer>")
    wrong = verify(r, f" {r['solution']} </solution> <answer> {r['answer'] + 1} </answer>")
    for name in REWARDS:
        assert get_reward(name)(perfect) == 1.0, name
    expected = {
        "outcome": 0.0,
        "process": 1.0,
        "process_penalty": 1 - 1 / n,
        "composite": 0.8,
        "gated_composite": 0.0,
        "strict": 0.0,
    }
    for name, value in expected.items():
        assert get_reward(name)(wrong) == pytest.approx(value), name


def test_the_docstring_table_lists_every_reward():
    doc = rewards_module.__doc__
    for name in REWARDS:
        assert f"| `{name}`" in doc, name


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("nope", {}, "unknown reward 'nope'"),
        ("composite", {"beta": 1}, "beta"),
        ("composite", {"alpha": 1.5}, "alpha"),
        ("composite", {"alpha": "high"}, "alpha"),
        ("composite", {"process": "vibes"}, "process"),
        ("gated_composite", {"answer_weight": 0, "step_weight": 0}, "answer_weight"),
        ("gated_composite", {"step_weight": -1}, "step_weight"),
        ("gated_composite", {"zero_on_mismatch": "yes"}, "zero_on_mismatch"),
        ("outcome", {"alpha": 0.3}, "alpha"),
    ],
)
def test_bad_reward_configs_raise_user_errors(name, params, message):
    with pytest.raises(UserError, match=message):
        get_reward(name, **params)
