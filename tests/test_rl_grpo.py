"""GRPO maths on hand-computed cases: advantages, clipped ratio loss, k3 KL, token mean; strict reward."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from interplay.rl.grpo import (
    clipped_surrogate,
    group_advantages,
    k3_kl,
    logprobs_and_entropy,
    token_mean,
)


def test_advantages_std_normalised_by_hand():
    # mean 0.5; unbiased std sqrt(((0.5^2) * 4) / 3) = sqrt(1/3); 0.5 / sqrt(1/3) = sqrt(3)/2
    a = group_advantages(torch.tensor([[1.0, 0.0, 0.0, 1.0]]), eps=0.0)
    expected = math.sqrt(3) / 2
    torch.testing.assert_close(a, torch.tensor([[expected, -expected, -expected, expected]]))


def test_advantages_per_group_and_unnormalised():
    rewards = torch.tensor([[0.2, 0.8], [3.0, 1.0]])
    torch.testing.assert_close(group_advantages(rewards, normalize_std=False), torch.tensor([[-0.3, 0.3], [1.0, -1.0]]))
    # Each group is normalised by its own std: sqrt(0.18) and sqrt(2).
    torch.testing.assert_close(group_advantages(rewards, eps=0.0),
                               torch.tensor([[-0.3 / math.sqrt(0.18), 0.3 / math.sqrt(0.18)],
                                             [1 / math.sqrt(2), -1 / math.sqrt(2)]]))


def test_a_group_with_equal_rewards_has_no_signal():
    a = group_advantages(torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]))
    assert torch.equal(a, torch.zeros(2, 3))


def test_advantages_need_groups_of_two():
    with pytest.raises(ValueError):
        group_advantages(torch.tensor([[1.0], [0.0]]))


@pytest.mark.parametrize(
    "ratio, adv, loss, clipped",
    [
        (1.5, 1.0, -1.2, True),  # pushed up past 1 + eps: the clipped branch (no gradient)
        (1.5, -1.0, 1.5, False),  # a bad token made likelier is never clipped: full penalty
        (0.5, 1.0, -0.5, False),  # a good token made unlikelier: full gradient back up
        (0.5, -1.0, 0.8, True),  # pushed down past 1 - eps: clipped
        (1.1, 2.0, -2.2, False),  # inside the trust region
        (1.0, 0.0, 0.0, False),
    ],
)
def test_clipped_surrogate_by_hand(ratio, adv, loss, clipped):
    old = torch.tensor([-1.0])
    logp = old + math.log(ratio)
    per_token, r, c = clipped_surrogate(logp, old, torch.tensor([adv]), clip_low=0.2, clip_high=0.2)
    torch.testing.assert_close(per_token, torch.tensor([loss]))
    torch.testing.assert_close(r, torch.tensor([ratio]))
    assert bool(c) is clipped


def test_an_extreme_ratio_stays_finite_even_with_a_zero_advantage():
    from interplay.rl.grpo import clipped_surrogate

    logp = torch.tensor([0.0, -1000.0, 0.0], requires_grad=True)
    old = torch.tensor([-1000.0, 0.0, 0.0])
    loss, ratio, _ = clipped_surrogate(logp, old, torch.tensor([0.0, 1.0, -1.0]))
    assert torch.isfinite(loss).all() and torch.isfinite(ratio).all()
    loss.sum().backward()
    assert torch.isfinite(logp.grad).all()


def test_asymmetric_clip():
    old = torch.tensor([0.0, 0.0])
    logp = torch.log(torch.tensor([1.25, 1.25]))
    per_token, _, clipped = clipped_surrogate(logp, old, torch.tensor([1.0, 1.0]), clip_low=0.2, clip_high=0.28)
    torch.testing.assert_close(per_token, torch.tensor([-1.25, -1.25]))  # 1.25 < 1.28: not clipped
    assert not clipped.any()


def test_clipped_gradient_is_zero_and_unclipped_is_minus_advantage():
    old = torch.tensor([0.0, 0.0])
    logp = torch.log(torch.tensor([1.5, 1.0])).requires_grad_()
    per_token, _, _ = clipped_surrogate(logp, old, torch.tensor([1.0, 2.0]))
    per_token.sum().backward()
    # d(-A * ratio)/dlogp = -A * ratio: 0 where clipped; -2 * 1 at ratio 1.
    torch.testing.assert_close(logp.grad, torch.tensor([0.0, -2.0]))


def test_k3_kl_by_hand():
    logp = torch.tensor([-1.0, -2.0, -0.5])
    ref = torch.tensor([-1.0, -1.0, -1.5])
    d = ref - logp  # 0, 1, -1
    expected = torch.exp(d) - d - 1  # 0, e - 2, 1/e
    torch.testing.assert_close(k3_kl(logp, ref), expected)
    torch.testing.assert_close(k3_kl(logp, ref)[1], torch.tensor(math.e - 2))
    assert k3_kl(logp, logp).abs().max() == 0


def test_k3_is_an_unbiased_kl_estimate():
    # Sampling x ~ p: E[k3] = KL(p || q) (Schulman's estimator), checked on a 3-point distribution.
    p = torch.tensor([0.5, 0.3, 0.2])
    q = torch.tensor([0.2, 0.5, 0.3])
    exact = float((p * (p / q).log()).sum())
    estimate = float((p * k3_kl(p.log(), q.log())).sum())  # expectation over x ~ p, computed exactly
    assert estimate == pytest.approx(exact, rel=1e-6)


def test_k3_stays_finite_for_extreme_ratios():
    out = k3_kl(torch.tensor([0.0, -200.0]), torch.tensor([-200.0, 0.0]))
    assert torch.isfinite(out).all() and (out >= 0).all() and (out <= 10).all()


def test_token_mean_weighs_tokens_not_sequences():
    # Two rollouts: 1 token with loss 4, 3 tokens with loss 0 -> token mean 1 (a mean of sequence means gives 2).
    values = torch.tensor([[4.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    assert float(token_mean(values, mask)) == 1.0
    # Micro-batches given the mini-batch's count add up to the whole mini-batch's token mean.
    parts = token_mean(values[:1], mask[:1], count=4) + token_mean(values[1:], mask[1:], count=4)
    assert float(parts) == 1.0
    assert float(token_mean(torch.tensor([1.0, 2.0, 6.0]))) == 3.0


def test_logprobs_and_entropy_by_hand():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25], [1.0, 1e-30, 1e-30]]))
    logp, entropy = logprobs_and_entropy(logits, torch.tensor([1, 0]))
    torch.testing.assert_close(logp, torch.log(torch.tensor([0.25, 1.0])))
    torch.testing.assert_close(entropy, torch.tensor([1.5 * math.log(2), 0.0]), atol=1e-6, rtol=0)
    assert not entropy.requires_grad


# -- the strict reward: never positive for a wrong process ---------------------------------------------


def _records():
    from interplay.world import generate

    return [generate(op=op, context=ctx, mode=mode, seed=3, index=i)
            for op in (2, 4, 7) for ctx in ("zoo", "school") for mode in ("forward", "reverse") for i in range(2)]


RECORDS = _records()


@st.composite
def mutated_completion(draw):
    from interplay.text import format_completion

    record = draw(st.sampled_from(RECORDS))
    gold = format_completion(record)
    steps = gold.split("Define ")
    kind = draw(st.sampled_from(["drop", "value", "answer", "swap", "garbage", "keep"]))
    if kind == "drop" and len(steps) > 2:
        i = draw(st.integers(1, len(steps) - 1))
        text = "Define ".join(steps[:i] + steps[i + 1:])
    elif kind == "value":
        text = gold.replace(" = ", " = 1 + ", 1)
    elif kind == "answer":
        text = gold.replace(f"<answer> {record['answer']} </answer>", f"<answer> {record['answer'] + 1} </answer>")
    elif kind == "swap" and len(steps) > 3:
        text = "Define ".join([steps[0], steps[2], steps[1]] + steps[3:])
    elif kind == "garbage":
        text = draw(st.text(max_size=200))
    else:
        text = gold
    return record, text


@settings(max_examples=200, deadline=None)
@given(mutated_completion())
def test_strict_reward_is_never_positive_for_a_wrong_process(case):
    from interplay.verify import get_reward, verify

    record, text = case
    v = verify(record, text)
    strict = get_reward("strict")(v)
    if not v.process_correct:
        assert strict == 0.0
    else:
        assert strict == 1.0 and v.outcome_correct


def test_strict_reward_on_the_gold_and_a_right_answer_wrong_trace():
    from interplay.text import format_completion
    from interplay.verify import get_reward, verify

    record = next(r for r in RECORDS if r["op"] == 4 and r["mode"] == "forward")
    strict, outcome = get_reward("strict"), get_reward("outcome")
    assert strict(verify(record, format_completion(record))) == 1.0
    shortcut = f" Answer: {record['answer']}. </solution> <answer> {record['answer']} </answer>"
    v = verify(record, shortcut)  # the right answer with no trace: reward hacking under the outcome reward
    assert outcome(v) == 1.0 and strict(v) == 0.0
