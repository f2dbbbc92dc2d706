"""The report of each study: the paper's figures as tables and plots, from the stages' evaluations."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from interplay.studies import report
from interplay.studies.document import Document
from interplay.studies.recipes import Preset, Recipe
from interplay.studies.stages import StageRunner, last_value

TITLES = {
    "ladder": "Ladder: the base model's ID / OOD-edge / OOD-hard op ranges",
    "extrapolation": "Extrapolation: RL on ID, mixed, edge and hard op ranges (paper Figure 3)",
    "context": "Context transfer: context B exposure in pre-training, then RL on 50% A + 50% B (paper Figure 4)",
    "allocation": "Allocation: one compute budget split between mid-training and RL (paper Figures 6 and 18)",
    "rewards": "Rewards: outcome, composite and strict rewards (paper Figures 7 and 8)",
}


def write(preset: Preset, recipe: Recipe, runner: StageRunner, out: Path) -> Document:
    doc = Document(f"{TITLES[recipe.study]} — preset {preset.name}")
    doc.text(f"Preset file: {preset.source}{_seed_note(preset)}. Every number below is read from the evaluations' results.json / "
             "samples.jsonl in the stage folders; nothing is adjusted after the fact.")
    if "ladder" in runner.dirs:
        _ladder_section(doc, preset, runner.dirs["ladder"] / "ladder.yaml")
    evals = {label: report.load_results(runner.dirs[stage]) for label, stage in recipe.evals.items()}
    {"ladder": _ladder, "extrapolation": _extrapolation, "context": _context,
     "allocation": _allocation, "rewards": _rewards}[recipe.study](doc, preset, recipe, runner, evals, out)
    return doc


def _ladder_section(doc: Document, preset: Preset, path: Path) -> None:
    import yaml

    data = yaml.safe_load(path.read_text()) or {}
    doc.heading("Ladder of the base model", 2)
    ranges = data.get("op_ranges") or {}
    doc.text("From the base model's evaluation (`interplay ladder`; ID: pass@k ≥ the ID threshold from op 2 up, "
             "OOD-hard: pass@k ≤ the hard threshold up to the largest op, OOD-edge between). Proposed: "
             + (", ".join(f"{k} = op {v[0]}–{v[1]}" for k, v in ranges.items() if v) or "no range")
             + ("." if preset.op_ranges is None else
                f". This preset fixes the study's ranges instead: {preset.op_ranges}."))
    for note in data.get("notes") or []:
        doc.text(f"Ladder note: {note}")


def _ladder(doc, preset, recipe, runner, evals, out) -> None:
    doc.heading("Base model", 2)
    report.add_model_section(doc, evals, out, "ladder")


def _extrapolation(doc, preset, recipe, runner, evals, out) -> None:
    doc.heading("RL arms", 2)
    rows = []
    for stage in recipe.stages:
        if stage.kind == "rl":
            argv = runner.records[stage.name]["argv"]
            ops = next((a.split("=", 1)[1] for a in argv if a.startswith("data.ops=")), "")
            rows.append([stage.name, ops])
    doc.table(["arm", "RL op range"], rows)
    doc.text("Figure 3 of the paper: RL on the edge range lifts pass@k at large k on OOD-edge; RL on ID data "
             "sharpens pass@1 there without lifting pass@k_max; nothing moves on OOD-hard.")
    report.add_model_section(doc, evals, out, "extrapolation")
    if evals.get("base") is not None:
        errors = report.paired_errors(_problem_counts(runner, recipe, evals), evals)
        report.add_changes(doc, evals, errors)
        _checks(doc, extrapolation_checks(evals, errors))


def _problem_counts(runner: StageRunner, recipe: Recipe, evals: dict[str, Any]) -> dict[str, list[Any]]:
    """label -> that evaluation's per-problem counts (for paired comparisons on the same problems)."""
    return {label: report.problem_counts(runner.dirs[recipe.evals[label]]) for label in evals}


