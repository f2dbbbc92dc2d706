"""`interplay ladder --eval DIR`: propose ID / OOD-edge / OOD-hard op ranges from an evaluation.

With --model and --problems, the evaluation is run (or resumed) into DIR first, with the same flags
as `interplay eval`. Writes the ranges as YAML (default DIR/ladder.yaml; `interplay eval --op-ranges`
and study configs read its `op_ranges`) and, with --edge-out, the edge-of-competence problems as JSONL.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from interplay.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--eval", required=True, dest="eval_dir", help="evaluation folder (from `interplay eval`)")
    parser.add_argument("--metric", default="outcome", choices=("outcome", "process"),
                        help="which pass@k places the ranges (default outcome; the studies use process, because a "
                             "small model's outcome pass@k is inflated by guessed answers)")
    parser.add_argument("--at-k", type=int, default=None, help="the k of pass@k (default: the largest evaluated)")
    parser.add_argument("--id-min", type=float, default=0.9, help="ID: pass@k at least this (default 0.9)")
    parser.add_argument("--hard-max", type=float, default=0.05, help="OOD-hard: pass@k at most this (default 0.05)")
    parser.add_argument("--edge-max-pass1", type=float, default=0.5, help="flag edge ops above this pass@1 (default 0.5)")
    parser.add_argument("--yaml", default=None, help="where to write the ranges (default EVAL/ladder.yaml)")
    parser.add_argument("--edge-out", default=None, help="write edge-of-competence problems here (JSONL)")
    parser.add_argument("--edge-max-pass1-problem", type=float, default=0.25, dest="edge_p1",
                        help="edge filter: pass@1 at most this (default 0.25)")
    parser.add_argument("--edge-min-passk-problem", type=float, default=0.5, dest="edge_pk",
                        help="edge filter: pass@k at least this (default 0.5)")
    from interplay.evaluate.cli_eval import add_eval_arguments

    add_eval_arguments(parser.add_argument_group("run the evaluation first (same flags as `interplay eval`)"),
                       required=False)


def run(args: argparse.Namespace) -> int:
    from interplay.evaluate.ladder import (
        LadderThresholds,
        edge_of_competence,
        ladder_yaml,
        per_op_from_pass_table,
        propose_ladder,
    )
    from interplay.evaluate.report import read_per_problem

    eval_dir = Path(args.eval_dir)
    if args.model or args.problems:
        if not (args.model and args.problems):
            raise UserError("--model and --problems go together (to run the evaluation first)")
        from interplay.evaluate.cli_eval import config_from_args
        from interplay.evaluate.runner import run_evaluation

        run_evaluation(config_from_args(args, str(eval_dir)))
    results_path = eval_dir / "results.json"
    if not results_path.is_file():
        raise UserError(f"--eval: {eval_dir} has no results.json (run `interplay eval --out {eval_dir}` first)")
    results = json.loads(results_path.read_text())
    k = args.at_k or max(results["ks"])
    thresholds = LadderThresholds(args.id_min, args.hard_max, args.edge_max_pass1).validate()
    per_op = per_op_from_pass_table(results["tables"]["pass_at_k"], k, args.metric)
    ladder = propose_ladder(per_op, k, thresholds)
    out = Path(args.yaml) if args.yaml else eval_dir / "ladder.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(ladder_yaml(ladder, k=k, metric=args.metric, source=str(eval_dir), thresholds=thresholds))
    print(f"{'op':>4}  pass@1  pass@{k:<4} range")
    for op, v in ladder.per_op.items():
        print(f"{op:>4}  {v['pass_at_1']:.3f}   {v['pass_at_k']:.3f}    {v['range']}")
    print("ranges: " + ", ".join(f"{name} {lo}-{hi}" for name, (lo, hi) in ladder.op_ranges.items()))
    for note in ladder.notes:
        print(f"note: {note}")
    print(f"wrote {out}")
    if args.edge_out:
        rows = [asdict(p) for p in read_per_problem(eval_dir / "per_problem.csv")]
        kept = edge_of_competence(rows, k, metric=args.metric, max_pass_1=args.edge_p1, min_pass_k=args.edge_pk)
        edge_path = Path(args.edge_out)
        edge_path.parent.mkdir(parents=True, exist_ok=True)
        with edge_path.open("w", encoding="utf-8") as f:
            for row in kept:
                f.write(json.dumps(row) + "\n")
        print(f"edge of competence: {len(kept)} of {len(rows)} problems -> {edge_path}")
    return 0
