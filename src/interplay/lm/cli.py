"""`interplay pretrain|midtrain CONFIG.yaml --out DIR [--set key=value ...]` (one module, two commands).

Both run the same loop (`interplay.lm.train`); mid-training requires `init:` (a checkpoint folder).
The final checkpoint is DIR/final/. Running again with the same DIR resumes from the newest checkpoint.
Multi-process: `torchrun --nproc_per_node N -m interplay pretrain CONFIG.yaml --out DIR`.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="training config (YAML), e.g. configs/pretrain-tiny.yaml or configs/midtrain-tiny.yaml")
    parser.add_argument("--out", required=True, help="run folder; the final checkpoint lands in OUT/final/. The same command again resumes "
                        "from the newest checkpoint; Ctrl-C (or SIGTERM) first writes one at the current step")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field, e.g. --set optim.lr=3e-4 --set train.tokens=10B")


def run(args: argparse.Namespace) -> int:
    from interplay.lm.train import train
    from interplay.lm.trainconfig import load_run_config

    cfg = load_run_config(args.config, args.command, args.overrides)
    train(cfg, args.out)
    return 0
