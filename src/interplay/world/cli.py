"""`interplay sample`: print generated problem records as JSON lines."""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--op", type=int, required=True, help="number of operations: 2 to 50 (49 in the school and movies contexts, whose worlds have 50 slots)")
    parser.add_argument("--context", default="zoo", help="zoo | school | movies, a reference alias, or a context .yaml")
    parser.add_argument("--mode", default="forward", help="forward | reverse")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--index", type=int, default=0, help="first problem index (problem = f(seed, index))")
    parser.add_argument("--count", type=int, default=1, help="how many problems to print")
    parser.add_argument("--distractors", type=int, nargs=2, metavar=("MIN", "MAX"), help="distractor sentences")
    parser.add_argument("--letters", choices=["random", "ordered"], help="trace letters (default random)")
    parser.add_argument("--modulus", type=int, help="arithmetic modulo this number (forward mode only)")
    parser.add_argument("--text", action="store_true", help="print the training text instead of JSON")


def run(args: argparse.Namespace) -> int:
    from interplay.errors import UserError
    from interplay.text import format_example
    from interplay.world import WorldOptions, generate, get_context, normalize_mode

    if args.count < 0:
        raise UserError("--count must be >= 0")
    overrides = {k: getattr(args, k) for k in ("distractors", "letters", "modulus") if getattr(args, k) is not None}
    options = WorldOptions.from_dict(overrides, where="options")
    ctx, mode = get_context(args.context), normalize_mode(args.mode)
    out = sys.stdout
    for i in range(args.index, args.index + args.count):
        record = generate(args.op, ctx, mode, seed=args.seed, index=i, options=options)
        out.write((format_example(record) if args.text else json.dumps(record, ensure_ascii=False)) + "\n")
    out.flush()
    return 0
