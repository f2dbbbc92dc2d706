"""Small, deterministic record sets (from the world generator) for tests and benchmarks of the LM stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONTEXTS = ("zoo", "school", "movies")


def sample_records(ops: range | list[int] = range(2, 11), per_op: int = 12, seed: int = 0) -> list[dict[str, Any]]:
    """`per_op` records for each op, cycling contexts and modes; same arguments, same records."""
    from interplay.world import generate

    records = []
    for op in ops:
        for i in range(per_op):
            context = CONTEXTS[i % len(CONTEXTS)]
            mode = ("forward", "reverse")[(i // len(CONTEXTS)) % 2]
            records.append(generate(op=op, context=context, mode=mode, seed=seed, index=i))
    return records


def write_jsonl(records: list[dict[str, Any]], path: str | Path) -> Path:
    path = Path(path)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path
