"""`interplay rl CONFIG.yaml --out DIR [--set key=value ...]`: GRPO from a checkpoint, verifier rewards.

The final checkpoint is DIR/final/ (a Hugging Face folder). Running again with the same DIR resumes
from the newest checkpoint. Multi-process: `torchrun --nproc_per_node N -m interplay rl CONFIG --out DIR`.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="RL config (YAML), e.g. configs/rl-tiny.yaml")
    parser.add_argument("--out", required=True, help="run folder; the final checkpoint lands in OUT/final/. The same command again resumes "
                        "from the newest checkpoint; Ctrl-C (or SIGTERM) first writes one at the current step")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field, e.g. --set reward.name=strict --set rollout.rollouts=8")


def run(args: argparse.Namespace) -> int:
    from interplay.rl.config import load_rl_config
    from interplay.rl.trainer import train_rl

    cfg = load_rl_config(args.config, args.overrides)
    train_rl(cfg, args.out)
    return 0