def extrapolation_checks(evals: dict[str, Any], errors: report.Errors | None = None
                         ) -> list[tuple[str, str | None, str, bool | None]]:
    """Figure 3's claims as rules: the issue's two (edge lifts OOD-edge pass@k_max by 10 points; ID leaves ID
    pass@k_max within 3), then the rest of the paper's sentence: RL on ID sharpens ID pass@1, and RL on the
    hard range moves nothing on OOD-hard. With `errors` (paired standard errors), each measured change shows
    its error, and "sharpens" asks for a gain above twice it: a change inside the noise is not a sharpening."""
    errors = errors or {}
    kmax = max(evals["base"]["ks"])
    edge = report.change(evals, "RL edge", "OOD-edge", kmax)
    id_ = report.change(evals, "RL id", "ID", kmax)
    sharp = report.change(evals, "RL id", "ID", 1)
    hard = report.change(evals, "RL hard", "OOD-hard", kmax)
    sharp_se = errors.get(("RL id", "ID", 1))
    if sharp is None:
        sharp_ok = None
    else:
        sharp_ok = sharp > 0 if sharp_se is None else sharp > 2 * sharp_se
    return [
        (f"RL on the edge range raises OOD-edge process pass@{kmax} by at least 10 points",
         report.points(edge, errors.get(("RL edge", "OOD-edge", kmax))), ">= +10.0", None if edge is None else edge >= 0.10),
        (f"RL on the ID range moves ID process pass@{kmax} by less than 3 points",
         report.points(id_, errors.get(("RL id", "ID", kmax))), "|Δ| < 3.0", None if id_ is None else abs(id_) < 0.03),
        ("RL on the ID range sharpens ID process pass@1", report.points(sharp, sharp_se),
         "> 0" if sharp_se is None else "> 2 s.e.", sharp_ok),
        (f"RL on the hard range moves OOD-hard process pass@{kmax} by less than 3 points",
         report.points(hard, errors.get(("RL hard", "OOD-hard", kmax))), "|Δ| < 3.0", None if hard is None else abs(hard) < 0.03),
    ]


def _checks(doc: Document, rows: list[tuple[str, Any, str, bool | None]]) -> None:
    """The paper's qualitative claims as rules on this run's numbers: measured, criterion, holds or not."""
    doc.findings += rows
    doc.heading("The paper's findings, checked on this run", 3)
    doc.text("Each claim is a fixed rule on the numbers above (points = percentage points of process-verified "
             "pass@k); \"no\" means the finding did not reproduce in this run, \"n/a\" that an arm or range is missing "
             "or that no arm scores above zero there (nothing to compare).")
    doc.table(["claim", "measured", "criterion", "holds"],
              [[claim, measured, rule, "n/a" if ok is None else ("yes" if ok else "no")]
               for claim, measured, rule, ok in rows])


def _share_wins(evals: dict[str, Any], plans: list[dict[str, Any]], op_range: str, k: int,
                group: Any, counts: Mapping[str, list[Any]] | None = None) -> tuple[str | None, bool | None]:
    """Does the best allocation arm on `op_range` (process pass@k) have a share β in `group`, strictly above
    every arm outside it? (measured text, verdict); n/a when an arm is missing or no arm scores above 0.
    With the evaluations' per-problem `counts`, the margin over the best arm outside the group is paired
    problem by problem and must exceed twice its standard error: a lead inside the noise is no win."""
    values = {}
    for plan in plans:
        label = f"β = {plan['rl_share']:g}"
        if label not in evals:
            return None, None
        values[plan["rl_share"]] = report.pass_value(evals[label], "op_range", op_range, "process", k)
    if any(v is None for v in values.values()) or max(values.values()) <= 0:
        return (None if any(v is None for v in values.values()) else "every arm 0.000"), None
    inside = [v for beta, v in values.items() if group(beta)]
    outside = [v for beta, v in values.items() if not group(beta)]
    top = max(values.values())
    best = [beta for beta, v in values.items() if v == top]  # a tie names every arm at the top
    measured = f"best β = {', '.join(f'{b:g}' for b in best)} ({top:.3f})"
    if not inside or not outside:
        return measured, None
    win = max(inside) > max(outside)
    if counts is not None and win:
        from interplay.verify.passk import paired_difference

        # Against every arm outside the group, not only the best by mean: a lower arm with a noisier
        # difference can be the one the lead does not clear. The text names the closest call.
        ahead = f"β = {max((beta for beta in values if group(beta)), key=values.get):g}"
        lo, hi = evals[ahead]["op_ranges"][op_range]
        margins = []
        for beta in (beta for beta in values if not group(beta)):
            got = paired_difference(counts[ahead], counts[f"β = {beta:g}"], "process", k, (lo, hi))
            if got is not None and got[1] is not None:
                margins.append((got[0] - 2 * got[1], f"β = {beta:g}", got))
        if margins:
            _, other, got = min(margins)
            measured += f"; {report.points(got[0], got[1])} points over {other}"
            if len(margins) > 1:
                measured += f" (the closest of {len(margins)} arms outside)"
            win = all(margin > 0 for margin, _, _ in margins)
    return measured, win


