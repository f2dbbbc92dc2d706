"""The verifier: one reader of solution traces for evaluation and for RL rewards.

    from interplay.verify import parse_completion, verify, load_gold, get_reward, pass_at_k

    v = verify(record, completion)          # Verdict: outcome/process correctness, error taxonomy
    gold = load_gold(record)                # reuse when scoring many completions of one problem
    v = verify(gold, completion)
    r = get_reward("composite", alpha=0.2)(v)
    pass_at_k(n=128, c=5, k=8)
    aggregate_pass_at_k(count_per_problem(rows), ks=[1, 8, 128])

Pure Python (no torch), so reward workers and `interplay verify` start instantly.
"""

from interplay.verify.compare import Errors, Verdict, compare, verify
from interplay.verify.gold import Gold, GoldNode, load_gold
from interplay.verify.parse import Node, Parsed, parse_completion
from interplay.verify.passk import (
    DEFAULT_OP_RANGES,
    ProblemCounts,
    aggregate_pass_at_k,
    count_per_problem,
    pass_at_k,
)
from interplay.verify.rewards import REWARDS, Reward, get_reward

__all__ = [
    "DEFAULT_OP_RANGES",
    "Errors",
    "Gold",
    "GoldNode",
    "Node",
    "Parsed",
    "ProblemCounts",
    "REWARDS",
    "Reward",
    "Verdict",
    "aggregate_pass_at_k",
    "compare",
    "count_per_problem",
    "get_reward",
    "load_gold",
    "parse_completion",
    "pass_at_k",
    "verify",
]
