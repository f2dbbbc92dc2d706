"""Run a recipe's stages and write its report."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from interplay.provenance import code_version
from interplay.studies import report
from interplay.studies.document import Document
from interplay.studies.recipes import Preset, Recipe
from interplay.studies.stages import Stage, StageRunner


def _copy_tree_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name("." + dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    shutil.rmtree(dst, ignore_errors=True)
    os.replace(tmp, dst)


def run_demo(preset: Preset, stages: list[Stage], out: Path) -> Document:
    t0 = time.perf_counter()
    runner = StageRunner(out, hashed_dirs=False)
    records = runner.run(stages)
    evals = {"base": report.load_results(runner.dirs["eval-base"]),
             "RL": report.load_results(runner.dirs["eval-rl"])}
    shutil.copyfile(runner.dirs["eval-rl"] / "results.json", out / "results.json")
    _copy_tree_atomic(runner.dirs["rl"] / "final", out / "final")

    doc = Document("interplay demo")
    doc.text(f"Preset {preset.name} ({preset.source}). A small Qwen2 pre-trained from scratch on synthetic "
             "dependency-graph problems, then GRPO with the verifier's reward; both evaluated with "
             "process-verified pass@k. results.json is the RL model's evaluation; final/ its checkpoint.")
    report.add_model_section(doc, evals, out, "demo_pass_at_k")
    counts = {"base": report.problem_counts(runner.dirs["eval-base"]), "RL": report.problem_counts(runner.dirs["eval-rl"])}
    report.add_changes(doc, evals, report.paired_errors(counts, evals))
    doc.heading("RL run", 2)
    doc.table(*_rl_summary(runner.dirs["rl"]))
    doc.heading("Stages and run times", 2)
    doc.table(*report.stage_table(records))
    doc.text(f"This invocation took {time.perf_counter() - t0:.0f} s wall (stages done earlier were reused).")
    report.add_commands(doc, records, out)
    doc.write(out)
    print(f"\nreport: {out / 'report.md'} (and report.html); results: {out / 'results.json'}; model: {out / 'final'}")
    return doc


def _rl_summary(folder: Path) -> tuple[list[str], list[list[object]]]:
    rows = []
    path = folder / "metrics.jsonl"
    if path.is_file():
        for line in path.read_text().splitlines():
            r = json.loads(line)
            if "reward/mean" in r:
                rows.append(r)
    keys = ["reward/mean", "rollout/outcome_accuracy", "rollout/process_accuracy", "completions/mean_length", "kl"]
    picked = rows[:1] + rows[len(rows) // 2: len(rows) // 2 + 1] + rows[-1:] if len(rows) > 3 else rows
    return ["step", *keys], [[r.get("step"), *(r.get(k) for k in keys)] for r in picked]


# -- studies ------------------------------------------------------------------------------------------


def print_plan(preset: Preset, recipe: Recipe) -> None:
    """The stage graph as commands; {final:NAME}, {dir:NAME}, {ranges:…}, {arm:…} are filled in at run time."""
    print(f"# study {recipe.study}, preset {preset.name} ({preset.source}): {len(recipe.stages)} stages")
    for i, stage in enumerate(recipe.stages, 1):
        needs = f"  (after: {', '.join(stage.deps)})" if stage.deps else ""
        print(f"# [{i}] {stage.name}: {stage.title}{needs}")
        launcher = preset.launcher if stage.kind in ("pretrain", "midtrain", "rl") else "interplay"
        if stage.kind == "problems":
            launcher, stage_argv = "python -m interplay.studies.problems", stage.argv[1:]
        else:
            stage_argv = stage.argv
        argv = [a.replace("{out}", f"<cache>/{stage.name}-<hash>") for a in stage_argv]
        print(f"{launcher} " + " ".join(shlex.quote(a) for a in argv))


def print_status(preset: Preset, recipe: Recipe, cache: Path) -> list[dict[str, object]]:
    """Where a study stands in its cache (`interplay study NAME --status`): one line per stage."""
    rows = StageRunner(cache, launcher=preset.launcher).status(recipe.stages)
    counts = {state: sum(r["state"] == state for r in rows) for state in ("done", "partial", "to run", "waits")}
    summary = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    seed = "" if preset.seed is None else f", seed {preset.seed}"
    print(f"# study {recipe.study}, preset {preset.name}{seed}: {len(rows)} stages ({summary}); "
          f"cache {Path(cache).resolve()}")
    width = max(len(r["stage"]) for r in rows)
    for i, r in enumerate(rows, 1):
        print(f"[{i:>2}] {r['stage']:<{width}}  {r['state']:<7}  {r['detail']}".rstrip())
    return rows


@dataclass
class StudyRun:
    doc: Document  # the report as written (with its findings rows)
    dirs: dict[str, Path]  # stage name -> its folder in the cache


def run_study(preset: Preset, recipe: Recipe, out: Path, cache: Path) -> StudyRun:
    from interplay.studies import study_reports

    t0 = time.perf_counter()
    runner = StageRunner(cache, launcher=preset.launcher)
    records = runner.run(recipe.stages)
    out.mkdir(parents=True, exist_ok=True)
    doc = study_reports.write(preset, recipe, runner, out)
    doc.heading("Stages and run times", 2)
    doc.text(f"Stage folders are in {cache} (shared with other studies on this preset). Times are those of the runs "
             f"that made each stage, summed over its attempts when it was interrupted and resumed (\"?\": made "
             f"before attempts were counted, last attempt only); this invocation took {time.perf_counter() - t0:.0f} s wall. "
             f"\"code\" is the code that made each stage; this report was written by {code_version()}.")
    doc.table(*report.stage_table(records))
    report.add_commands(doc, records, out, preset.launcher)
    doc.write(out)
    (out / "stages.json").write_text(json.dumps(records, indent=1) + "\n")
    print(f"\nreport: {out / 'report.md'} (and report.html)")
    return StudyRun(doc, dict(runner.dirs))