def _context(doc, preset, recipe, runner, evals, out) -> None:
    b = recipe.extra["context_b"]
    exposures = recipe.extra["exposures"]
    any_res = next(iter(evals.values()))
    ks = any_res["ks"]
    kmax = max(ks)
    doc.heading(f"Context B ({b}) pass@k by op", 2)
    rl_ops = recipe.extra.get("rl_ops")
    rl_where = "all ops" if rl_ops is None else f"op {rl_ops[0]}-{rl_ops[1]}"
    doc.text(f"Context B appears in pre-training only at op 2, at the exposure shown; RL then trains on 50% A + "
             f"50% B over {rl_where}. Paper Figure 4: with 0% or 0.1% exposure RL leaves B near zero; from about 1% "
             "RL carries the reasoning over to B.")
    seen = [pretraining_exposure(runner.dirs.get(f"corpus-b{e}"), runner.dirs.get(f"pretrain-b{e}"), b)
            for e in exposures]
    if any(seen):
        doc.text("What each base model saw of B: the exposure is a share of the pre-training split, but a small "
                 "model learns from a count. Problems seen is the split's B problems times the share of the split "
                 "the pre-training read (its tokens over the split's), an expected count: rows are drawn in a "
                 "seeded order, not B by B.")
        doc.table(["exposure", "B problems in the split (of all)", "tokens trained (of the split's)",
                   "B problems seen (about)"],
                  [[f"{e}%", "—", "—", "—"] if x is None else
                   [f"{e}%", f"{x['b_problems']:,} of {x['problems']:,}",
                    f"{x['tokens_trained']:,} of {x['split_tokens']:,}", f"{x['b_seen']:,.0f}"]
                   for e, x in zip(exposures, seen, strict=True)])
    by_label = {label: report.context_by_op(runner.dirs[stage], b, ks) for label, stage in recipe.evals.items()}
    ops = sorted({o for v in by_label.values() for o in v})
    for metric, k in (("process", kmax), ("process", 1), ("outcome", kmax)):
        doc.heading(f"{metric} pass@{k} on context B", 3)
        doc.table(["model"] + [f"op {o}" for o in ops],
                  [[label] + [v.get(o, {}).get(f"{metric}@{k}") for o in ops] for label, v in by_label.items()])
    scope = [o for o in ops if rl_ops is None or rl_ops[0] <= o <= rl_ops[1]] or ops
    where = f"mean over op {scope[0]}-{scope[-1]}" if scope else "mean over ops"
    if rl_ops is not None:
        doc.text(f"The summary below averages over op {rl_ops[0]}-{rl_ops[1]}, the ops RL trains on: beyond them "
                 "the base models solve neither context, and averaging those zeros in would only dilute a change. "
                 "The tables above give every op.")
    labels = [f"{e}%" for e in exposures]
    series = context_series(by_label, exposures, kmax, scope)
    report.plot_bars(labels, series, out / "context_b.png", f"process pass@{kmax} on B ({where})")
    doc.image("context_b.png", f"process pass@{kmax} on context B, {where}, by exposure")
    _checks(doc, context_checks(series, exposures, kmax, where,
                                context_errors(runner, recipe, exposures, b, kmax, scope)))
    doc.heading("All contexts", 2)
    evals, ranges = context_ranges(recipe, runner.dirs, evals)
    if ranges is not None:
        trained, ood = ranges["ID"], ranges.get("OOD")
        doc.text(f"Both contexts together, over this study's own ranges: ID = op {trained[0]}-{trained[1]}, the ops "
                 "of the pre-training split (context A at every one of them, B at op 2 only)"
                 + (f", OOD = op {ood[0]}-{ood[1]}, beyond them" if ood else "")
                 + ". Recomputed from each evaluation's samples.jsonl: the evaluations' own results.json group the "
                 "ops by the preset's ranges (or `interplay eval`'s defaults), which describe the shared base model's "
                 "pre-training, not these four.")
    report.add_model_section(doc, evals, out, "context")


