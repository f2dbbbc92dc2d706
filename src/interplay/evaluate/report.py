"""Tables of an evaluation, from its per-sample rows (samples.jsonl): pass@k, errors, lengths.

Every table has one row per group, in the same group order as the verifier's pass@k aggregation:
overall, each op range, each op, each context, each mode.

Error rates are fractions of *samples* showing the error (a sample can show several):
wrong_answer, unparseable, missing (a gold node never defined), dependency (a gold node defined with
other parents), value (a gold node defined with another value), extra (nodes not in gold, allowed).
`right_answer_wrong_process` is the fraction of samples with the right answer but a wrong trace — the
reward-hacking signal — and `..._of_correct` the same count over the samples with the right answer.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from interplay.verify.passk import op_range_of

ERROR_KINDS = ("wrong_answer", "unparseable", "missing", "dependency", "value", "extra")
_GROUP_ORDER = {"overall": 0, "op_range": 1, "op": 2, "context": 3, "mode": 4}


def sample_errors(row: Mapping[str, Any]) -> dict[str, bool]:
    """The error flags of one sample row (as written to samples.jsonl)."""
    errors = row.get("errors") or {}
    return {
        "wrong_answer": not row["outcome_correct"],
        "unparseable": not row["parse_ok"],
        "missing": bool(errors.get("missing")),
        "dependency": bool(errors.get("dependency")),
        "value": bool(errors.get("value")),
        "extra": bool(errors.get("extra")),
    }


def sample_flags(row: Mapping[str, Any]) -> dict[str, bool]:
    """Every per-sample rate of the error table for one sample row: its error flags and whether it reached
    the right answer by a wrong process (the reward-hacking signal). One definition for the table and for
    paired per-problem comparisons of two evaluations."""
    return {**sample_errors(row),
            "right_answer_wrong_process": bool(row["outcome_correct"]) and not row["process_correct"]}


def group_keys(row: Mapping[str, Any], op_ranges: Mapping[str, tuple[int, int]]) -> list[tuple[str, str]]:
    keys = [("overall", "all")]
    r = op_range_of(row.get("op"), op_ranges)
    if r is not None:
        keys.append(("op_range", r))
    for group in ("op", "context", "mode"):
        if row.get(group) is not None:
            keys.append((group, str(row[group])))
    return keys


def _sorted_groups(keys: Iterable[tuple[str, str]], op_ranges: Mapping[str, Any]) -> list[tuple[str, str]]:
    range_order = {name: i for i, name in enumerate(op_ranges)}

    def key(gk: tuple[str, str]):
        group, name = gk
        if group == "op":
            return (_GROUP_ORDER[group], int(name), "")
        if group == "op_range":
            return (_GROUP_ORDER[group], range_order.get(name, 0), name)
        return (_GROUP_ORDER[group], 0, name)

    return sorted(set(keys), key=key)


def error_table(rows: Sequence[Mapping[str, Any]], op_ranges: Mapping[str, tuple[int, int]]) -> list[dict[str, Any]]:
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        flags = sample_flags(row)
        for gk in group_keys(row, op_ranges):
            c = counts[gk]
            c["samples"] += 1
            c["outcome_correct"] += bool(row["outcome_correct"])
            c["process_correct"] += bool(row["process_correct"])
            for kind, on in flags.items():
                c[kind] += on
    table = []
    for gk in _sorted_groups(counts, op_ranges):
        c = counts[gk]
        n = c["samples"]
        out: dict[str, Any] = {"group": gk[0], "key": gk[1], "samples": n}
        for kind in ERROR_KINDS:
            out[kind] = c[kind] / n
        out["right_answer_wrong_process"] = c["right_answer_wrong_process"] / n
        out["right_answer_wrong_process_of_correct"] = (
            c["right_answer_wrong_process"] / c["outcome_correct"] if c["outcome_correct"] else math.nan
        )
        out["outcome_correct"] = c["outcome_correct"] / n
        out["process_correct"] = c["process_correct"] / n
        table.append(out)
    return table


def length_table(rows: Sequence[Mapping[str, Any]], op_ranges: Mapping[str, tuple[int, int]]) -> list[dict[str, Any]]:
    lengths: dict[tuple[str, str], list[int]] = defaultdict(list)
    truncated: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        for gk in group_keys(row, op_ranges):
            lengths[gk].append(int(row["num_tokens"]))
            truncated[gk] += row["finish_reason"] == "length"
    table = []
    for gk in _sorted_groups(lengths, op_ranges):
        v = lengths[gk]
        table.append(
            {
                "group": gk[0],
                "key": gk[1],
                "samples": len(v),
                "mean_tokens": math.fsum(v) / len(v),
                "median_tokens": statistics.median(v),
                "max_tokens": max(v),
                "truncated": truncated[gk] / len(v),
            }
        )
    return table


def per_problem_table(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """id, op, context, mode, n, c_outcome, c_process, in first-seen order (the ladder's input)."""
    from interplay.verify.passk import count_per_problem

    return [
        {"id": p.id, "op": p.op, "context": p.context, "mode": p.mode, "n": p.n,
         "c_outcome": p.c_outcome, "c_process": p.c_process}
        for p in count_per_problem(rows)
    ]


def with_error(value: float, se: float | None) -> str:
    """A mean as a report shows it: "0.250 ± 0.042", or "0.250" without a standard error (a single problem,
    or results written before the `se` column)."""
    return f"{value:.3f}" + ("" if se is None else f" ± {se:.3f}")


def read_per_problem(path: Path) -> list[Any]:
    """per_problem.csv (as `per_problem_table` wrote it) back as `ProblemCounts`, ints where they were ints."""
    from interplay.verify.passk import ProblemCounts

    with Path(path).open(encoding="utf-8", newline="") as f:
        return [ProblemCounts(row["id"], int(row["op"]) if row["op"] else None, row["context"], row["mode"],
                              int(row["n"]), int(row["c_outcome"]), int(row["c_process"]))
                for row in csv.DictReader(f)]


def pass_table(
    rows: Sequence[Mapping[str, Any]], ks: Sequence[int], op_ranges: Mapping[str, tuple[int, int]]
) -> list[dict[str, Any]]:
    from interplay.verify.passk import aggregate_pass_at_k, count_per_problem

    return aggregate_pass_at_k(count_per_problem(rows), ks, op_ranges)


def write_csv(path: Path, table: Sequence[Mapping[str, Any]]) -> None:
    if not table:
        path.write_text("")
        return
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]), lineterminator="\n")
        writer.writeheader()
        for row in table:
            writer.writerow({k: _cell(v) for k, v in row.items()})


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(round(value, 6))
    return value


def pass_lookup(table: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, str, int], float]:
    """(group, key, metric, k) -> pass@k, for plots and the ladder."""
    return {(r["group"], r["key"], r["metric"], r["k"]): r["pass_at_k"] for r in table}
