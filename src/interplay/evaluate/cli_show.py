"""`interplay show --problems P --id ID [--completion C] --out FILE.png`: gold vs predicted graph.

--completion is the completion text itself, `@FILE` to read it from a file, or `@SAMPLES.jsonl:N`
to take sample N of this problem from an evaluation's samples.jsonl.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from interplay.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--problems", required=True, help="JSONL problem file or corpus folder")
    parser.add_argument("--split", default="eval", help="corpus split when --problems is a corpus folder")
    parser.add_argument("--id", required=True, help="problem id (for files without ids: the 0-based line number)")
    parser.add_argument("--completion", default=None,
                        help="completion text, @FILE, or @SAMPLES.jsonl:N (sample N of this problem)")
    parser.add_argument("--out", required=True, help="PNG file to write")


def _completion(arg: str | None, problem_id: str) -> str | None:
    if arg is None or not arg.startswith("@"):
        return arg
    ref = arg[1:]
    path, _, index = ref.rpartition(":") if ref.rpartition(":")[2].isdigit() else (ref, "", "")
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--completion: no such file {path}")
    if not index:
        return p.read_text(encoding="utf-8")
    for line in p.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if str(row.get("id")) == problem_id and row.get("sample_index") == int(index):
            return row["text"]
    raise UserError(f"--completion: {path} has no sample {index} of problem {problem_id}")


def run(args: argparse.Namespace) -> int:
    from interplay.evaluate.problems import load_problems
    from interplay.evaluate.show import draw_comparison

    problems = {r["id"]: r for r in load_problems(args.problems, split=args.split)}
    record = problems.get(str(args.id))
    if record is None:
        raise UserError(f"--id: no problem {args.id!r} in {args.problems}")
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out must name a .png file, got {args.out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    verdict = draw_comparison(record, _completion(args.completion, str(args.id)), out)
    print(json.dumps({"out": str(out), **verdict}, ensure_ascii=False))
    return 0