def context_ranges(recipe, dirs: Mapping[str, Path], evals: dict[str, Any]
                   ) -> tuple[dict[str, Any], dict[str, tuple[int, int]] | None]:
    """The context study's evaluations over its own op ranges: ID = the ops its pre-training split covered,
    OOD = the evaluated ops beyond them, and those ranges; (evals, None) unchanged before the corpus exists.

    The evaluations ran with the preset's fixed ranges or `interplay eval`'s defaults (no ladder labelled these
    four pre-trainings: they are not the preset's shared base model). Neither describes these models (the
    paper preset's context corpora pre-train context A over op 2-20, its ranges say ID = op 2-10), so the
    study's report and its summary over seeds both regroup the samples with this one function.
    """
    trained = pretraining_ops(dirs.get(f"corpus-b{recipe.extra['exposures'][0]}"))
    if trained is None:
        return evals, None
    top = max(o for res in evals.values() for o in report.evaluated_ops(res))
    ranges = {"ID": trained, **({"OOD": (trained[1] + 1, top)} if top > trained[1] else {})}
    return {label: report.regroup(dirs[recipe.evals[label]], res, ranges) for label, res in evals.items()}, ranges


def pretraining_ops(corpus: Path | None) -> tuple[int, int] | None:
    """The lowest and highest op of a corpus's pre-training split (its manifest's counts); None when the
    corpus is not built yet."""
    import json

    try:
        ops = [int(op) for op in json.loads((corpus / "manifest.json").read_text())["splits"]["pretrain"]["counts"]]
    except (TypeError, OSError, ValueError, KeyError):
        return None
    return (min(ops), max(ops)) if ops else None


def pretraining_exposure(corpus: Path | None, pretrain: Path | None, context: str) -> dict[str, Any] | None:
    """How much of `context` a pre-training saw: its split's problems of that context (the corpus manifest's
    counts), the tokens trained (the run's last logged `tokens`) against the split's (its token cache), and
    the expected number of those problems read. None when a file is missing (a stage not run yet)."""
    import json

    try:
        split = json.loads((corpus / "manifest.json").read_text())["splits"]["pretrain"]
        split_tokens = int(json.loads((pretrain / "data" / "train" / "meta.json").read_text())["tokens"])
    except (TypeError, OSError, ValueError, KeyError):
        return None
    trained = last_value(pretrain / "metrics.jsonl", "tokens", whole=True)
    if trained is None or split_tokens <= 0:
        return None
    b = sum(n for by_ctx in split["counts"].values() for n in by_ctx.get(context, {}).values())
    return {"b_problems": b, "problems": int(split["rows"]), "tokens_trained": int(trained),
            "split_tokens": split_tokens, "b_seen": b * trained / split_tokens}


def context_series(by_label: dict[str, dict[int, dict[str, float]]], exposures: list[str], kmax: int,
                   ops: list[int]) -> dict[str, list[float | None]]:
    """Process pass@kmax on context B averaged over `ops`, per exposure, for the base and the RL model."""
    return {f"{kind} pass@{kmax}": [_mean([by_label.get(f"{kind} {e}%", {}).get(o, {}).get(f"process@{kmax}")
                                           for o in ops]) for e in exposures]
            for kind in ("base", "RL")}


def context_errors(runner: StageRunner, recipe: Recipe, exposures: list[str], context: str, kmax: int,
                   ops: list[int]) -> list[float | None]:
    """Per exposure, the paired standard error of RL's change to B's process pass@kmax averaged over `ops`
    (each op's per-problem differences on the same B problems, combined as a mean of op means)."""
    from interplay.verify.passk import paired_difference_over_ops

    out: list[float | None] = []
    for e in exposures:
        dirs = [runner.dirs.get(recipe.evals.get(f"{kind} {e}%", "")) for kind in ("RL", "base")]
        if any(d is None for d in dirs):
            out.append(None)
            continue
        rl, base = ([p for p in report.problem_counts(d) if p.context == context] for d in dirs)
        got = paired_difference_over_ops(rl, base, "process", kmax, ops)
        out.append(None if got is None else got[1])
    return out


