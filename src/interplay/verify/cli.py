"""`interplay verify --problems P.jsonl --completions C.jsonl`: score completions against gold graphs.

Problems: JSON lines in our record format (with `id` and `graph`) or the reference format
(problem, question, solution, op, template, mode; the gold graph is parsed from `solution`).
A problem without an `id` is known by its 0-based line number among the non-empty lines.

Completions: JSON lines {"id": ..., "completion": "..."}; several may share an id.

Prints one JSON line per completion, in input order:
    {"id", "parse_ok", "answer", "outcome_correct", "process_correct", "process_accuracy",
     "errors": {"missing", "dependency", "value", "extra"}}
then a summary (rates, error counts, pass@k) on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from interplay.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--problems", required=True, metavar="P.jsonl", help="problem records (ours or reference format)")
    parser.add_argument(
        "--completions", required=True, metavar="C.jsonl", help='lines {"id": ..., "completion": "..."} ("-" = stdin)'
    )
    parser.add_argument(
        "--k", default="1", metavar="K[,K...]", help="pass@k values for the summary on stderr (default: 1)"
    )


def _json_lines(path: str, what: str) -> Iterator[tuple[int, Any]]:
    """(line number from 1, parsed object) for each non-empty line."""
    if path == "-":
        handle = sys.stdin
    else:
        p = Path(path)
        if not p.is_file():
            raise UserError(f"--{what}: no such file {path}")
        handle = p.open(encoding="utf-8")
    with handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"--{what} {path} line {lineno}: not JSON ({exc.msg})") from None


def _parse_ks(text: str) -> list[int]:
    try:
        ks = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--k must be comma-separated integers, got {text!r}") from None
    if not ks or any(k < 1 for k in ks):
        raise UserError(f"--k values must be >= 1, got {text!r}")
    return ks


def load_problems(path: str) -> dict[str, dict[str, Any]]:
    """Problems by id (str); reference-format fields are mapped to ours (mode, context)."""
    from interplay.verify.gold import REFERENCE_CONTEXTS, REFERENCE_MODES

    problems: dict[str, dict[str, Any]] = {}
    for index, (lineno, record) in enumerate(_json_lines(path, "problems")):
        if not isinstance(record, dict):
            raise UserError(f"--problems {path} line {lineno}: a problem must be a JSON object")
        key = str(record["id"]) if record.get("id") is not None else str(index)
        if key in problems:
            raise UserError(f"--problems {path} line {lineno}: duplicate id {key!r}")
        record = dict(record)
        record["_line"] = lineno
        mode = record.get("mode")
        record["mode"] = REFERENCE_MODES.get(mode, mode)
        if record.get("context") is None and record.get("template") is not None:
            record["context"] = REFERENCE_CONTEXTS.get(record["template"], record["template"])
        problems[key] = record
    if not problems:
        raise UserError(f"--problems {path}: no problems in the file")
    return problems


def run(args: argparse.Namespace) -> int:
    from interplay.verify.compare import verify
    from interplay.verify.gold import load_gold

    ks = _parse_ks(args.k)
    problems = load_problems(args.problems)
    golds: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    error_counts: Counter[str] = Counter()
    n = parse_ok = outcome = process = 0
    accuracy_sum = 0.0
    out = sys.stdout
    for lineno, line in _json_lines(args.completions, "completions"):
        where = f"--completions {args.completions} line {lineno}"
        if not isinstance(line, dict) or "id" not in line:
            raise UserError(f"{where}: needs an object with 'id' and 'completion'")
        key = str(line["id"])
        completion = line.get("completion")
        if not isinstance(completion, str):
            raise UserError(f"{where}: field 'completion' must be a string")
        record = problems.get(key)
        if record is None:
            raise UserError(f"{where}: id {line['id']!r} is not in --problems {args.problems}")
        gold = golds.get(key)
        if gold is None:
            try:
                gold = golds[key] = load_gold(record)
            except UserError as exc:
                raise UserError(f"--problems {args.problems} line {record['_line']} (id {key}): {exc}") from None
        v = verify(gold, completion)
        out.write(json.dumps({"id": line["id"], **v.to_dict()}, ensure_ascii=False) + "\n")
        n += 1
        parse_ok += v.parse_ok
        outcome += v.outcome_correct
        process += v.process_correct
        accuracy_sum += v.process_accuracy
        for kind in ("missing", "dependency", "value", "extra"):
            error_counts[kind] += bool(getattr(v.errors, kind))
        error_counts["wrong_answer"] += not v.outcome_correct
        error_counts["unparseable"] += not v.parse_ok
        rows.append(
            {
                "id": key,
                "op": record.get("op"),
                "context": record.get("context"),
                "mode": record.get("mode"),
                "outcome_correct": v.outcome_correct,
                "process_correct": v.process_correct,
            }
        )
    out.flush()
    _summary(n, len(golds), parse_ok, outcome, process, accuracy_sum, error_counts, rows, ks)
    return 0


def _summary(
    n: int,
    n_problems: int,
    parse_ok: int,
    outcome: int,
    process: int,
    accuracy_sum: float,
    error_counts: Counter[str],
    rows: list[dict[str, Any]],
    ks: list[int],
) -> None:
    import warnings

    from interplay.verify.passk import aggregate_pass_at_k, count_per_problem

    err = sys.stderr
    if n == 0:
        print("verify: no completions", file=err)
        return
    print(
        f"verify: {n} completions of {n_problems} problems | parse_ok {parse_ok / n:.4f} | "
        f"outcome_correct {outcome / n:.4f} | process_correct {process / n:.4f} | "
        f"process_accuracy {accuracy_sum / n:.4f}",
        file=err,
    )
    print(
        "verify: completions with errors: "
        + ", ".join(f"{kind} {error_counts[kind]}" for kind in ("missing", "dependency", "value", "extra", "wrong_answer", "unparseable")),
        file=err,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = aggregate_pass_at_k(count_per_problem(rows), ks)
    for w in caught[:1]:
        print(f"verify: warning: {w.message}", file=err)
    # One line per group: outcome pass@k for each k, then process pass@k for each k.
    cells: dict[tuple[str, str], dict[tuple[str, int], float]] = {}
    sizes: dict[tuple[str, str], int] = {}
    for row in table:
        if row["group"] in ("overall", "op_range", "op"):
            gk = (row["group"], row["key"])
            cells.setdefault(gk, {})[(row["metric"], row["k"])] = row["pass_at_k"]
            sizes[gk] = row["problems"]
    head = " ".join(f"out@{k:<4}" for k in ks) + " | " + " ".join(f"proc@{k:<3}" for k in ks)
    print(f"verify: {'group':<18} {'problems':>8}  {head}", file=err)
    for gk, c in cells.items():
        label = "overall" if gk[0] == "overall" else f"{gk[0]}={gk[1]}"
        vals = " ".join(f"{c[('outcome', k)]:<8.4f}" for k in ks) + " | " + " ".join(
            f"{c[('process', k)]:<8.4f}" for k in ks
        )
        print(f"verify: {label:<18} {sizes[gk]:>8}  {vals}", file=err)
