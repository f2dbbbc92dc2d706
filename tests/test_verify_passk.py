"""pass@k: equal to brute-force enumeration, exact at n = 1024, aggregated per group."""

from __future__ import annotations

import itertools
import math
import warnings
from fractions import Fraction

import pytest

from interplay.errors import UserError
from interplay.verify import aggregate_pass_at_k, count_per_problem, pass_at_k
from interplay.verify.passk import ProblemCounts


def brute_force(n: int, c: int, k: int) -> Fraction:
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return Fraction(sum(any(samples[i] for i in s) for s in subsets), len(subsets))


def test_matches_brute_force_enumeration():
    for n in range(1, 9):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == float(brute_force(n, c, k)), (n, c, k)


@pytest.mark.parametrize("c", [0, 1, 2, 5, 100, 512, 1000, 1023, 1024])
@pytest.mark.parametrize("k", [1, 2, 8, 64, 128, 512, 1024])
def test_exact_at_n_1024(c, k):
    n = 1024
    exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
    got = pass_at_k(n, c, k)
    assert got == float(exact)
    assert 0.0 <= got <= 1.0


def test_pass_at_1_is_the_success_rate_and_grows_with_k():
    assert pass_at_k(128, 5, 1) == 5 / 128
    values = [pass_at_k(128, 5, k) for k in (1, 2, 4, 8, 16, 32, 64, 128)]
    assert values == sorted(values) and values[-1] == 1.0


def test_k_above_n_warns_and_uses_n():
    with pytest.warns(UserWarning, match="pass@8"):
        assert pass_at_k(4, 1, 8) == 1.0
    with pytest.warns(UserWarning):
        assert pass_at_k(4, 0, 8) == 0.0


@pytest.mark.parametrize("args", [(0, 0, 1), (4, 5, 1), (4, 1, 0), (4, -1, 1), (4.0, 1, 1), (True, 1, 1)])
def test_bad_arguments_raise_user_errors(args):
    with pytest.raises(UserError):
        pass_at_k(*args)


def test_aggregation_per_op_context_range_and_overall():
    rows = []
    # problem p1: op 3 zoo, 4 samples, 2 outcome-correct, 1 process-correct
    for o, p in [(1, 1), (1, 0), (0, 0), (0, 0)]:
        rows.append({"id": "p1", "op": 3, "context": "zoo", "mode": "forward", "outcome_correct": o, "process_correct": p})
    # problem p2: op 12 school, 4 samples, none correct
    for _ in range(4):
        rows.append({"id": "p2", "op": 12, "context": "school", "mode": "reverse", "outcome_correct": 0, "process_correct": 0})
    problems = count_per_problem(rows)
    assert problems == [
        ProblemCounts("p1", 3, "zoo", "forward", 4, 2, 1),
        ProblemCounts("p2", 12, "school", "reverse", 4, 0, 0),
    ]
    table = aggregate_pass_at_k(problems, ks=[1, 2])
    get = {(r["group"], r["key"], r["metric"], r["k"]): (r["pass_at_k"], r["problems"]) for r in table}
    p1_o2 = pass_at_k(4, 2, 2)
    assert get[("overall", "all", "outcome", 1)] == (pytest.approx(0.25), 2)
    assert get[("overall", "all", "outcome", 2)] == (pytest.approx(p1_o2 / 2), 2)
    assert get[("op", "3", "process", 2)] == (pytest.approx(0.5), 1)
    assert get[("op_range", "ID", "outcome", 1)] == (pytest.approx(0.5), 1)
    assert get[("op_range", "OOD-edge", "outcome", 1)] == (0.0, 1)
    assert ("op_range", "OOD-hard", "outcome", 1) not in get
    assert get[("context", "school", "outcome", 2)] == (0.0, 1)
    assert get[("mode", "forward", "process", 1)] == (pytest.approx(0.25), 1)
    groups = [r["group"] for r in table]
    assert groups.index("overall") < groups.index("op_range") < groups.index("op")
    # each row's standard error over its problems: outcome pass@1 is 0.5 and 0 -> sd 0.354 / sqrt(2) = 0.25;
    # a group of one problem has none
    se = {(r["group"], r["key"], r["metric"], r["k"]): r["se"] for r in table}
    assert se[("overall", "all", "outcome", 1)] == pytest.approx(0.25)
    assert se[("overall", "all", "process", 1)] == pytest.approx(0.125)  # 0.25 and 0: sd 0.177 / sqrt(2)
    assert se[("op", "3", "outcome", 1)] is None