def context_checks(series: dict[str, list[float | None]], exposures: list[str], kmax: int,
                   where: str, errors: list[float | None] | None = None) -> list[tuple[str, Any, str, bool | None]]:
    """Issue 7's context criteria: 0% exposure leaves B near zero after RL; >= 1% raises it by 20 points; and the
    paper's other non-transfer arm: at 0.1%, RL adds less than 5 points to B (whatever the base knew of it).
    `errors` (per exposure, paired s.e. of RL's change) are shown beside the changes; the rules stay fixed."""
    checks: list[tuple[str, Any, str, bool | None]] = []
    errors = errors or [None] * len(exposures)
    for e, before, after, se in zip(exposures, series[f"base pass@{kmax}"], series[f"RL pass@{kmax}"], errors,
                                    strict=True):
        change = None if before is None or after is None else after - before
        if float(e) == 0:
            checks.append((f"0% exposure: after RL, B stays near zero (process pass@{kmax}, {where})",
                           None if after is None else f"{100 * after:.1f}", "< 5.0", None if after is None else after < 0.05))
        elif float(e) < 1:
            checks.append((f"{e}% exposure: RL adds less than 5 points to B's process pass@{kmax} ({where})",
                           report.points(change, se), "< +5.0", None if change is None else change < 0.05))
        else:
            checks.append((f"{e}% exposure: RL raises B's process pass@{kmax} ({where}) by at least 20 points",
                           report.points(change, se), ">= +20.0", None if change is None else change >= 0.20))
    return checks


def _seed_note(preset) -> str:
    if preset.seed is None:
        return ""
    return f", seed {preset.seed} (every training stage's train.seed and the evaluation's --seed)"


def _mean(values: list[float | None]) -> float | None:
    vs = [v for v in values if v is not None]
    return sum(vs) / len(vs) if vs else None


def _allocation(doc, preset, recipe, runner, evals, out) -> None:
    plans = recipe.extra["plans"]
    doc.heading("Budget split (interplay.budget)", 2)
    p0 = plans[0]
    per_rl = float(p0["rl_token_equivalents_per_step"])
    doc.text(f"Total {p0['total_tokens']:,} training-token equivalents; a mid-training step is "
             f"{p0['mid_tokens_per_step']:,} tokens; an RL step costs {per_rl:,.0f} "
             f"token equivalents ((5/3)·N·r·L_total with N = {p0['prompts']}, r = {p0['rollouts']}, "
             f"L_total = {p0['seq_len']}). Both train on the OOD-edge ops: mid-training on the corpus's midtrain "
             "split restricted to them (next-token loss), RL on prompts from them. "
             "Steps are whole numbers, so the cost actually spent (`spent`) can differ slightly from the plan. "
             "An RL step is charged at the maximum prompt and completion lengths, as the paper counts it; the last "
             "column counts the tokens the RL arm's rollouts really had (its `budget/token_equivalents_generated`, "
             "same factor), which is what its compute really was.")
    rows = []
    for p in plans:
        spent = p["mid_steps"] * p["mid_tokens_per_step"] + p["rl_steps"] * per_rl
        stage = recipe.extra.get("rl_stages", {}).get(f"{p['rl_share']:g}")
        generated = (last_value(runner.dirs[stage] / "metrics.jsonl", "budget/token_equivalents_generated")
                     if stage in runner.dirs else None)
        rows.append([f"{p['rl_share']:g}", p["mid_steps"], f"{float(p['mid_tokens']):,.0f}", p["rl_steps"],
                     f"{float(p['rl_token_equivalents']):,.0f}", f"{spent:,.0f}",
                     "0" if p["rl_steps"] == 0 else None if generated is None else f"{generated:,.0f}"])
    doc.table(["β (RL share)", "mid-training steps", "mid tokens (plan)", "RL steps", "RL token equivalents (plan)",
               "spent (steps × cost)", "RL token equivalents (generated)"], rows)
    any_res = next(iter(evals.values()))
    kmax = max(any_res["ks"])
    labels = [label for label in evals if label != "base"]
    for r in ("OOD-edge", "OOD-hard"):
        series = {f"pass@{k}": [report.pass_value(evals[l], "op_range", r, "process", k) for l in labels]
                  for k in (1, kmax)}
        report.plot_bars(labels, series, out / f"allocation_{r}.png", f"process pass@k on {r}")
        doc.image(f"allocation_{r}.png", f"{r}: process pass@1 and pass@{kmax} per allocation (Figure 6/18)")
    spent = [p["mid_steps"] * p["mid_tokens_per_step"] + p["rl_steps"] * per_rl for p in plans]
    spread = (max(spent) - min(spent)) / max(spent) if spent and max(spent) else None
    counts = _problem_counts(runner, recipe, evals)
    if "base" in evals:
        report.add_changes(doc, evals, report.paired_errors(counts, evals))
    light = _share_wins(evals, plans, "OOD-edge", 1, lambda beta: 0 < beta <= 0.5, counts)
    heavy = _share_wins(evals, plans, "OOD-hard", kmax, lambda beta: beta > 0.5, counts)
    _checks(doc, [("the arms cost the same token equivalents (spread of 'spent' over the arms)",
                   None if spread is None else f"{100 * spread:.2f}%", "< 1%", None if spread is None else spread < 0.01),
                  ("mid-training plus light RL gives the best OOD-edge process pass@1", light[0],
                   "best arm has 0 < β ≤ 0.5, ahead of every other arm by more than 2 s.e.", light[1]),
                  (f"heavy RL wins on OOD-hard (process pass@{kmax})", heavy[0],
                   "best arm has β > 0.5, ahead of every other arm by more than 2 s.e.", heavy[1])])
    report.add_model_section(doc, evals, out, "allocation")


