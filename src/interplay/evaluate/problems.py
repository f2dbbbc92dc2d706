"""The problems an evaluation runs on: a JSONL file (our records or the reference format) or a corpus split."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from interplay.errors import UserError


def unique_by_id(records: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The first record of each id, in order, and how many repeats were dropped.

    A corpus's ids are canonical (a hash of the problem's graph, names and context), so two rows with one id
    are the same problem drawn twice: in an easy world small ops have few distinct graphs. Each problem
    counts once in pass@k.
    """
    seen: set[str] = set()
    kept = []
    dropped = 0
    for r in records:
        key = str(r["id"])
        if key in seen:
            dropped += 1
            continue
        seen.add(key)
        kept.append(r)
    return kept, dropped


def load_problems(path: str | Path, split: str = "eval", per_op: int | None = None) -> list[dict[str, Any]]:
    """Records in a stable order (by op, then as stored), each with a string `id`, `op`, `context`, `mode`.

    `per_op` keeps the first N problems of each op (the paper evaluates 200 per op). A corpus split may
    draw one problem twice (see `unique_by_id`): it is kept once. A JSONL file must not repeat an id.
    """
    path = Path(path)
    if path.is_dir():
        if not (path / "manifest.json").is_file():
            raise UserError(f"--problems: {path} is neither a JSONL file nor a corpus folder (no manifest.json)")
        from interplay.corpus import iter_records

        records, dropped = unique_by_id(dict(r) for r in iter_records(path, split=split))
        if not records:
            raise UserError(f"--problems: corpus {path} has no records in split {split!r} (see --split)")
        if dropped:
            print(f"problems: {dropped} repeated problem(s) in split {split!r} of {path} counted once "
                  f"({len(records)} unique)", file=sys.stderr)
    else:
        # The verifier's reader: accepts reference-format rows and names ids by line when absent.
        from interplay.verify.cli import load_problems as read_jsonl

        records = []
        for key, record in read_jsonl(str(path)).items():
            record = dict(record)
            record["id"] = key
            record.pop("_line", None)
            records.append(record)
    seen: set[str] = set()
    for r in records:
        r["id"] = str(r["id"])
        if r["id"] in seen:
            raise UserError(f"--problems {path}: duplicate problem id {r['id']}")
        seen.add(r["id"])
        if not isinstance(r.get("op"), int):
            raise UserError(f"--problems {path}: problem {r['id']} has no integer `op`")
        for field in ("problem", "question"):
            if not isinstance(r.get(field), str):
                raise UserError(f"--problems {path}: problem {r['id']} has no `{field}` text")
        r.setdefault("context", None)
        r.setdefault("mode", None)
    records.sort(key=lambda r: r["op"])  # stable: file order within an op
    if per_op is not None:
        if per_op < 1:
            raise UserError(f"--per-op must be >= 1, got {per_op}")
        counts: dict[int, int] = {}
        kept = []
        for r in records:
            counts[r["op"]] = counts.get(r["op"], 0) + 1
            if counts[r["op"]] <= per_op:
                kept.append(r)
        records = kept
    return records
