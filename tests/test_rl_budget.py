"""Compute accounting: the paper's Table 3 row, the RL token-equivalent formula, labels, bad input."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from interplay.budget import (
    BudgetSettings,
    parse_total,
    plan_budget,
    rl_generated_token_equivalents,
    rl_token_equivalents,
    training_flops,
)
from interplay.cli import main
from interplay.errors import UserError

TABLE3_TOTAL = 8_000 * 524_288  # the "4.2B" row


def budget_json(capsys, *args: str):
    assert main(["budget", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_issue_command_gives_6400_and_40(capsys):
    row = budget_json(capsys, "--total", "4194304000", "--rl-share", "0.2")
    assert (row["mid_steps"], row["rl_steps"]) == (6400, 40)
    assert row["total_tokens"] == 4_194_304_000 == TABLE3_TOTAL


@pytest.mark.parametrize(
    "share, mid_steps, rl_steps",
    [
        (0, 8000, 0),  # all mid-training: 8,000 steps of 512K tokens (stated in the paper)
        (1, 0, 200),  # all RL: 200 steps of 1,024 prompts (stated)
        (0.2, 6400, 40),  # stated
        (0.5, 4000, 100),  # the same arithmetic at the other shares the study uses
        (0.8, 1600, 160),
    ],
)
def test_table3_row_4_2B(share, mid_steps, rl_steps):
    row = plan_budget(TABLE3_TOTAL, share)
    assert (row["mid_steps"], row["rl_steps"]) == (mid_steps, rl_steps)
    assert row["mid_steps_exact"] == mid_steps and row["rl_steps_exact"] == rl_steps  # divides exactly
    # The two parts add back up to the budget, in token equivalents.
    spent = row["mid_steps"] * 524_288 + row["rl_steps"] * row["rl_token_equivalents_per_step"]
    assert spent == TABLE3_TOTAL


def test_the_paper_defaults_are_what_table3_implies():
    # 200 RL steps x 1024 prompts must cost the whole 4.2B budget: one step = 20,971,520 equivalents.
    per_step = Fraction(TABLE3_TOTAL, 200)
    assert per_step == 20_971_520
    # (5/3) * N * r * L_total with N = 1024 -> r * L_total = 12,288 = 6 rollouts x 2,048 tokens.
    assert per_step / (Fraction(5, 3) * 1024) == 12_288 == 6 * 2048
    assert rl_token_equivalents(1024, 6, 2048) == per_step
    s = BudgetSettings()
    assert (s.prompts, s.rollouts, s.seq_len, s.mid_tokens_per_step) == (1024, 6, 2048, 524_288)


def test_rl_cost_per_token_counts_rollout_reference_and_update():
    # 2P rollout + 2P reference + 6P update over 6P; without the reference pass 8P / 6P.
    assert rl_token_equivalents(1, 1, 3) == 5
    assert rl_token_equivalents(1, 1, 3, reference=False) == 4
    assert rl_token_equivalents(10, 4, 30) == Fraction(5, 3) * 1200
    assert rl_generated_token_equivalents(300) == 500
    assert rl_generated_token_equivalents(300, reference=False) == 400
    # Without the reference pass the same budget buys more RL steps: 200 * 5/4 = 250.
    assert plan_budget(TABLE3_TOTAL, 1, BudgetSettings(reference=False))["rl_steps"] == 250


def test_training_flops_are_6PT():
    assert training_flops(100, 7) == 4200
    assert training_flops(103_201_536, TABLE3_TOTAL) == 6 * 103_201_536 * TABLE3_TOTAL


def test_generated_variant_counts_actual_tokens():
    # Rollouts that use 1,024 of the 2,048 allowed tokens cost half: twice the RL steps.
    row = plan_budget(TABLE3_TOTAL, 1, BudgetSettings(mean_sequence_tokens=1024))
    assert row["rl_steps_generated"] == 400
    assert row["rl_token_equivalents_per_step_generated"] == 20_971_520 // 2


def test_rounded_labels_resolve_to_round_step_counts(capsys):
    assert parse_total("4.2B") == (TABLE3_TOTAL, "4.2B")
    assert parse_total("8.4B") == (16_000 * 524_288, "8.4B")
    assert parse_total("4194304000") == (TABLE3_TOTAL, None)
    assert parse_total("4_194_304_000") == (TABLE3_TOTAL, None)
    assert parse_total("4.2B", exact_label=True) == (4_200_000_000, "4.2B")
    assert parse_total("4.2e9") == (4_200_000_000, None)
    row = budget_json(capsys, "--total", "4.2B", "--rl-share", "0.2")
    assert (row["mid_steps"], row["rl_steps"], row["total_label"]) == (6400, 40, "4.2B")


def test_flags_change_the_defaults(capsys):
    row = budget_json(capsys, "--total", "4194304000", "--rl-share", "0.5", "--prompts", "512", "--rollouts", "8",
                      "--seq-len", "1024", "--mid-tokens-per-step", "1048576", "--params", "1000")
    assert row["mid_steps"] == 2000
    # 0.5 * 4,194,304,000 / (5/3 * 512 * 8 * 1024) = 300
    assert row["rl_steps"] == 300
    assert row["flops_total"] == 6 * 1000 * TABLE3_TOTAL


def test_several_shares_print_a_list(capsys):
    rows = budget_json(capsys, "--total", "4.2B", "--rl-share", "0,0.2,1")
    assert [(r["mid_steps"], r["rl_steps"]) for r in rows] == [(8000, 0), (6400, 40), (0, 200)]


def test_text_table(capsys):
    assert main(["budget", "--total", "4.2B", "--rl-share", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "4,194,304,000" in out and "6,400" in out and "40" in out


@pytest.mark.parametrize(
    "args, words",
    [
        (["--total", "lots"], "--total"),
        (["--total", "0"], "--total"),
        (["--total", "1.5"], "--total"),
        (["--total", "4.2B", "--rl-share", "1.5"], "--rl-share"),
        (["--total", "4.2B", "--rl-share", "x"], "--rl-share"),
        (["--total", "4.2B", "--rollouts", "0"], "rollouts"),
        (["--total", "4.2B", "--model", "huge"], "--model"),
        (["--total", "1K"], "--total"),  # no whole number of 512K steps rounds to 1K
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, args, words):
    assert main(["budget", *args]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


def test_plan_budget_rejects_bad_values():
    with pytest.raises(UserError, match="rl-share"):
        plan_budget(TABLE3_TOTAL, -0.1)
    with pytest.raises(UserError, match="prompts"):
        plan_budget(TABLE3_TOTAL, 0.2, BudgetSettings(prompts=0))


# -- the RL recipes ------------------------------------------------------------------------------------


def test_rl_recipes_validate_and_the_paper_one_is_the_paper():
    from interplay.budget import rl_token_equivalents
    from interplay.lm.configtools import CONFIG_DIR
    from interplay.rl.config import load_rl_config

    names = sorted(p.name for p in CONFIG_DIR.glob("rl-*.yaml"))
    assert {"rl-tiny.yaml", "rl-cpu.yaml", "rl-paper.yaml"} <= set(names)
    for name in names:
        load_rl_config(CONFIG_DIR / name, [])
    cfg = load_rl_config(CONFIG_DIR / "rl-paper.yaml", [])
    r, g, o = cfg.rollout, cfg.grpo, cfg.optim
    assert (r.prompts, r.rollouts, r.temperature, r.max_new_tokens, r.max_prompt_tokens) == (1024, 6, 1.0, 1024, 1024)
    assert (g.mini_batch_prompts, g.kl_coef, g.clip_low, g.clip_high, g.epochs) == (256, 1e-3, 0.2, 0.2, 1)
    assert (o.lr, o.warmup_steps, o.grad_clip) == (1e-6, 0, 1.0)
    # 200 steps at the paper's settings cost exactly the 4.2B budget.
    per_step = rl_token_equivalents(r.prompts, r.rollouts, r.max_prompt_tokens + r.max_new_tokens)
    assert per_step * cfg.train.steps == TABLE3_TOTAL