def test_aggregation_warns_once_when_k_exceeds_some_n():
    problems = [ProblemCounts(str(i), 2, "zoo", "forward", 2, 1, 1) for i in range(5)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = aggregate_pass_at_k(problems, ks=[1, 4])
    assert len(caught) == 1 and "pass@4" in str(caught[0].message)
    assert [r["pass_at_k"] for r in table if r["group"] == "overall" and r["metric"] == "outcome"] == [0.5, 1.0]


def test_custom_op_ranges():
    problems = [ProblemCounts("a", 5, "zoo", "forward", 2, 2, 2)]
    table = aggregate_pass_at_k(problems, ks=[1], op_ranges={"easy": (1, 5)})
    assert {r["key"] for r in table if r["group"] == "op_range"} == {"easy"}


def test_paired_difference_is_the_mean_per_problem_difference_with_its_standard_error():
    from interplay.verify.passk import ProblemCounts, paired_difference

    def counts(cs, ops=(2, 2, 3, 9)):
        return [ProblemCounts(f"p{i}", op, "school", "forward", 4, c, c) for i, (c, op) in enumerate(zip(cs, ops))]

    a, b = counts([4, 2, 1, 0]), counts([2, 2, 0, 0])
    # pass@1 per problem: a 1, .5, .25, 0; b .5, .5, 0, 0 -> differences .5, 0, .25, 0
    diff, se, n = paired_difference(a, b, "process", 1)
    d = [0.5, 0.0, 0.25, 0.0]
    mean = sum(d) / 4
    assert (diff, n) == (pytest.approx(mean), 4)
    assert se == pytest.approx((sum((x - mean) ** 2 for x in d) / 3 / 4) ** 0.5)
    # op 2-3 only, and pass@2 = 1 - C(n-c, 2)/C(4, 2): a 1, 5/6, 1/2; b 5/6, 5/6, 0
    diff, _, n = paired_difference(a, b, "outcome", 2, ops=(2, 3))
    assert (diff, n) == (pytest.approx((1 / 6 + 0 + 0.5) / 3), 3)
    # a constant shift has no spread: s.e. 0; problems only one side evaluated are left out
    diff, se, n = paired_difference(counts([3, 3, 3, 3]), counts([1, 1, 1]), "process", 1)
    assert (diff, se, n) == (pytest.approx(0.5), 0.0, 3)
    assert paired_difference(a, b, "process", 1, ops=(9, 9))[1:] == (None, 1)
    assert paired_difference(a, b, "process", 1, ops=(15, 20)) is None
    with pytest.raises(UserError):
        paired_difference(a, b, "answers", 1)


def test_paired_difference_over_ops_averages_the_ops_and_combines_their_errors():
    from interplay.verify.passk import ProblemCounts, paired_difference, paired_difference_over_ops

    def counts(cs, ops):
        return [ProblemCounts(f"p{i}", op, "school", "forward", 4, c, c) for i, (c, op) in enumerate(zip(cs, ops))]

    ops = [2, 2, 2, 3, 3]  # op 2 has three problems, op 3 two: a mean of op means, not of problems
    a, b = counts([4, 2, 1, 4, 0], ops), counts([2, 2, 0, 1, 0], ops)
    two, three = paired_difference(a, b, "process", 1, (2, 2)), paired_difference(a, b, "process", 1, (3, 3))
    mean, se = paired_difference_over_ops(a, b, "process", 1, [2, 3, 9])  # op 9: nothing there
    assert mean == pytest.approx((two[0] + three[0]) / 2) and two[0] != three[0]
    assert se == pytest.approx((two[1] ** 2 + three[1] ** 2) ** 0.5 / 2)
    assert paired_difference_over_ops(a, b, "process", 1, [9]) is None
    single = counts([4], [2]), counts([0], [2])
    assert paired_difference_over_ops(*single, "process", 1, [2]) == (1.0, None)  # one problem: no s.e.
