"""`interplay study NAME --preset demo|cpu|paper --out DIR`: one of the paper's studies, end to end.

Stages live in a cache folder (default: DIR/../cache-<preset>, shared by every study written next to
DIR) named by a hash of their exact command, so one base model serves every arm and every study
that starts from the same pre-training; a rerun reuses finished stages and resumes an interrupted one.
`--dry-run` prints the stage graph (the commands; values that depend on the ladder stay as
placeholders) without running anything: the way to launch the paper preset stage by stage with torchrun.
`--seed N` runs the study at another seed (every training stage and the evaluation; same data);
`--seeds 0,1,2` runs it at each into OUT/seed-N/ and writes OUT/report.md over the seeds (interplay.studies.seeds).
`interplay study all --preset P --out DIR` runs the four studies one after the other into DIR/NAME with
one cache (DIR/cache-P); a study that fails does not stop the others, and the exit status says so.
"""

from __future__ import annotations

import argparse

from interplay.studies.recipes import PRESETS, STUDIES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=STUDIES + ("all",), help="the study, or `all` for the four in turn")
    parser.add_argument("--preset", default="demo", help=f"{', '.join(PRESETS)} (configs/study-<preset>.yaml) or a YAML path")
    parser.add_argument("--out", required=True, help="folder for report.md / report.html (with `all`: the parent "
                                                     "of one folder per study)")
    parser.add_argument("--cache", default=None, help="stage cache shared between studies (default: OUT/../cache-<preset>)")
    parser.add_argument("--seed", type=int, default=None,
                        help="one seed for every training stage (train.seed) and the evaluation's sampling; the "
                             "corpus and tokenizer stay the same, so seeds share them in the cache (default: "
                             "each config's own seed)")
    parser.add_argument("--seeds", default=None, metavar="0,1,2",
                        help="run the study once per seed into OUT/seed-N/ and write OUT/report.md with the mean, "
                             "standard deviation and each seed's value (and each finding's verdict per seed)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="replace a field of the preset, e.g. --set 'rl_set=[log.tensorboard=false, "
                             "optim.lr=1.0e-5]' or --set eval.n=64 (repeatable; values read as YAML; stages whose "
                             "commands do not change stay shared in the cache)")
    parser.add_argument("--dry-run", action="store_true", help="print the stage commands, run nothing")
    parser.add_argument("--status", action="store_true",
                        help="show each stage's state in the cache (done, partial: how far, to run, waits), run nothing")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from interplay.studies.recipes import Preset, preset_path, study_recipe
    from interplay.studies.run import print_plan, print_status, run_study

    path = args.preset if args.preset.endswith((".yaml", ".yml")) else preset_path("study", args.preset)
    if args.seeds is not None:
        return _run_seeds(path, args)
    preset = Preset.load(path, seed=args.seed, overrides=args.overrides)
    if args.name == "all":
        return _run_all(preset, Path(args.out), args)
    recipe = study_recipe(args.name, preset)
    out = Path(args.out)
    cache = Path(args.cache) if args.cache else out.resolve().parent / f"cache-{preset.name}"
    if args.status:
        print_status(preset, recipe, cache)
        return 0
    if args.dry_run:
        print_plan(preset, recipe)
        return 0
    run_study(preset, recipe, out, cache)
    return 0


def _run_seeds(path: str, args: argparse.Namespace) -> int:
    from pathlib import Path

    from interplay.errors import UserError
    from interplay.studies.recipes import Preset, study_recipe
    from interplay.studies.run import print_plan
    from interplay.studies.seeds import parse_seeds, run_seeds

    if args.seed is not None:
        raise UserError("give either --seed N or --seeds LIST, not both")
    if args.name == "all":
        raise UserError("--seeds runs one study at a time: name it (extrapolation, context, allocation, rewards, ladder)")
    seeds = parse_seeds(args.seeds)
    name = Preset.load(path, overrides=args.overrides).name  # the cache is the preset's, shared by every seed
    out = Path(args.out)
    cache = Path(args.cache) if args.cache else out.resolve().parent / f"cache-{name}"
    if args.dry_run or args.status:
        from interplay.studies.run import print_status

        for seed in seeds:
            preset = Preset.load(path, seed=seed, overrides=args.overrides)
            if args.status:
                print_status(preset, study_recipe(args.name, preset), cache)
            else:
                print_plan(preset, study_recipe(args.name, preset))
        return 0
    for seed in seeds:  # a bad preset or recipe fails before any seed runs
        study_recipe(args.name, Preset.load(path, seed=seed, overrides=args.overrides))
    run_seeds(path, args.name, seeds, out, cache, overrides=args.overrides)
    return 0


# The order shares the most work first: three studies start from the one base model (extrapolation makes it
# and its ladder); the context study pre-trains its own four models.
ALL_ORDER = ("extrapolation", "rewards", "allocation", "context")


def _run_all(preset, out, args) -> int:
    import sys
    from pathlib import Path

    from interplay.errors import UserError
    from interplay.studies.recipes import study_recipe
    from interplay.studies.run import print_plan, run_study

    recipes = [study_recipe(name, preset) for name in ALL_ORDER]  # a bad preset fails before any work
    cache = Path(args.cache) if args.cache else out.resolve() / f"cache-{preset.name}"
    if args.status:
        from interplay.studies.run import print_status

        for recipe in recipes:
            print_status(preset, recipe, cache)
        return 0
    failed: list[str] = []
    for recipe in recipes:
        if args.dry_run:
            print_plan(preset, recipe)
            continue
        print(f"\n##### study {recipe.study} ({ALL_ORDER.index(recipe.study) + 1}/{len(ALL_ORDER)})", flush=True)
        try:
            run_study(preset, recipe, out / recipe.study, cache)
        except UserError as exc:
            failed.append(recipe.study)
            print(f"study {recipe.study} stopped: {exc}", file=sys.stderr, flush=True)
    if failed:
        print(f"studies that did not finish: {', '.join(failed)} (rerun the same command to resume)", file=sys.stderr)
        return 1
    return 0
