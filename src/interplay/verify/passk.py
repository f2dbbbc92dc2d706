"""pass@k: the unbiased estimator 1 - C(n-c, k) / C(n, k), and its aggregation.

Computed with exact integer binomials and one correctly rounded division, so it is exact to the
last bit for any n (the 1024 samples of pass@1024 included), unlike products of floats.

With k > n the estimator is undefined: we warn and use k = n (the best one can say from n samples).
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from interplay.errors import UserError

# The paper's op ranges (DESIGN.md): in-distribution, edge of competence, far beyond.
DEFAULT_OP_RANGES: dict[str, tuple[int, int]] = {"ID": (2, 10), "OOD-edge": (11, 14), "OOD-hard": (15, 20)}


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"pass@k: '{name}' must be an integer >= {minimum}, got {value!r}")
    return value


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n (c correct) is correct."""
    _check_int("n", n, 1)
    _check_int("c", c, 0)
    _check_int("k", k, 1)
    if c > n:
        raise UserError(f"pass@k: 'c' ({c}) cannot exceed 'n' ({n})")
    if k > n:
        warnings.warn(f"pass@{k} asked with only n={n} samples; reporting pass@{n}", stacklevel=2)
        k = n
    if n - c < k:
        return 1.0
    total = math.comb(n, k)
    return (total - math.comb(n - c, k)) / total  # exact ints, one rounding


@dataclass(frozen=True, slots=True)
class ProblemCounts:
    """n samples of one problem, c of them outcome-correct and c_process process-correct."""

    id: str
    op: int
    context: str
    mode: str
    n: int
    c_outcome: int
    c_process: int


def count_per_problem(rows: Iterable[Mapping[str, Any]]) -> list[ProblemCounts]:
    """Group per-sample rows (id, op, context, mode, outcome_correct, process_correct) by problem id."""
    groups: dict[str, list[Any]] = {}
    for row in rows:
        key = str(row["id"])
        g = groups.get(key)
        if g is None:
            g = groups[key] = [row.get("op"), row.get("context"), row.get("mode"), 0, 0, 0]
        g[3] += 1
        g[4] += bool(row["outcome_correct"])
        g[5] += bool(row["process_correct"])
    return [ProblemCounts(k, g[0], g[1], g[2], g[3], g[4], g[5]) for k, g in groups.items()]


def op_range_of(op: int | None, op_ranges: Mapping[str, tuple[int, int]]) -> str | None:
    if op is None:
        return None
    for name, (lo, hi) in op_ranges.items():
        if lo <= op <= hi:
            return name
    return None


def aggregate_pass_at_k(
    problems: Iterable[ProblemCounts],
    ks: Sequence[int],
    op_ranges: Mapping[str, tuple[int, int]] = DEFAULT_OP_RANGES,
) -> list[dict[str, Any]]:
    """Mean pass@k over problems, per op, context, mode, op range and overall.

    Returns rows {"group", "key", "metric" ("outcome"|"process"), "k", "pass_at_k", "problems", "se"} (se:
    the standard error of pass_at_k over the group's problems, None for a single problem),
    sorted by group then key then metric then k. Warns once when some k exceeds some problem's n.
    """
    problems = list(problems)
    ks = sorted({_check_int("k", k, 1) for k in ks})
    if not ks:
        raise UserError("pass@k: give at least one k")
    too_big = [(k, p.n) for p in problems for k in ks if k > p.n]
    if too_big:
        k, n = too_big[0]
        warnings.warn(
            f"pass@{k} asked but some problems have only n={n} samples; using k=n there", stacklevel=2
        )
    # pass@k per problem, computed once; each group averages them.
    per: list[tuple[ProblemCounts, dict[tuple[str, int], float]]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # already warned once above
        for p in problems:
            scores = {}
            for k in ks:
                scores[("outcome", k)] = pass_at_k(p.n, p.c_outcome, k)
                scores[("process", k)] = pass_at_k(p.n, p.c_process, k)
            per.append((p, scores))
    buckets: dict[tuple[str, str], list[dict[tuple[str, int], float]]] = defaultdict(list)
    for p, scores in per:
        buckets[("overall", "all")].append(scores)
        if p.op is not None:
            buckets[("op", str(p.op))].append(scores)
        if p.context is not None:
            buckets[("context", str(p.context))].append(scores)
        if p.mode is not None:
            buckets[("mode", str(p.mode))].append(scores)
        r = op_range_of(p.op, op_ranges)
        if r is not None:
            buckets[("op_range", r)].append(scores)
    order = {"overall": 0, "op_range": 1, "op": 2, "context": 3, "mode": 4}

    def sort_key(gk: tuple[str, str]):
        group, key = gk
        return (order[group], int(key) if group == "op" and key.lstrip("-").isdigit() else 0, key)

    out = []
    for gk in sorted(buckets, key=sort_key):
        rows = buckets[gk]
        for metric in ("outcome", "process"):
            for k in ks:
                values = [s[(metric, k)] for s in rows]
                out.append(
                    {
                        "group": gk[0],
                        "key": gk[1],
                        "metric": metric,
                        "k": k,
                        "pass_at_k": math.fsum(values) / len(values),
                        "problems": len(values),
                        "se": standard_error(values),
                    }
                )
    return out


def standard_error(values: Sequence[float]) -> float | None:
    """Standard error of a mean over problems: the sample standard deviation of the per-problem values over
    sqrt(problems), None under two problems. For pass@k it counts the draw of the problems and of their n
    completions; two models on the same problems compare more tightly with `paired_difference`."""
    if len(values) < 2:
        return None
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values))


