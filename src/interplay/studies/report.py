"""Study and demo reports: paper-figure-style tables and plots from the evaluations' results.json.

Every number comes from an evaluation folder (`results.json`, or `samples.jsonl` for cuts the
evaluation does not tabulate, e.g. context B by op); nothing is computed toward an expected answer.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from interplay.studies.document import Document

RANGES = ("ID", "OOD-edge", "OOD-hard")
# Rates over all samples, then the share of the right answers that came with a wrong process (the reward-hacking
# signal that fewer right answers alone cannot lower).
ERROR_COLUMNS = ("wrong_answer", "unparseable", "missing", "dependency", "value", "right_answer_wrong_process",
                 "right_answer_wrong_process_of_correct")


def load_results(folder: str | Path) -> dict[str, Any]:
    return json.loads((Path(folder) / "results.json").read_text())


def pass_row(results: Mapping[str, Any], group: str, key: str, metric: str, k: int) -> Mapping[str, Any] | None:
    """An evaluation's pass@k table row (pass_at_k, problems, se) for one group key, metric and k."""
    for row in results["tables"]["pass_at_k"]:
        if row["group"] == group and str(row["key"]) == str(key) and row["metric"] == metric and row["k"] == k:
            return row
    return None


def pass_value(results: Mapping[str, Any], group: str, key: str, metric: str, k: int) -> float | None:
    row = pass_row(results, group, key, metric, k)
    return None if row is None else float(row["pass_at_k"])


def error_value(results: Mapping[str, Any], op_range: str, column: str) -> float | None:
    """One error-table rate (e.g. "dependency") of an evaluation on an op range; None when absent or
    undefined (the share of right answers with a wrong process, of a model with no right answer)."""
    for row in results.get("tables", {}).get("errors", []):
        if row["group"] == "op_range" and str(row["key"]) == op_range:
            value = row.get(column)
            return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
    return None


# (label, op range, k) -> the paired standard error of that model's change against the base
Errors = Mapping[tuple[str, str, int], float | None]


def change(evals: Mapping[str, Mapping[str, Any]], label: str, op_range: str, k: int) -> float | None:
    """Process pass@k of `label` minus the base model's on one op range (None when either is missing)."""
    if label not in evals or "base" not in evals:
        return None
    a = pass_value(evals[label], "op_range", op_range, "process", k)
    b = pass_value(evals["base"], "op_range", op_range, "process", k)
    return None if a is None or b is None else a - b


def points(value: float | None, se: float | None = None) -> str | None:
    """A change in percentage points ("+1.2"), with its standard error when known ("+1.2 ± 0.8")."""
    if value is None:
        return None
    return f"{100 * value:+.1f}" + ("" if se is None else f" ± {100 * se:.1f}")


def paired_errors(counts: Mapping[str, Sequence[Any]], evals: Mapping[str, Mapping[str, Any]]
                  ) -> dict[tuple[str, str, int], float | None]:
    """(label, op range, k) -> the paired standard error of that model's process pass@k change against the
    base over the range's problems (pass@1 and pass@k_max), from both evaluations' per-problem `counts`."""
    from interplay.verify.passk import paired_difference

    base = evals["base"]
    kmax = max(base["ks"])
    out: dict[tuple[str, str, int], float | None] = {}
    for label in (label for label in evals if label != "base"):
        for name, (lo, hi) in base["op_ranges"].items():
            for k in (1, kmax):
                got = paired_difference(counts[label], counts["base"], "process", k, (lo, hi))
                out[(label, name, k)] = None if got is None else got[1]
    return out


def add_changes(doc: Document, evals: Mapping[str, Mapping[str, Any]], errors: Errors) -> None:
    """A table of each model's change against "base", process pass@1 and pass@k_max per op range, ± s.e."""
    base = evals["base"]
    kmax = max(base["ks"])
    doc.heading(f"Change against the base model (process pass@1 / pass@{kmax}, percentage points)", 3)
    doc.text("Each change is the mean over the range's problems of the model's pass@k minus the base model's on "
             "the same problem, ± its paired standard error (the spread of those per-problem differences over "
             "√problems: both the draw of the problems and of their completions). About ±2 s.e. is the noise band.")
    header = ["model"] + [f"{r} Δ@{k}" for r in base["op_ranges"] for k in (1, kmax)]
    rows = []
    for label in evals:
        if label != "base":
            rows.append([label] + [points(change(evals, label, r, k), errors.get((label, r, k)))
                                   for r in base["op_ranges"] for k in (1, kmax)])
    doc.table(header, rows)


