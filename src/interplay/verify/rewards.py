"""Rewards, selected by name and parameters (e.g. from an RL config), all computed from a Verdict.

| name              | params (default)                          | value                                                                   | extra nodes cost? | wrong answer gives |
|-------------------|-------------------------------------------|-------------------------------------------------------------------------|-------------------|--------------------|
| `outcome`         | -                                         | R_out = 1 if the answer is right else 0                                  | no                | 0                  |
| `process`         | -                                         | R_pv = process accuracy = right gold nodes / gold nodes (the paper's)    | no                | R_pv (answer ignored) |
| `process_penalty` | -                                         | max(0, 1 - (value + dependency + missing errors + min(extra, N) + [answer wrong]) / N), N = gold nodes (the reference code's form) | yes | at most 1 - 1/N |
| `composite`       | alpha (0.2), process ("process")          | alpha * R_out + (1 - alpha) * R_pv, R_pv = the named process reward (the paper's) | only with process="process_penalty" | (1 - alpha) * R_pv |
| `gated_composite` | answer_weight (0.2), step_weight (0.8), zero_on_mismatch (False) | 0 unless the answer is right; else (aw * 1 + sw * process_penalty) / (aw + sw), clipped to [0, 1]; with zero_on_mismatch, also 0 when any penalty term is non-zero (the reference code's "strict", which extra nodes trip) | yes | 0 |
| `strict`          | -                                         | R_out if the process is fully correct (process_correct) else 0 (the paper's strict) | no     | 0                  |

Notes:
- A node that is wrong in both its value and its parents counts twice in `process_penalty`, as in
  the reference code; a name defined twice counts as an extra node (the reference keeps only the
  last definition and so never charges it).
- `strict` allows extra nodes (process-correct does); the reference "strict"
  (`gated_composite` with zero_on_mismatch=True) does not.
- The reference code's default weights are answer_weight 0.2 / step_weight 0.8, hence alpha 0.2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from interplay.errors import UserError
from interplay.verify.compare import Verdict


def outcome_reward(v: Verdict) -> float:
    return 1.0 if v.outcome_correct else 0.0


def process_reward(v: Verdict) -> float:
    return v.process_accuracy


def process_penalty_reward(v: Verdict) -> float:
    e = v.errors
    n = max(v.n_gold, 1)
    penalty = len(e.value) + len(e.dependency) + len(e.missing) + min(len(e.extra), n) + (not v.outcome_correct)
    return max(0.0, 1.0 - penalty / n)


def strict_reward(v: Verdict) -> float:
    return 1.0 if v.process_correct else 0.0  # process_correct already requires the right answer


_PROCESS = {"process": process_reward, "process_penalty": process_penalty_reward}


def _composite(alpha: float = 0.2, process: str = "process") -> Callable[[Verdict], float]:
    alpha = _number("alpha", alpha, 0.0, 1.0)
    if process not in _PROCESS:
        raise UserError(f"reward parameter 'process' must be one of {sorted(_PROCESS)}, got {process!r}")
    pv = _PROCESS[process]

    def composite(v: Verdict) -> float:
        return alpha * outcome_reward(v) + (1.0 - alpha) * pv(v)

    return composite


def _gated_composite(
    answer_weight: float = 0.2, step_weight: float = 0.8, zero_on_mismatch: bool = False
) -> Callable[[Verdict], float]:
    aw = _number("answer_weight", answer_weight, 0.0, None)
    sw = _number("step_weight", step_weight, 0.0, None)
    if aw + sw <= 0:
        raise UserError("reward parameters 'answer_weight' + 'step_weight' must be > 0")
    if not isinstance(zero_on_mismatch, bool):
        raise UserError(f"reward parameter 'zero_on_mismatch' must be true or false, got {zero_on_mismatch!r}")

    def gated_composite(v: Verdict) -> float:
        if not v.outcome_correct:
            return 0.0
        pv = process_penalty_reward(v)
        if zero_on_mismatch and pv < 1.0:
            return 0.0
        return min(1.0, max(0.0, (aw + sw * pv) / (aw + sw)))

    return gated_composite


def _number(name: str, value: Any, lo: float | None, hi: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"reward parameter '{name}' must be a number, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise UserError(f"reward parameter '{name}' must be in {bounds}, got {value}")
    return float(value)


def _fixed(fn: Callable[[Verdict], float]) -> Callable[..., Callable[[Verdict], float]]:
    def factory() -> Callable[[Verdict], float]:
        return fn

    return factory


# name -> factory(**params) -> fn(verdict) -> float
REWARDS: dict[str, Callable[..., Callable[[Verdict], float]]] = {
    "outcome": _fixed(outcome_reward),
    "process": _fixed(process_reward),
    "process_penalty": _fixed(process_penalty_reward),
    "composite": _composite,
    "gated_composite": _gated_composite,
    "strict": _fixed(strict_reward),
}


@dataclass(frozen=True)
class Reward:
    """A named, parameterised reward: call it with a Verdict to get a float."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    fn: Callable[[Verdict], float] = field(default=outcome_reward, repr=False, compare=False)

    def __call__(self, verdict: Verdict) -> float:
        return self.fn(verdict)

    @property
    def needs_process(self) -> bool:
        """False only for the outcome reward, which needs no gold graph."""
        return self.name != "outcome"


def get_reward(name: str, **params: Any) -> Reward:
    """The reward called `name` with `params`; UserError names the bad name or parameter."""
    factory = REWARDS.get(name)
    if factory is None:
        raise UserError(f"unknown reward {name!r}; choose one of {', '.join(REWARDS)}")
    try:
        fn = factory(**params)
    except TypeError:
        import inspect

        allowed = list(inspect.signature(factory).parameters)
        unknown = [p for p in params if p not in allowed]
        raise UserError(
            f"reward {name!r} got unknown parameter(s) {unknown}; it takes {allowed or 'none'}"
        ) from None
    return Reward(name, dict(params), fn)