def _rewards(doc, preset, recipe, runner, evals, out) -> None:
    doc.heading("Reward arms", 2)
    doc.table(["arm", "reward"], [[arm, str(spec)] for arm, spec in preset.rewards.items()])
    doc.text("Figures 7 and 8 of the paper: process-aware rewards lower the share of right answers reached by a wrong "
             "process and the structural errors (missing nodes, dependency mismatches).")
    for r in next(iter(evals.values()))["op_ranges"]:
        doc.heading(f"Right answer, wrong process and structural errors on {r}", 3)
        doc.table(*report.error_rows(evals, "op_range", r))
    _checks(doc, rewards_checks(evals, _rewards_differences(runner, recipe, evals)))
    report.add_model_section(doc, evals, out, "rewards")


def _rewards_differences(runner: StageRunner, recipe: Recipe, evals: dict[str, Any]
                         ) -> dict[str, tuple[float, float | None, int] | None]:
    """column -> strict minus outcome-only on OOD-edge, problem by problem (`report.rate_difference`)."""
    if not {"RL strict", "RL outcome"} <= evals.keys() or "OOD-edge" not in evals["RL strict"]["op_ranges"]:
        return {}
    lo, hi = evals["RL strict"]["op_ranges"]["OOD-edge"]
    strict, outcome = (report.samples(runner.dirs[recipe.evals[label]]) for label in ("RL strict", "RL outcome"))
    return {column: report.rate_difference(strict, outcome, column, (int(lo), int(hi)))
            for column in ("dependency", "right_answer_wrong_process")}


# The error-table rates the rewards findings compare (column, what it is).
REWARD_RATES = (("dependency", "dependency-mismatch rate"),
                ("right_answer_wrong_process", "right-answer-wrong-process rate (of all samples)"),
                ("right_answer_wrong_process_of_correct", "share of right answers with a wrong process"))


def rewards_checks(evals: dict[str, Any], differences: Mapping[str, tuple[float, float | None, int] | None]
                   | None = None) -> list[tuple[str, str | None, str, bool | None]]:
    """The rewards study's findings rows: strict against outcome-only on OOD-edge. The criterion is the
    issue's (strict lower); with `differences` (column -> strict minus outcome, paired over the problems, ±
    s.e.) the measured text also shows the gap and its noise, so a "yes" inside ±2 s.e. reads as one."""
    differences = differences or {}
    checks = []
    # The rates are over all samples, so a model that reaches fewer right answers lowers the second one without
    # hacking less; the third row asks the reward-hacking question itself: of the right answers, how many
    # came with a wrong process.
    for column, what in REWARD_RATES:
        strict, outcome = (report.error_value(evals.get(label) or {}, "OOD-edge", column)
                           for label in ("RL strict", "RL outcome"))
        known = strict is not None and outcome is not None
        measured = f"{strict:.3f} vs {outcome:.3f}" if known else None
        gap = differences.get(column)
        if measured is not None and gap is not None:
            measured += f" ({report.points(gap[0], gap[1])} points, paired over {gap[2]} problems)"
        checks.append((f"on OOD-edge, the strict reward gives a lower {what} than outcome-only",
                       measured, "strict < outcome", strict < outcome if known else None))
    return checks