def evaluated_ranges(evals: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The op ranges, in their order, that hold problems in at least one evaluation (an evaluation over
    op 2-10 with the paper's default ranges has nothing on OOD-edge 11-14: no empty columns for it)."""
    any_res = next(iter(evals.values()))
    present = {str(row["key"]) for res in evals.values() for row in res["tables"]["pass_at_k"]
               if row["group"] == "op_range"}
    return [r for r in any_res["op_ranges"] if r in present]


def range_table(evals: Mapping[str, Mapping[str, Any]], metric: str) -> tuple[list[str], list[list[Any]]]:
    """Rows: model; columns: pass@1 and pass@k_max on each op range (Figure 3's bars), each "value ± s.e."
    where the evaluation recorded its standard error over the range's problems."""
    any_res = next(iter(evals.values()))
    kmax = max(any_res["ks"])
    ranges = evaluated_ranges(evals)
    header = ["model"] + [f"{r} pass@{k}" for r in ranges for k in (1, kmax)]
    rows = []
    for label, res in evals.items():
        rows.append([label] + [_pass_cell(res, r, metric, k) for r in ranges for k in (1, kmax)])
    return header, rows


def _pass_cell(results: Mapping[str, Any], op_range: str, metric: str, k: int) -> float | str | None:
    from interplay.evaluate.report import with_error

    row = pass_row(results, "op_range", op_range, metric, k)
    if row is None:
        return None
    se = row.get("se")  # absent from evaluations older than the column; None for a single problem
    return float(row["pass_at_k"]) if se is None else with_error(float(row["pass_at_k"]), float(se))


def evaluated_ops(results: Mapping[str, Any]) -> set[int]:
    """The ops an evaluation holds problems at."""
    return {int(r["key"]) for r in results["tables"]["pass_at_k"] if r["group"] == "op"}


def op_table(evals: Mapping[str, Mapping[str, Any]], metric: str, k: int) -> tuple[list[str], list[list[Any]]]:
    ops = sorted(set().union(*(evaluated_ops(res) for res in evals.values())))
    header = ["model"] + [f"op {o}" for o in ops]
    rows = [[label] + [pass_value(res, "op", str(o), metric, k) for o in ops] for label, res in evals.items()]
    return header, rows


def error_rows(evals: Mapping[str, Mapping[str, Any]], group: str, key: str) -> tuple[list[str], list[list[Any]]]:
    header = ["model", "samples", *ERROR_COLUMNS]
    rows = []
    for label, res in evals.items():
        for row in res["tables"]["errors"]:
            if row["group"] == group and str(row["key"]) == key:
                rows.append([label, row["samples"], *(row.get(c) for c in ERROR_COLUMNS)])
    return header, rows


def plot_curves(evals: Mapping[str, Mapping[str, Any]], path: Path, metric: str = "process") -> None:
    """pass@k against k on each op range, one line per model (Figure 3's layout)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    any_res = next(iter(evals.values()))
    ranges = evaluated_ranges(evals) or list(any_res["op_ranges"])
    styles = line_styles(list(evals))
    fig, axes = plt.subplots(1, len(ranges), figsize=(4.2 * len(ranges), 3.4), squeeze=False)
    for ax, r in zip(axes[0], ranges):
        for label, res in evals.items():
            ks = res["ks"]
            ys = [pass_value(res, "op_range", r, metric, k) for k in ks]
            ax.plot(ks, [math.nan if y is None else y for y in ys], marker="o", ms=3, label=label, **styles[label])
        ax.set_xscale("log", base=2)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{r} {tuple(any_res['op_ranges'][r])}")
        ax.set_xlabel("k")
        ax.set_ylabel(f"{metric} pass@k")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def line_styles(labels: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Matplotlib styles that pair models of one arm: labels "base 1%" and "RL 1%" (a kind, then the arm)
    share a colour, the base solid and the RL model dashed; labels with an arm of their own get colours
    of their own ("base", "RL edge", ...)."""
    arms: dict[str, int] = {}
    for label in labels:
        arm = label.split(" ", 1)[1] if " " in label else label
        arms.setdefault(arm, len(arms))
    paired = {arm for arm in arms if sum((lab.split(" ", 1)[1] if " " in lab else lab) == arm for lab in labels) > 1}
    out = {}
    for label in labels:
        kind, _, arm = label.partition(" ")
        arm = arm or label
        out[label] = {"color": f"C{arms[arm] % 10}",
                      "linestyle": "--" if arm in paired and kind != "base" else "-"}
    return out


def plot_bars(labels: Sequence[str], series: Mapping[str, Sequence[float | None]], path: Path, ylabel: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(labels) * max(1, len(series)) / 2, 3.4))
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [j + i * width for j in range(len(labels))]
        ax.bar(xs, [0 if v is None else v for v in values], width, label=name)
    ax.set_xticks([j + width * (len(series) - 1) / 2 for j in range(len(labels))], labels, rotation=20, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def samples(eval_dir: Path) -> list[dict[str, Any]]:
    """A finished evaluation's samples.jsonl (read only: a report never rewrites a stage's files)."""
    with open(Path(eval_dir) / "samples.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def problem_counts(eval_dir: Path) -> list[Any]:
    """A finished evaluation's samples counted per problem (its per_problem.csv; samples.jsonl when an older
    evaluation has none): what paired comparisons of two evaluations on the same problems need."""
    from interplay.evaluate.report import read_per_problem
    from interplay.verify.passk import count_per_problem

    path = Path(eval_dir) / "per_problem.csv"
    return read_per_problem(path) if path.is_file() else count_per_problem(samples(eval_dir))


def rate_difference(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]], column: str,
                    ops: tuple[int, int] | None = None) -> tuple[float, float | None, int] | None:
    """Mean per-problem rate of an error-table `column` (a per-sample flag of `sample_flags`, e.g.
    "dependency") in samples `a` minus samples `b`, over the problems both hold (ops lo-hi only, when
    given), with its paired standard error: (difference, s.e., problems), s.e. None under two problems,
    None without a shared problem. With the same n samples for every problem (as `interplay eval` draws
    them) the difference equals that of the two pooled rates in the evaluations' error tables."""
    from interplay.evaluate.report import sample_flags
    from interplay.verify.passk import paired_mean

    def rates(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
        hits: dict[str, list[int]] = {}
        for row in rows:
            op = row.get("op")
            if ops is not None and (op is None or not ops[0] <= int(op) <= ops[1]):
                continue
            hits.setdefault(row["id"], []).append(int(sample_flags(row)[column]))
        return {pid: sum(v) / len(v) for pid, v in hits.items()}

    return paired_mean(rates(a), rates(b))


def regroup(eval_dir: Path, results: Mapping[str, Any], op_ranges: Mapping[str, tuple[int, int]]) -> dict[str, Any]:
    """`results` with its op-range rows of pass@k and errors recomputed for other `op_ranges`, from the
    evaluation's samples with the tables `interplay eval` itself writes (a report can name the ranges a study
    means without re-running, or re-keying, an evaluation that ran with other ones)."""
    from interplay.evaluate import report as eval_report

    rows = samples(eval_dir)
    return {**results, "op_ranges": {name: list(r) for name, r in op_ranges.items()},
            "tables": {**results["tables"], "pass_at_k": eval_report.pass_table(rows, results["ks"], op_ranges),
                       "errors": eval_report.error_table(rows, op_ranges)}}


def context_by_op(eval_dir: Path, context: str, ks: Sequence[int]) -> dict[int, dict[str, float]]:
    """pass@k on one context by op, from the evaluation's per-problem counts (its tables cut by op or by
    context, not both); the same counts the paired errors of the context rules read."""
    from interplay.verify.passk import aggregate_pass_at_k

    problems = [p for p in problem_counts(eval_dir) if p.context == context]
    out: dict[int, dict[str, float]] = {}
    if not problems:
        return out
    for r in aggregate_pass_at_k(problems, list(ks), {}):
        if r["group"] == "op":
            out.setdefault(int(r["key"]), {})[f"{r['metric']}@{r['k']}"] = float(r["pass_at_k"])
    return out


def stage_table(records: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    # `attempts`: how many runs the stage took (an interrupted stage resumes); times add up all of them.
    # Markers written before attempts were counted have no such field: their times are the last run's only.
    # `code`: the code that made the stage (interplay.provenance); "?" for markers written before it was recorded.
    rows = [[name, f"{r.get('wall_s', 0):.0f}", f"{r.get('cpu_s', 0):.0f}", r.get("attempts", "?"),
             r.get("finished_at", ""), r.get("code", "?")] for name, r in records.items()]
    total_wall = sum(float(r.get("wall_s", 0)) for r in records.values())
    total_cpu = sum(float(r.get("cpu_s", 0)) for r in records.values())
    rows.append(["total", f"{total_wall:.0f}", f"{total_cpu:.0f}", "", "", ""])
    return ["stage", "wall s (when it ran)", "CPU s", "attempts", "finished (UTC)", "code"], rows


# What each kind of stage records of its resolved settings, in its own folder.
RESOLVED_CONFIGS = {"corpus": "build.json", "pretrain": "final/interplay_run.json", "midtrain": "final/interplay_run.json",
                    "rl": "final/interplay_run.json", "eval": "eval_config.json", "ladder": "ladder.yaml"}


def save_resolved_configs(records: Mapping[str, Mapping[str, Any]], out: Path) -> list[str]:
    """Copy each stage's resolved config (every field, defaults and --set applied, as its command wrote it
    when it ran) to OUT/configs/STAGE.EXT: a report folder then says exactly what ran even after the
    repository's config files change or the stage cache is deleted. Returns the files written."""
    import shutil

    written = []
    for name, r in records.items():
        rel = RESOLVED_CONFIGS.get(r["argv"][0])
        source = Path(r["folder"]) / rel if rel else None
        if source is None or not source.is_file():
            continue
        target = out / "configs" / f"{name}{source.suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        written.append(str(target.relative_to(out)))
    return written


def add_commands(doc: Document, records: Mapping[str, Mapping[str, Any]], out: Path,
                 launcher: str = "interplay") -> None:
    """The exact commands (resolved configs, overrides and seeds) each stage ran, and a copy of each stage's
    resolved config next to the report."""
    doc.heading("Exact commands", 2)
    saved = save_resolved_configs(records, out)
    doc.text("Every stage is one command; its config file plus the --set overrides below are the complete settings "
             "(the seeds are the configs' `seed` fields and the evaluation's --seed). "
             + (f"The resolved config of each stage (every field, as its command recorded it when it ran) is copied "
                f"next to this report, in `configs/` ({len(saved)} files, one per stage that records one: "
                f"`configs/STAGE.json`, the ladder's ranges as `configs/ladder.yaml`)." if saved else ""))
    lines = []
    for r in records.values():
        start = launcher if r["argv"][0] in ("pretrain", "midtrain", "rl") else "interplay"
        if r["argv"][0] == "problems":  # a study stage of this package, not an `interplay` command
            lines.append("python -m interplay.studies.problems " + " ".join(_quote(a) for a in r["argv"][1:]))
            continue
        lines.append(f"{start} " + " ".join(_quote(a) for a in r["argv"]))
    doc.code("\n".join(lines))


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def add_model_section(doc: Document, evals: Mapping[str, Mapping[str, Any]], out: Path, stem: str) -> None:
    """Ranges tables (process and outcome), per-op table, error taxonomy, and the pass@k curves plot."""
    any_res = next(iter(evals.values()))
    kmax = max(any_res["ks"])
    ranges = evaluated_ranges(evals)
    doc.text("Op ranges: " + ", ".join(f"{r} = op {lo}–{hi}" for r, (lo, hi) in any_res["op_ranges"].items()
                                       if r in ranges)
             + f". Samples per problem n = {any_res['settings'].get('n')}, temperature "
             f"{any_res['settings'].get('temperature')}. Process pass@k counts a sample only when every gold step "
             "is right (parents and value) and the answer is right; outcome pass@k checks the answer only. A range's "
             "cell is the mean over its problems ± its standard error (another draw of problems and completions); "
             "two models on the same problems differ by less noise than the two errors suggest (paired changes "
             "below, where a study shows them).")
    for metric in ("process", "outcome"):
        doc.heading(f"{metric.capitalize()}-verified pass@k by op range", 3)
        doc.table(*range_table(evals, metric))
    doc.heading(f"Process pass@{kmax} by op", 3)
    doc.table(*op_table(evals, "process", kmax))
    doc.heading("Process pass@1 by op", 3)
    doc.table(*op_table(evals, "process", 1))
    plot_curves(evals, out / f"{stem}_process.png", "process")
    plot_curves(evals, out / f"{stem}_outcome.png", "outcome")
    doc.image(f"{stem}_process.png", "process-verified pass@k per op range")
    doc.image(f"{stem}_outcome.png", "outcome pass@k per op range")
    for r in ranges:
        doc.heading(f"Error taxonomy on {r} (fraction of samples)", 3)
        doc.table(*error_rows(evals, "op_range", r))
