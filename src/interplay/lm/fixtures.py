"""Small, deterministic record sets for tests and benchmarks of the LM stage.

Records come from the world generator (`interplay.world.generate`); when it is not importable
(e.g. an old checkout), from the reference-generator fixture in `../shared/compat/`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REFERENCE_SAMPLES = Path(__file__).resolve().parents[4] / "shared" / "compat" / "reference_samples.jsonl"
CONTEXTS = ("zoo", "school", "movies")


def sample_records(ops: range | list[int] = range(2, 11), per_op: int = 12, seed: int = 0) -> list[dict[str, Any]]:
    """`per_op` records for each op, cycling contexts and modes; same arguments, same records."""
    try:
        from interplay.world import generate
    except ImportError:
        return _reference_records(ops, per_op)
    records = []
    for op in ops:
        for i in range(per_op):
            context = CONTEXTS[i % len(CONTEXTS)]
            mode = ("forward", "reverse")[(i // len(CONTEXTS)) % 2]
            records.append(generate(op=op, context=context, mode=mode, seed=seed, index=i))
    return records


def _reference_records(ops, per_op: int) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in REFERENCE_SAMPLES.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_op: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_op.setdefault(row["op"], []).append(row)
    out = []
    for op in ops:
        pool = by_op.get(op, [])
        out += [pool[i % len(pool)] for i in range(per_op)] if pool else []
    return out


def write_jsonl(records: list[dict[str, Any]], path: str | Path) -> Path:
    path = Path(path)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path
