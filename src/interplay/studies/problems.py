"""The evaluation problem set of a study: a corpus split written as JSONL, each problem once.

Why: in an easy world (few distractors) small ops have few distinct graphs, so a corpus split can hold
the same problem (same canonical id) twice (4 of the demo corpus's 224 eval rows at op 2 repeat an earlier one).
Keeping the first occurrence of each id (`interplay.evaluate.problems.unique_by_id`, as `interplay eval`
does when given a corpus folder) gives a problem set where every problem counts once in pass@k.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from interplay.errors import UserError

FILE = "problems.jsonl"


def write_unique_problems(corpus: str | Path, split: str, out: str | Path) -> dict[str, int]:
    from interplay.corpus import iter_records
    from interplay.evaluate.problems import unique_by_id

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records, dropped = unique_by_id(iter_records(corpus, split=split))
    if not records:
        raise UserError(f"corpus {corpus} has no problems in split {split!r}")
    path = out / FILE
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        for record in records:
            f.write(json.dumps(record, sort_keys=True) + "\n")
    os.replace(tmp, path)
    stats = {"rows": len(records) + dropped, "unique": len(records), "duplicates_dropped": dropped}
    (out / "problems.json").write_text(json.dumps(stats) + "\n")
    print(f"problems: {len(records)} unique of {stats['rows']} rows in split {split!r} -> {path}")
    return stats


def run_argv(argv: list[str]) -> int:
    """`problems --corpus DIR --split S --out DIR` (a study stage, not an `interplay` command)."""
    args = dict(zip(argv[1::2], argv[2::2]))
    write_unique_problems(args["--corpus"], args["--split"], args["--out"])
    return 0


if __name__ == "__main__":  # python -m interplay.studies.problems --corpus DIR --split eval --out DIR
    import sys

    sys.exit(run_argv(["problems", *sys.argv[1:]]))
