"""`interplay corpus build CONFIG.yaml --out DIR`: build corpus shards from a mixture config."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="build shards for every split of a config (resumes a partial build)")
    build.add_argument("config", help="corpus YAML (e.g. configs/corpus-demo.yaml)")
    build.add_argument("--out", required=True, help="output directory")
    build.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    build.add_argument("--format", choices=["parquet", "jsonl"], help="override the config's shard format")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    show = sub.add_parser("show", help="print a corpus's manifest summary")
    show.add_argument("dir")


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from interplay.errors import UserError

    if args.corpus_command == "show":
        path = Path(args.dir) / "manifest.json"
        if not path.exists():
            raise UserError(f"{args.dir} has no manifest.json (not a finished interplay corpus)")
        manifest = json.loads(path.read_text(encoding="utf-8"))
        for name, s in manifest["splits"].items():
            print(f"{name:>10}: {s['rows']:>10,} problems  ~{s['approx_tokens']:>13,} tokens  {len(s['shards'])} shards")
        return 0

    from interplay.corpus.build import build_corpus
    from interplay.corpus.config import load_config, parse_config

    cfg = load_config(args.config)
    if args.format:
        cfg = parse_config({**cfg.raw, "format": args.format}, args.config)
    if args.workers is not None and args.workers < 1:
        raise UserError("--workers must be >= 1")
    manifest = build_corpus(cfg, args.out, workers=args.workers, progress=not args.no_progress)
    for name, s in manifest["splits"].items():
        print(f"{name:>10}: {s['rows']:>10,} problems  ~{s['approx_tokens']:>13,} tokens  -> {Path(args.out) / name}",
              file=sys.stderr)
    return 0