def paired_difference(
    a: Iterable[ProblemCounts], b: Iterable[ProblemCounts], metric: str, k: int, ops: tuple[int, int] | None = None
) -> tuple[float, float | None, int] | None:
    """Mean pass@k of `a` minus `b` over the problems both evaluated (ops lo-hi only, when given), with its
    standard error: (difference, s.e., problems), s.e. None under two problems, None without a shared problem.

    Two models evaluated on the same problems differ problem by problem; the spread of those per-problem
    differences, over sqrt(problems), is the paired standard error of the mean difference. It counts both
    the draw of the problems and the draw of each problem's n completions, and is usually far smaller than
    two unpaired errors, since a problem's difficulty largely cancels in its own difference.
    """
    if metric not in ("outcome", "process"):
        raise UserError(f"pass@k: metric must be 'outcome' or 'process', got {metric!r}")
    field = f"c_{metric}"

    def values(problems: Iterable[ProblemCounts]) -> dict[str, float]:
        return {p.id: pass_at_k(p.n, getattr(p, field), k) for p in problems
                if ops is None or (p.op is not None and ops[0] <= p.op <= ops[1])}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # k > n uses k = n, as everywhere else
        return paired_mean(values(a), values(b))


def paired_mean(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[float, float | None, int] | None:
    """Mean of a[id] - b[id] over the problem ids both hold, with its standard error (the paired s.e.):
    (difference, s.e., problems); s.e. None under two problems, None without a shared problem."""
    diffs = [value - b[pid] for pid, value in a.items() if pid in b]
    if not diffs:
        return None
    return math.fsum(diffs) / len(diffs), standard_error(diffs), len(diffs)


def paired_difference_over_ops(
    a: Iterable[ProblemCounts], b: Iterable[ProblemCounts], metric: str, k: int, ops: Iterable[int]
) -> tuple[float, float | None] | None:
    """The mean over `ops` of each op's paired pass@k difference (a - b), with its standard error: the s.e.
    of a mean of per-op means, sqrt(sum of the ops' squared s.e.) / ops. For reports that average by op
    rather than by problem; ops neither evaluated are left out, None when none is left."""
    a, b = list(a), list(b)
    per_op = [got for op in ops if (got := paired_difference(a, b, metric, k, (op, op))) is not None]
    if not per_op:
        return None
    mean = math.fsum(d for d, _, _ in per_op) / len(per_op)
    if any(se is None for _, se, _ in per_op):
        return mean, None
    return mean, math.sqrt(math.fsum(se * se for _, se, _ in per_op)) / len(per_op)
