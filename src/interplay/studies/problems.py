"""The evaluation problem set of a study: a corpus split written as JSONL, each problem once.

Why: in an easy world (few distractors) small ops have few distinct graphs, so a corpus split can hold
the same problem (same canonical id) twice (4 of the demo corpus's 224 eval rows at op 2 repeat an earlier one) and
`interplay eval` rightly refuses duplicate ids. Keeping the first occurrence of each id gives a
problem set where every problem counts once in pass@k.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from interplay.errors import UserError

FILE = "problems.jsonl"


def write_unique_problems(corpus: str | Path, split: str, out: str | Path) -> dict[str, int]:
    from interplay.corpus import iter_records

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    rows = 0
    path = out / FILE
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        for record in iter_records(corpus, split=split):
            rows += 1
            if str(record["id"]) in seen:
                continue
            seen.add(str(record["id"]))
            f.write(json.dumps(record, sort_keys=True) + "\n")
    if not seen:
        raise UserError(f"corpus {corpus} has no problems in split {split!r}")
    os.replace(tmp, path)
    stats = {"rows": rows, "unique": len(seen), "duplicates_dropped": rows - len(seen)}
    (out / "problems.json").write_text(json.dumps(stats) + "\n")
    print(f"problems: {len(seen)} unique of {rows} rows in split {split!r} -> {path}")
    return stats


def run_argv(argv: list[str]) -> int:
    """`problems --corpus DIR --split S --out DIR` (a study stage, not an `interplay` command)."""
    args = dict(zip(argv[1::2], argv[2::2]))
    write_unique_problems(args["--corpus"], args["--split"], args["--out"])
    return 0


if __name__ == "__main__":  # python -m interplay.studies.problems --corpus DIR --split eval --out DIR
    import sys

    sys.exit(run_argv(["problems", *sys.argv[1:]]))
