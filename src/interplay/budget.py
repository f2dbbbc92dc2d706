"""Compute accounting: training FLOPs, RL token equivalents, and a mid-training / RL budget split.

    interplay budget --total 4194304000 --rl-share 0.2 --json      -> mid_steps 6400, rl_steps 40
    interplay budget --total 4.2B --rl-share 0,0.2,0.5,0.8,1        (the paper's Table 3 row)

Units. Training costs `6·P` FLOPs per token (forward 2P + backward 4P), so a budget is counted in
*training-token equivalents*: T tokens of mid-training cost 6·P·T FLOPs. One RL token costs

    2P (rollout: generating it)  +  2P (reference model's log-prob, for the KL loss)  +  6P (update)
    = 10P = (5/3) · 6P,

hence `T_RL = (5/3) · N · r · L_total` token equivalents per RL step (N prompts, r rollouts each,
L_total = prompt + response length). Without a KL term there is no reference pass: 8P = (4/3)·6P.
The paper counts L_total as the maximum prompt + response length (1024 + 1024 = 2048); the
`generated` variant counts the tokens each rollout actually had (prompt + completion).

The paper's defaults follow from its Table 3: the "4.2B" budget is 8,000 mid-training steps of
512K (524,288) tokens = 4,194,304,000 tokens, and all-RL is 200 steps of 1,024 prompts, so one RL
step is 20,971,520 token equivalents = (5/3)·1024·r·L_total, i.e. r·L_total = 12,288 = 6 × 2,048:
six rollouts per prompt and L_total = 2,048 (the reference code's max_prompt_length 1024 +
max_response_length 1024), with the reference pass counted.

Pure Python (no torch): fractions keep every count exact.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from interplay.errors import UserError

# The paper's settings (see the module docstring for how Table 3 pins them down).
PAPER_MID_TOKENS_PER_STEP = 524_288  # 512K tokens per mid-training step
PAPER_PROMPTS = 1024  # N prompts per RL step
PAPER_ROLLOUTS = 6  # r rollouts per prompt
PAPER_PROMPT_TOKENS = 1024  # max prompt length
PAPER_RESPONSE_TOKENS = 1024  # max response length
PAPER_SEQ_LEN = PAPER_PROMPT_TOKENS + PAPER_RESPONSE_TOKENS  # L_total = 2048

_UNITS = {"K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9, "T": 10**12}
_LABEL = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMBGT])\s*", re.IGNORECASE)


def training_flops(params: int, tokens: int | Fraction) -> Fraction:
    """FLOPs of training a P-parameter model on T tokens: 6·P·T."""
    return 6 * Fraction(params) * Fraction(tokens)


def rl_factor(reference: bool = True) -> Fraction:
    """Cost of one RL token in training-token equivalents: 5/3 with the reference pass, 4/3 without."""
    return Fraction(5, 3) if reference else Fraction(4, 3)


def rl_token_equivalents(prompts: int, rollouts: int, seq_len: int, reference: bool = True) -> Fraction:
    """T_RL of one RL step: factor · N · r · L_total (L_total = max prompt + response length)."""
    return rl_factor(reference) * prompts * rollouts * seq_len


def rl_generated_token_equivalents(sequence_tokens: int, reference: bool = True) -> Fraction:
    """T_RL counting the tokens actually processed: factor · Σ (prompt + completion tokens) over rollouts."""
    return rl_factor(reference) * sequence_tokens


@dataclass(frozen=True)
class BudgetSettings:
    mid_tokens_per_step: int = PAPER_MID_TOKENS_PER_STEP
    prompts: int = PAPER_PROMPTS
    rollouts: int = PAPER_ROLLOUTS
    seq_len: int = PAPER_SEQ_LEN  # L_total
    reference: bool = True  # count the reference model's pass (KL coefficient > 0)
    mean_sequence_tokens: float | None = None  # for the `generated` variant: mean prompt+completion tokens
    params: int | None = None  # for FLOPs

    def validate(self) -> BudgetSettings:
        for name in ("mid_tokens_per_step", "prompts", "rollouts", "seq_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if self.mean_sequence_tokens is not None and not self.mean_sequence_tokens > 0:
            raise UserError(f"mean-tokens must be positive, got {self.mean_sequence_tokens!r}")
        if self.params is not None and self.params < 1:
            raise UserError(f"params must be positive, got {self.params!r}")
        return self

    @property
    def rl_step_token_equivalents(self) -> Fraction:
        return rl_token_equivalents(self.prompts, self.rollouts, self.seq_len, self.reference)


def _round_half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


def _number(x: Fraction) -> int | float:
    return int(x) if x.denominator == 1 else float(x)


def plan_budget(total_tokens: int, rl_share: float | Fraction, settings: BudgetSettings | None = None) -> dict[str, Any]:
    """Split `total_tokens` (training-token equivalents) into mid-training steps and RL steps.

    A share β goes to RL: mid-training gets (1 − β)·T tokens = that / tokens-per-step steps, RL gets
    β·T = that / T_RL-per-step steps. Step counts are rounded to the nearest integer (exact values
    are reported too); the paper's budgets divide exactly.
    """
    s = (settings or BudgetSettings()).validate()
    beta = Fraction(rl_share).limit_denominator(10**9) if isinstance(rl_share, float) else Fraction(rl_share)
    if not 0 <= beta <= 1:
        raise UserError(f"rl-share must be in [0, 1], got {float(beta)}")
    if total_tokens < 1:
        raise UserError(f"total must be positive, got {total_tokens}")
    total = Fraction(total_tokens)
    mid_tokens = (1 - beta) * total
    rl_tokens = beta * total
    per_rl_step = s.rl_step_token_equivalents
    mid_steps = mid_tokens / s.mid_tokens_per_step
    rl_steps = rl_tokens / per_rl_step
    out: dict[str, Any] = {
        "total_tokens": total_tokens,
        "rl_share": float(beta),
        "mid_tokens": _number(mid_tokens),
        "mid_steps": _round_half_up(mid_steps),
        "mid_steps_exact": _number(mid_steps),
        "mid_tokens_per_step": s.mid_tokens_per_step,
        "rl_token_equivalents": _number(rl_tokens),
        "rl_steps": _round_half_up(rl_steps),
        "rl_steps_exact": _number(rl_steps),
        "rl_token_equivalents_per_step": _number(per_rl_step),
        "prompts": s.prompts,
        "rollouts": s.rollouts,
        "seq_len": s.seq_len,
        "reference_pass": s.reference,
        "rl_factor": str(rl_factor(s.reference)),
    }
    if s.mean_sequence_tokens is not None:
        per_step_generated = rl_generated_token_equivalents(1, s.reference) * s.prompts * s.rollouts * Fraction(
            s.mean_sequence_tokens
        ).limit_denominator(10**6)
        out["rl_token_equivalents_per_step_generated"] = _number(per_step_generated)
        out["rl_steps_generated"] = _round_half_up(rl_tokens / per_step_generated)
    if s.params is not None:
        out["params"] = s.params
        out["flops_total"] = _number(training_flops(s.params, total))
        out["flops_mid"] = _number(training_flops(s.params, mid_tokens))
        out["flops_rl"] = _number(training_flops(s.params, rl_tokens))
    return out


# -- totals: exact counts or the paper's rounded labels ----------------------------------------------


def parse_total(text: str, mid_tokens_per_step: int = PAPER_MID_TOKENS_PER_STEP, exact_label: bool = False) -> tuple[int, str | None]:
    """(tokens, label or None) from `4194304000`, `4_194_304_000`, `4.2e9`, or a rounded label `4.2B`.

    The paper's budget labels are rounded: "4.2B" is 8,000 steps × 524,288 = 4,194,304,000 tokens.
    A label is read the same way: among the whole numbers of mid-training steps whose token count
    rounds to the label (at the label's precision), the roundest (most trailing zeros; then the
    closest). With `exact_label`, 4.2B is taken literally as 4,200,000,000.
    """
    raw = text.strip()
    m = _LABEL.fullmatch(raw)
    if m is None:
        try:
            value = Fraction(raw.replace("_", ""))
        except (ValueError, ZeroDivisionError):
            raise UserError(f"--total: expected a token count like 4194304000 or a label like 4.2B, got {text!r}") from None
        if value.denominator != 1 or value < 1:
            raise UserError(f"--total must be a positive whole number of tokens, got {text!r}")
        return int(value), None
    mantissa, unit = m.group(1), _UNITS[m.group(2).upper()]
    label = f"{mantissa}{m.group(2).upper()}"
    nominal = Fraction(mantissa) * unit
    if nominal < 1:
        raise UserError(f"--total must be positive, got {text!r}")
    if exact_label:
        if nominal.denominator != 1:
            raise UserError(f"--total {text!r} is not a whole number of tokens")
        return int(nominal), label
    decimals = len(mantissa.partition(".")[2])
    half = Fraction(unit, 10**decimals) / 2
    lo, hi = nominal - half, nominal + half  # tokens that display as the label: [lo, hi)
    first = math.ceil(lo / mid_tokens_per_step)
    last = math.ceil(hi / mid_tokens_per_step) - 1
    if first < 1:
        first = 1
    if last < first:
        raise UserError(
            f"--total {text!r}: no whole number of {mid_tokens_per_step:,}-token mid-training steps rounds to "
            f"{label}; give an exact token count"
        )
    target = nominal / mid_tokens_per_step
    steps = max(range(first, last + 1), key=lambda n: (_trailing_zeros(n), -abs(n - target)))
    return steps * mid_tokens_per_step, label


def _trailing_zeros(n: int) -> int:
    count = 0
    while n and n % 10 == 0:
        n //= 10
        count += 1
    return count


def _parse_shares(text: str) -> list[Fraction]:
    shares = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = Fraction(part)
        except (ValueError, ZeroDivisionError):
            raise UserError(f"--rl-share: expected numbers in [0, 1] separated by commas, got {part!r}") from None
        if not 0 <= value <= 1:
            raise UserError(f"--rl-share must be in [0, 1], got {part}")
        shares.append(value)
    if not shares:
        raise UserError("--rl-share: give at least one share")
    return shares


def _model_params(preset: str, vocab_size: int) -> int:
    from interplay.lm.presets import load_preset, parameter_counts

    return parameter_counts(load_preset(preset, "--model"), vocab_size)["total"]


# -- the command --------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--total", required=True, metavar="TOKENS",
                        help="total budget in training-token equivalents: 4194304000, or a rounded label like 4.2B")
    parser.add_argument("--rl-share", default="0,0.2,0.5,0.8,1", metavar="BETA[,BETA...]",
                        help="fraction of the budget spent on RL (one value, or several for a table)")
    parser.add_argument("--json", action="store_true", help="print JSON (an object for one share, a list for several)")
    parser.add_argument("--exact-label", action="store_true", help="take a label like 4.2B literally (4,200,000,000)")
    parser.add_argument("--mid-tokens-per-step", type=int, default=PAPER_MID_TOKENS_PER_STEP,
                        help=f"tokens per mid-training step (default {PAPER_MID_TOKENS_PER_STEP:,} = 512K)")
    parser.add_argument("--prompts", type=int, default=PAPER_PROMPTS, help=f"N, prompts per RL step (default {PAPER_PROMPTS})")
    parser.add_argument("--rollouts", type=int, default=PAPER_ROLLOUTS, help=f"r, rollouts per prompt (default {PAPER_ROLLOUTS})")
    parser.add_argument("--seq-len", type=int, default=PAPER_SEQ_LEN,
                        help=f"L_total, max prompt + response tokens (default {PAPER_SEQ_LEN} = 1024 + 1024)")
    parser.add_argument("--no-reference", action="store_true",
                        help="no KL term, so no reference pass: 4/3 instead of 5/3 per RL token")
    parser.add_argument("--mean-tokens", type=float, default=None,
                        help="mean prompt + completion tokens actually used per rollout (adds the `generated` variant)")
    parser.add_argument("--params", type=int, default=None, help="model parameters P, for FLOPs (default: from --model)")
    parser.add_argument("--model", default="paper", help="model preset for P when --params is not given (default paper)")
    parser.add_argument("--vocab-size", type=int, default=2240, help="vocabulary for --model's parameter count (default 2240)")


def run(args: argparse.Namespace) -> int:
    total, label = parse_total(args.total, args.mid_tokens_per_step, args.exact_label)
    params = args.params if args.params is not None else _model_params(args.model, args.vocab_size)
    settings = BudgetSettings(
        mid_tokens_per_step=args.mid_tokens_per_step,
        prompts=args.prompts,
        rollouts=args.rollouts,
        seq_len=args.seq_len,
        reference=not args.no_reference,
        mean_sequence_tokens=args.mean_tokens,
        params=params,
    )
    rows = []
    for share in _parse_shares(args.rl_share):
        row = plan_budget(total, share, settings)
        row["total_label"] = label
        rows.append(row)
    if args.json:
        print(json.dumps(rows[0] if len(rows) == 1 else rows, indent=1))
        return 0
    first = rows[0]
    shown = f"{label} = {total:,}" if label else f"{total:,}"
    print(f"budget {shown} training-token equivalents; P = {params:,} parameters; 6·P·T = {first['flops_total']:.4g} FLOPs")
    print(f"mid-training step = {first['mid_tokens_per_step']:,} tokens; RL step = {first['rl_factor']} · "
          f"{first['prompts']} prompts · {first['rollouts']} rollouts · {first['seq_len']} tokens = "
          f"{first['rl_token_equivalents_per_step']:,} token equivalents")
    extra = "rl_steps_generated" in first
    header = f"{'rl_share':>8} {'mid_steps':>10} {'rl_steps':>9}" + (f" {'rl_steps_generated':>19}" if extra else "")
    print(header)
    for row in rows:
        line = f"{row['rl_share']:>8g} {row['mid_steps']:>10,} {row['rl_steps']:>9,}"
        if extra:
            line += f" {row['rl_steps_generated']:>19,}"
        print(line)
    return 0
