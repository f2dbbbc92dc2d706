"""`interplay eval --model DIR --problems P --n 128 --out DIR`: sample, verify, report (resumable).

Writes samples.jsonl (every completion and its verdict), results.json, CSV tables (pass_at_k, errors,
lengths, per_problem), plots (pass_at_k.png, pass_by_op.png), failure pictures and report.md.
Run the same command again after an interruption: it continues from the stored completions.
"""

from __future__ import annotations

import argparse


def parse_ks(text: str | None) -> list[int] | None:
    from interplay.errors import UserError

    if text is None:
        return None
    try:
        ks = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--k must be comma-separated integers, got {text!r}") from None
    if not ks:
        raise UserError(f"--k must list at least one integer, got {text!r}")
    return ks


def add_eval_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, required: bool = True) -> None:
    """The evaluation's flags; `interplay ladder` adds them as an optional group (no --out: its --eval is that)."""
    parser.add_argument("--model", required=required, help="model folder (Hugging Face format, with its tokenizer)")
    parser.add_argument("--problems", required=required, help="JSONL problem file or corpus folder (see --split)")
    parser.add_argument("--split", default="eval", help="corpus split to read when --problems is a folder")
    parser.add_argument("--per-op", type=int, default=None, help="keep the first N problems of each op")
    parser.add_argument("--n", type=int, default=128, help="samples per problem (default 128)")
    parser.add_argument("--k", default=None, help="pass@k values, e.g. 1,2,4,...,128 (default: powers of 2 up to n)")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=0)
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="default: twice the longest gold completion among the problems")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-rows", type=int, default=128, help="samples decoded together")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    parser.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16"),
                        help="sampling precision (default auto: bfloat16 on a GPU, float32 on a CPU)")
    parser.add_argument("--backend", default="torch", choices=("torch", "vllm"),
                        help="sampler: interplay's own (torch, default) or vLLM (GPU, when installed)")
    parser.add_argument("--op-ranges", default=None,
                        help='"ID=2-10,OOD-edge=11-14,OOD-hard=15-20" (default) or a YAML file from `interplay ladder`')
    if required:
        parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--no-pictures", action="store_true", help="skip the failure pictures")
    parser.add_argument("--reuse-samples", default=None, metavar="DIR",
                        help="copy the completions another evaluation (same model and sampling settings) already "
                             "made of these problems instead of sampling them again")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_eval_arguments(parser)


def config_from_args(args: argparse.Namespace, out: str):
    from interplay.evaluate.ranges import parse_op_ranges
    from interplay.evaluate.runner import EvalConfig

    return EvalConfig(
        model=args.model, problems=args.problems, out=out, split=args.split, per_op=args.per_op, n=args.n,
        ks=parse_ks(args.k), temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
        max_new_tokens=args.max_new_tokens, seed=args.seed, batch_rows=args.batch_rows, device=args.device,
        dtype=args.dtype, backend=args.backend,
        op_ranges=parse_op_ranges(args.op_ranges), failure_pictures=not args.no_pictures, progress=not args.quiet,
        reuse_samples=getattr(args, "reuse_samples", None),
    )


def print_summary(results: dict) -> None:
    from interplay.evaluate.report import pass_lookup

    look = pass_lookup(results["tables"]["pass_at_k"])
    ks = results["ks"]
    k1, kmax = min(ks), max(ks)
    print(f"{'group':<18}{'problems':>9}  out@{k1:<5}out@{kmax:<6}proc@{k1:<4}proc@{kmax}")
    for row in results["tables"]["pass_at_k"]:
        if row["metric"] != "outcome" or row["k"] != k1 or row["group"] not in ("overall", "op_range", "op"):
            continue
        g, key = row["group"], row["key"]
        label = "overall" if g == "overall" else f"{g} {key}"
        vals = [look[(g, key, m, k)] for m in ("outcome", "process") for k in (k1, kmax)]
        print(f"{label:<18}{row['problems']:>9}  " + "  ".join(f"{v:.3f}" for v in vals))
    s = results["sampling_this_session"]
    if s.get("samples"):
        print(f"sampled {s['samples']} completions, {s['tokens']} tokens in {s['seconds']} s "
              f"({s['tokens_per_s']} tokens/s)")


def run(args: argparse.Namespace) -> int:
    from interplay.evaluate.runner import run_evaluation

    results = run_evaluation(config_from_args(args, args.out))
    print_summary(results)
    print(f"wrote {args.out}/results.json, report.md, CSV tables and plots")
    return 0
