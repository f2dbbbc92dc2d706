"""`interplay demo [--out DIR]`: the whole pipeline on a laptop CPU in minutes, with a report.

Corpus -> tokenizer -> pre-training -> a short GRPO run -> process-verified evaluation of the base
and the RL model -> DIR/report.md (+ .html), DIR/results.json (the RL model's evaluation) and
DIR/final/ (the RL model's checkpoint). Each stage is cached in DIR/<stage>/: running the command
again reuses finished stages and resumes an interrupted one.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    parser.add_argument("--preset", default="demo",
                        help="demo (configs/demo.yaml, about 10 minutes on 2 cores) or ci (configs/demo-ci.yaml, "
                             "seconds: the same pipeline at CI size), or a path to a demo YAML")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from interplay.studies.recipes import Preset, demo_recipe, preset_path
    from interplay.studies.run import run_demo

    path = args.preset if args.preset.endswith((".yaml", ".yml")) else preset_path("demo", args.preset)
    preset = Preset.load(path)
    run_demo(preset, demo_recipe(preset), Path(args.out))
    return 0
