"""Everything an evaluation writes after sampling: tables (CSV), results.json, plots, pictures, report.md."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from interplay.evaluate import report

# Failure types illustrated by pictures, and how many of each (distinct problems, spread over ops).
FAILURE_TYPES = ("missing", "dependency", "value", "right_answer_wrong_process", "wrong_answer", "unparseable")
PICTURES_PER_TYPE = 3


def _failure_examples(
    rows: Sequence[Mapping[str, Any]], per_type: int = PICTURES_PER_TYPE
) -> dict[str, list[Mapping[str, Any]]]:
    """Up to `per_type` samples of each failure type, each from a different problem.

    A first pass takes at most one example per op (so the pictures are not all op 2), a second pass
    fills what is left; within a pass, samples are taken in samples.jsonl order (deterministic).
    """
    flagged: dict[str, list[Mapping[str, Any]]] = {kind: [] for kind in FAILURE_TYPES}
    for row in rows:
        flags = report.sample_flags(row)
        for kind in FAILURE_TYPES:
            if flags[kind]:
                flagged[kind].append(row)
    found: dict[str, list[Mapping[str, Any]]] = {}
    for kind, candidates in flagged.items():
        chosen: list[Mapping[str, Any]] = []
        problems: set[str] = set()
        ops: set[Any] = set()
        for spread in (True, False):
            for row in candidates:
                if len(chosen) == per_type:
                    break
                if row["id"] in problems or (spread and row.get("op") in ops):
                    continue
                chosen.append(row)
                problems.add(row["id"])
                ops.add(row.get("op"))
        if chosen:
            found[kind] = chosen
    return found


def write_outputs(
    cfg: Any,
    settings: Mapping[str, Any],
    problems: Sequence[Mapping[str, Any]],
    rows: Sequence[Mapping[str, Any]],
    out: Path,
    session: Mapping[str, Any],
) -> dict[str, Any]:
    from interplay.evaluate.plots import plot_pass_at_k_curves, plot_pass_by_op
    from interplay.evaluate.runner import RESULTS_FILE, _json_safe, _write_atomic

    ks = list(cfg.ks)
    op_ranges = cfg.op_ranges
    tables = {
        "pass_at_k": report.pass_table(rows, ks, op_ranges),
        "errors": report.error_table(rows, op_ranges),
        "lengths": report.length_table(rows, op_ranges),
        "per_problem": report.per_problem_table(rows),
    }
    for name, table in tables.items():
        report.write_csv(out / f"{name}.csv", table)
    plot_pass_at_k_curves(tables["pass_at_k"], ks, out / "pass_at_k.png")
    plot_pass_by_op(tables["pass_at_k"], ks, out / "pass_by_op.png")

    pictures: dict[str, dict[str, Any]] = {}
    if cfg.failure_pictures:
        from interplay.evaluate.show import draw_comparison

        by_id = {p["id"]: p for p in problems}
        (out / "failures").mkdir(exist_ok=True)
        for kind, examples in _failure_examples(rows).items():
            pictures[kind] = []
            for number, row in enumerate(examples, start=1):
                path = out / "failures" / f"{kind}-{number}.png"
                draw_comparison(by_id[row["id"]], row["text"], path)
                pictures[kind].append(
                    {"path": str(path.relative_to(out)), "id": row["id"], "op": row.get("op"),
                     "sample_index": row["sample_index"]}
                )

    results = {
        "settings": dict(settings),
        "ks": ks,
        "op_ranges": {k: list(v) for k, v in op_ranges.items()},
        "problems": len(problems),
        "samples": len(rows),
        "sampling_this_session": dict(session),
        "tables": {k: v for k, v in tables.items() if k != "per_problem"},
        "plots": ["pass_at_k.png", "pass_by_op.png"],
        "failure_pictures": pictures,
    }
    _write_atomic(out / RESULTS_FILE, json.dumps(_json_safe(results), indent=1) + "\n")
    _write_atomic(out / "report.md", render_markdown(results))
    return results


def render_markdown(results: Mapping[str, Any]) -> str:
    ks = results["ks"]
    look = report.pass_lookup(results["tables"]["pass_at_k"])
    k1, kmax = min(ks), max(ks)
    s = results["settings"]
    lines = [
        "# Evaluation",
        "",
        f"Model `{s['model']}` on `{s['problems']}` ({results['problems']} problems × n={s['n']}, "
        f"temperature {s['temperature']}, top-p {s['top_p']}, top-k {s['top_k']}, "
        f"max {s['max_new_tokens']} new tokens, seed {s['seed']}). Each pass@k ± its standard error over the "
        "group's problems (pass_at_k.csv's `se`).",
        "",
        f"| group | problems | outcome pass@{k1} | outcome pass@{kmax} | process pass@{k1} | process pass@{kmax} |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    sizes = {(r["group"], r["key"]): r["problems"] for r in results["tables"]["pass_at_k"]}
    # results.json written before the `se` column existed has none: the values alone, as then
    errors = {(r["group"], r["key"], r["metric"], r["k"]): r.get("se") for r in results["tables"]["pass_at_k"]}
    for (group, key), size in sizes.items():
        if group not in ("overall", "op_range", "op"):
            continue
        label = "overall" if group == "overall" else f"{group} {key}"
        cells = []
        for m in ("outcome", "process"):
            for k in (k1, kmax):
                cells.append(report.with_error(look[(group, key, m, k)], errors[(group, key, m, k)]))
        lines.append(f"| {label} | {size} | " + " | ".join(cells) + " |")
    lines += ["", "![pass@k by op range](pass_at_k.png)", "", "![pass by op](pass_by_op.png)", "", "## Errors", ""]
    lines.append("| group | samples | " + " | ".join(report.ERROR_KINDS) + " | right answer, wrong process |")
    lines.append("|---|---:|" + "---:|" * (len(report.ERROR_KINDS) + 1))
    for r in results["tables"]["errors"]:
        if r["group"] in ("overall", "op_range"):
            label = "overall" if r["group"] == "overall" else r["key"]
            vals = " | ".join(f"{r[k]:.3f}" for k in report.ERROR_KINDS)
            lines.append(f"| {label} | {r['samples']} | {vals} | {r['right_answer_wrong_process']:.3f} |")
    if results["failure_pictures"]:
        lines += ["", "## Typical failures", ""]
        for kind, pics in results["failure_pictures"].items():
            lines.append(f"- {kind}:")
            for pic in pics:
                lines.append(
                    f"  - op {pic['op']}, problem `{pic['id']}`, sample {pic['sample_index']}: ![{kind}]({pic['path']})"
                )
    lines.append("")
    return "\n".join(lines)
