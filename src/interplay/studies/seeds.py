"""One study at several seeds, and a report that puts them side by side (`interplay study NAME --seeds 0,1,2`).

Each seed is a whole study in OUT/seed-N/ (its own report, stages from the shared cache: the corpus and
tokenizer are the same for every seed, so they are built once). OUT/report.md then gives, for every model
of the study and every op range, the mean and sample standard deviation over the seeds with each seed's
value, and how many seeds each of the paper's findings held in. Small models on a few dozen problems per
range swing by several points between seeds; this is the table to quote.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from interplay.errors import UserError
from interplay.studies import report
from interplay.studies.document import Document


def parse_seeds(text: str) -> list[int]:
    """`0,1,2` or a range `0-4` -> distinct seeds in order; a clear error for anything else."""
    try:
        if "-" in text and "," not in text:
            lo, hi = (int(v) for v in text.split("-"))
            seeds = list(range(lo, hi + 1))
        else:
            seeds = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"--seeds: expected seeds like 0,1,2 or 0-4, got {text!r}") from None
    if len(seeds) < 2 or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise UserError(f"--seeds: give two or more distinct seeds >= 0, got {text!r}")
    return seeds


def run_seeds(preset_file: str, study: str, seeds: list[int], out: Path, cache: Path,
              overrides: list[str] | None = None) -> Document:
    from interplay.studies.recipes import Preset, study_recipe
    from interplay.studies.run import run_study

    runs: dict[int, tuple[dict[str, Any], list[tuple]]] = {}
    context_b: dict[int, dict[str, dict[int, dict[str, float]]]] = {}  # seed -> label -> op -> metric@k
    for i, seed in enumerate(seeds, 1):
        preset = Preset.load(preset_file, seed=seed, overrides=overrides or ())
        recipe = study_recipe(study, preset)
        print(f"\n##### seed {seed} ({i}/{len(seeds)})", flush=True)
        folder = out / f"seed-{seed}"
        result = run_study(preset, recipe, folder, cache)
        evals = {label: report.load_results(result.dirs[stage]) for label, stage in recipe.evals.items()}
        if study == "context":
            from interplay.studies.study_reports import context_ranges

            # Over the study's own ranges, as each seed's report shows them; and the study's figure, context B by
            # op, read from the samples as its report does.
            evals = context_ranges(recipe, result.dirs, evals)[0]
            ks = next(iter(evals.values()))["ks"]
            context_b[seed] = {label: report.context_by_op(result.dirs[stage], recipe.extra["context_b"], ks)
                               for label, stage in recipe.evals.items()}
        runs[seed] = (evals, result.doc.findings)
    summary = seed_summary(study, preset.name, runs, context_b or None)
    summary.write(out)
    print(f"\nreport over seeds {', '.join(map(str, seeds))}: {out / 'report.md'} (and report.html)")
    return summary


def _spread(values: list[float | None]) -> str | None:
    """'mean ± sd (v1 / v2 / …)' over the seeds; None when a seed lacks the value."""
    if not values or any(v is None for v in values):
        return None
    mean = statistics.mean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.3f} ± {sd:.3f} ({' / '.join(f'{v:.3f}' for v in values)})"


def seed_summary(study: str, preset_name: str, runs: dict[int, tuple[dict[str, Any], list[tuple]]],
                 context_b: dict[int, dict[str, dict[int, dict[str, float]]]] | None = None) -> Document:
    """The report over seeds. `runs`: seed -> (label -> results.json of that seed, that seed's findings rows);
    `context_b` (context study): seed -> label -> op -> {"process@k": value, ...} on context B."""
    from interplay.studies.study_reports import TITLES

    seeds = list(runs)
    doc = Document(f"{TITLES[study]} — preset {preset_name}, seeds {', '.join(map(str, seeds))}")
    doc.text("Each seed is the whole study with every training stage's train.seed and the evaluation's sampling "
             "seed set to it (same corpus and tokenizer). Cells: mean ± sample standard deviation over the seeds, "
             "then each seed's value in seed order. Per-seed reports: "
             + ", ".join(f"[seed {s}](seed-{s}/report.md)" for s in seeds) + ".")
    first = runs[seeds[0]][0]
    labels = list(first)
    ranges = report.evaluated_ranges(first)
    # Each seed pre-trains its own base model, so a ladder can give each seed other op ranges: then a range's
    # row averages different ops, and the reader must know.
    spans = {s: {name: tuple(r) for name, r in next(iter(runs[s][0].values())).get("op_ranges", {}).items()}
             for s in seeds}
    if len({tuple(sorted(v.items())) for v in spans.values()}) > 1:
        doc.text("**The seeds' op ranges differ** (each seed's ladder on its own base model), so a range's cells "
                 "below average different ops: " + "; ".join(
                     f"seed {s}: " + ", ".join(f"{name} = op {a}-{b}" for name, (a, b) in v.items())
                     for s, v in spans.items()) + ".")
    kmax = max(next(iter(first.values()))["ks"])
    for metric, k in (("process", 1), ("process", kmax), ("outcome", 1), ("outcome", kmax)):
        doc.heading(f"{metric} pass@{k} by op range", 2)
        rows = []
        for label in labels:
            cells = []
            for r in ranges:
                values = [report.pass_value(runs[s][0][label], "op_range", r, metric, k) if label in runs[s][0]
                          else None for s in seeds]
                cells.append(_spread(values))
            rows.append([label, *cells])
        doc.table(["model", *ranges], rows)
    if study == "rewards":  # the rates its findings compare, arm by arm
        from interplay.studies.study_reports import REWARD_RATES

        for column, what in REWARD_RATES:
            doc.heading(f"{what[0].upper()}{what[1:]} by op range", 2)
            doc.table(["model", *ranges],
                      [[label, *[_spread([report.error_value(runs[s][0][label], r, column) if label in runs[s][0]
                                          else None for s in seeds]) for r in ranges]] for label in labels])
    if context_b:
        ops = sorted({o for per_label in context_b.values() for v in per_label.values() for o in v})
        for key in (f"process@{kmax}", "process@1"):
            doc.heading(f"{key.replace('@', ' pass@')} on context B by op", 2)
            doc.table(["model", *[f"op {o}" for o in ops]],
                      [[label, *[_spread([context_b[s].get(label, {}).get(o, {}).get(key) for s in seeds]) for o in ops]]
                       for label in labels])
    claims: dict[str, list[bool | None]] = {}
    for s in seeds:
        for claim, _measured, _rule, holds in runs[s][1]:
            claims.setdefault(claim, [None] * len(seeds))[seeds.index(s)] = holds
    if claims:
        doc.heading("The paper's findings, seed by seed", 2)
        verdict = {True: "yes", False: "no", None: "n/a"}
        doc.table(["claim", *[f"seed {s}" for s in seeds], "held in"],
                  [[claim, *[verdict[v] for v in values], f"{sum(v is True for v in values)} of {len(seeds)}"]
                   for claim, values in claims.items()])
    return doc
