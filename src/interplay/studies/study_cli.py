"""`interplay study NAME --preset demo|cpu|paper --out DIR`: one of the paper's studies, end to end.

Stages live in a cache folder (default: DIR/../cache-<preset>, shared by every study written next to
DIR) named by a hash of their exact command, so one base model serves every arm and every study
that starts from the same pre-training; a rerun reuses finished stages and resumes an interrupted one.
`--dry-run` prints the stage graph (the commands; values that depend on the ladder stay as
placeholders) without running anything: the way to launch the paper preset stage by stage with torchrun.
"""

from __future__ import annotations

import argparse

from interplay.studies.recipes import PRESETS, STUDIES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=STUDIES, help="the study")
    parser.add_argument("--preset", default="demo", help=f"{', '.join(PRESETS)} (configs/study-<preset>.yaml) or a YAML path")
    parser.add_argument("--out", required=True, help="folder for report.md / report.html")
    parser.add_argument("--cache", default=None, help="stage cache shared between studies (default: OUT/../cache-<preset>)")
    parser.add_argument("--dry-run", action="store_true", help="print the stage commands, run nothing")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from interplay.studies.recipes import Preset, preset_path, study_recipe
    from interplay.studies.run import print_plan, run_study

    path = args.preset if args.preset.endswith((".yaml", ".yml")) else preset_path("study", args.preset)
    preset = Preset.load(path)
    recipe = study_recipe(args.name, preset)
    out = Path(args.out)
    cache = Path(args.cache) if args.cache else out.resolve().parent / f"cache-{preset.name}"
    if args.dry_run:
        print_plan(preset, recipe)
        return 0
    run_study(preset, recipe, out, cache)
    return 0
