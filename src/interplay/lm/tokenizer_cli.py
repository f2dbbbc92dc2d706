"""`interplay tokenizer train|stats`: train the BPE tokenizer on a corpus sample; report tokens per problem."""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from interplay.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = sub.add_parser("train", help="train a tokenizer on a sample of a corpus")
    train.add_argument("--corpus", required=True, help="corpus folder (or a JSONL file of records)")
    train.add_argument("--out", required=True, help="output folder (a Hugging Face tokenizer folder)")
    train.add_argument("--split", default="pretrain", help="corpus split to sample (default: pretrain)")
    train.add_argument("--vocab-size", type=int, default=None, help="total vocabulary size (default 2240)")
    train.add_argument("--sample", type=int, default=50_000, help="documents to train on (default 50000)")
    stats = sub.add_parser("stats", help="tokens per problem by op, as JSON")
    stats.add_argument("--tokenizer", required=True, help="tokenizer folder")
    stats.add_argument("--corpus", required=True, help="corpus folder (or a JSONL file of records)")
    stats.add_argument("--split", default="pretrain")
    stats.add_argument("--sample", type=int, default=20_000)


def run(args: argparse.Namespace) -> int:
    from interplay.lm import tokenizer as tk
    from interplay.lm.records import iter_records
    from interplay.text import format_example

    if args.sample <= 0:
        raise UserError("--sample must be positive")
    records = itertools.islice(iter_records(args.corpus, args.split, field="--corpus"), args.sample)
    if args.action == "train":
        vocab_size = tk.DEFAULT_VOCAB_SIZE if args.vocab_size is None else args.vocab_size
        records = list(records)
        if not records:
            raise UserError(f"--corpus: no records in {args.corpus} (split {args.split})")
        tokenizer = tk.train_tokenizer((format_example(r) for r in records), vocab_size=vocab_size)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        tk.save_tokenizer(tokenizer, out)
        report = {"vocab_size": len(tokenizer), "trained_on": len(records), "tokens_by_op": tk.tokens_by_op(tokenizer, records)}
        (out / "interplay_tokenizer.json").write_text(json.dumps(report, indent=1) + "\n")
        print(f"tokenizer: {len(tokenizer)} tokens, trained on {len(records)} documents -> {out}")
        _print_table(report["tokens_by_op"])
        return 0
    tokenizer = tk.load_tokenizer(args.tokenizer)
    table = tk.tokens_by_op(tokenizer, records)
    print(json.dumps({str(k): v for k, v in table.items()}))
    return 0


def _print_table(table: dict[int, dict[str, float]]) -> None:
    print(f"{'op':>4} {'docs':>7} {'mean tok':>9} {'max tok':>8}")
    for op, row in table.items():
        print(f"{op:>4} {row['documents']:>7} {row['mean']:>9.1f} {row['max']:>8}")
