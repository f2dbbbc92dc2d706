"""`interplay eval`: exact tables from scripted completions, resume after interruption, bad input."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from interplay.cli import main
from interplay.errors import UserError
from interplay.evaluate.runner import EvalConfig, run_evaluation
from interplay.lm.sampler import Completion
from interplay.text import format_completion
from interplay.world import generate

N = 6
# What sample j of every problem is (j % 6): three gold traces, one with a gold step left out
# (right answer, wrong process), one with a wrong final answer, one unreadable.
KINDS = ("gold", "gold", "skip_step", "wrong_answer", "garbage", "gold")


def _problems() -> list[dict]:
    return [
        generate(op=2, context="zoo", mode="forward", seed=3, index=0),
        generate(op=3, context="school", mode="reverse", seed=3, index=1),
        generate(op=12, context="movies", mode="forward", seed=3, index=2),
    ]


def _completion(record: dict, kind: str) -> str:
    gold = format_completion(record)
    if kind == "gold":
        return gold
    if kind == "skip_step":
        first = gold.index("Define")
        second = gold.index("Define", first + 1)
        return " " + gold[second:]
    if kind == "wrong_answer":
        a = record["answer"]
        return gold.replace(f"Answer: {a}.", f"Answer: {a + 1}.").replace(f"<answer> {a} ", f"<answer> {a + 1} ")
    return " the cat sat on the mat </solution> <answer> </answer>"


class ScriptedSampler:
    """Stands in for the model: sample j of a problem is KINDS[j % 6] of its gold trace."""

    def __init__(self, problems: list[dict], stop_after: int | None = None):
        self.by_prompt = {}
        self.problems = problems
        self.stop_after = stop_after
        self.requested: list[tuple[int, int]] = []

    def encode(self, text: str) -> tuple[int, ...]:
        return tuple(ord(ch) for ch in text)

    def generate(self, requests, config, on_progress=None):
        from interplay.text import format_prompt

        prompts = {self.encode(format_prompt(r)): r for r in self.problems}
        for i, req in enumerate(requests):
            if self.stop_after is not None and i == self.stop_after:
                raise KeyboardInterrupt
            self.requested.append((req.prompt_index, req.sample_index))
            text = _completion(prompts[req.prompt_ids], KINDS[req.sample_index % len(KINDS)])
            if on_progress:
                on_progress(1)
            yield Completion(req.prompt_index, req.sample_index, list(range(len(text.split()))), text, "stop")


@pytest.fixture
def setup(tmp_path):
    problems = _problems()
    path = tmp_path / "problems.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in problems))
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"weights")
    return problems, path, model


def _config(path, model, out, **kw) -> EvalConfig:
    return EvalConfig(model=str(model), problems=str(path), out=str(out), n=N, ks=[1, 2, 4, 6],
                      **{"max_new_tokens": 64, "progress": False, **kw})


def _read_csv(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def _pass(n: int, c: int, k: int) -> float:
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def test_tables_from_scripted_completions(setup, tmp_path):
    problems, path, model = setup
    out = tmp_path / "eval"
    results = run_evaluation(_config(path, model, out), sampler=ScriptedSampler(problems))
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 3 * N
    assert [(r["id"], r["sample_index"]) for r in rows] == [(p["id"], j) for p in sorted(problems, key=lambda p: p["op"]) for j in range(N)]
    by_kind = {kind: [r for r in rows if KINDS[r["sample_index"]] == kind] for kind in set(KINDS)}
    assert all(r["process_correct"] for r in by_kind["gold"])
    assert all(r["outcome_correct"] and not r["process_correct"] and r["errors"]["missing"] for r in by_kind["skip_step"])
    assert all(not r["outcome_correct"] and not r["errors"]["missing"] for r in by_kind["wrong_answer"])
    assert all(not r["parse_ok"] for r in by_kind["garbage"])

    # Per problem: 4 of 6 right answers, 3 of 6 right processes -> pass@k by the estimator.
    table = _read_csv(out / "pass_at_k.csv")
    cell = {(r["group"], r["key"], r["metric"], int(r["k"])): float(r["pass_at_k"]) for r in table}
    for k in (1, 2, 4, 6):
        for group, key in [("overall", "all"), ("op", "2"), ("op", "12"), ("op_range", "ID"), ("op_range", "OOD-edge"),
                           ("context", "school"), ("mode", "reverse")]:
            assert cell[(group, key, "outcome", k)] == pytest.approx(_pass(6, 4, k), abs=1e-6)
            assert cell[(group, key, "process", k)] == pytest.approx(_pass(6, 3, k), abs=1e-6)
    assert ("op_range", "OOD-hard", "outcome", 1) not in cell  # no problem there
    # each value's standard error over its problems: three identical problems spread 0; one problem has none
    se = {(r["group"], r["key"], r["metric"], int(r["k"])): r["se"] for r in table}
    assert float(se[("overall", "all", "outcome", 1)]) == 0.0 and se[("op", "2", "outcome", 1)] == ""

    errors = {(r["group"], r["key"]): r for r in _read_csv(out / "errors.csv")}
    overall = errors[("overall", "all")]
    assert int(overall["samples"]) == 18
    assert float(overall["wrong_answer"]) == pytest.approx(2 / 6, abs=1e-6)
    assert float(overall["unparseable"]) == pytest.approx(1 / 6, abs=1e-6)
    assert float(overall["right_answer_wrong_process"]) == pytest.approx(1 / 6, abs=1e-6)
    assert float(overall["right_answer_wrong_process_of_correct"]) == pytest.approx(1 / 4, abs=1e-6)
    assert float(overall["missing"]) == pytest.approx(2 / 6, abs=1e-6)  # skip_step and garbage
    # Leaving a step out can also change later values (a reverse-mode equation): only there.
    assert {KINDS[r["sample_index"]] for r in rows if r["errors"]["value"]} <= {"skip_step"}
    assert float(overall["value"]) == pytest.approx(sum(bool(r["errors"]["value"]) for r in rows) / 18, abs=1e-6)

    per_problem = _read_csv(out / "per_problem.csv")
    assert [(int(r["c_outcome"]), int(r["c_process"]), int(r["n"])) for r in per_problem] == [(4, 3, 6)] * 3
    lengths = {(r["group"], r["key"]): r for r in _read_csv(out / "lengths.csv")}
    assert float(lengths[("overall", "all")]["truncated"]) == 0.0
    assert int(lengths[("op", "12")]["max_tokens"]) == max(r["num_tokens"] for r in rows if r["op"] == 12)

    for name in ("pass_at_k.png", "pass_by_op.png", "report.md", "results.json"):
        assert (out / name).stat().st_size > 0
    # A few pictures per failure type present in the samples, each of a different problem.
    assert set(results["failure_pictures"]) == {"right_answer_wrong_process", "wrong_answer", "unparseable"} | _flags(rows)
    for kind, pics in results["failure_pictures"].items():
        having = {r["id"] for r in rows if _has(r, kind)}
        assert len(pics) == min(3, len(having))
        assert len({pic["id"] for pic in pics}) == len(pics) and {pic["id"] for pic in pics} <= having
        for pic in pics:
            assert (out / pic["path"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "right answer, wrong process" in (out / "report.md").read_text()
    assert f"| overall | 3 | {_pass(6, 4, 1):.3f} ± 0.000 |" in (out / "report.md").read_text()


def _has(row, kind) -> bool:
    if kind == "right_answer_wrong_process":
        return row["outcome_correct"] and not row["process_correct"]
    if kind == "wrong_answer":
        return not row["outcome_correct"]
    if kind == "unparseable":
        return not row["parse_ok"]
    return bool(row["errors"][kind])


def _flags(rows) -> set[str]:
    return {kind for r in rows for kind in ("missing", "dependency", "value") if r["errors"][kind]}


def test_resume_after_interruption_gives_the_same_files(setup, tmp_path):
    problems, path, model = setup
    straight = tmp_path / "straight"
    run_evaluation(_config(path, model, straight), sampler=ScriptedSampler(problems))

    resumed = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        run_evaluation(_config(path, model, resumed), sampler=ScriptedSampler(problems, stop_after=7))
    assert len((resumed / "samples.jsonl").read_text().splitlines()) == 7
    with (resumed / "samples.jsonl").open("a") as f:
        f.write('{"id": "cut off mid-wri')  # a kill during a write leaves half a line
    second = ScriptedSampler(problems)
    run_evaluation(_config(path, model, resumed), sampler=second)
    assert len(second.requested) == 3 * N - 7  # only the missing samples were asked for
    for name in ("samples.jsonl", "pass_at_k.csv", "errors.csv", "lengths.csv", "per_problem.csv"):
        assert (resumed / name).read_bytes() == (straight / name).read_bytes(), name

    # A finished evaluation run again samples nothing and rewrites the same tables.
    third = ScriptedSampler(problems)
    run_evaluation(_config(path, model, resumed), sampler=third)
    assert third.requested == []
    assert (resumed / "pass_at_k.csv").read_bytes() == (straight / "pass_at_k.csv").read_bytes()


def test_an_evaluation_folder_in_use_by_another_process_is_refused(setup, tmp_path, folder_in_use):
    """Two evaluations into one --out would sample the same completions twice and rewrite samples.jsonl
    under each other: the second one stops at once, naming the first, and stores nothing."""
    problems, path, model = setup
    out = tmp_path / "busy"
    with folder_in_use(out) as pid:
        sampler = ScriptedSampler(problems)
        with pytest.raises(UserError, match=f"process {pid} on .* is using it now"):
            run_evaluation(_config(path, model, out), sampler=sampler)
        assert sampler.requested == [] and not (out / "samples.jsonl").exists()
    run_evaluation(_config(path, model, out), sampler=ScriptedSampler(problems))  # free once it is gone
    assert (out / "results.json").is_file()


def test_resume_with_other_settings_is_refused(setup, tmp_path):
    problems, path, model = setup
    out = tmp_path / "eval"
    run_evaluation(_config(path, model, out), sampler=ScriptedSampler(problems))
    with pytest.raises(UserError, match="temperature"):
        run_evaluation(_config(path, model, out, temperature=1.0), sampler=ScriptedSampler(problems))
    (model / "model.safetensors").write_bytes(b"other weights")
    with pytest.raises(UserError, match="model_sha256"):
        run_evaluation(_config(path, model, out), sampler=ScriptedSampler(problems))


def test_bad_input_exits_2_with_one_line(setup, tmp_path, capsys):
    problems, path, model = setup
    out = str(tmp_path / "e")
    cases = [
        (["--model", str(tmp_path / "nope"), "--problems", str(path)], "--model"),
        (["--model", str(model), "--problems", str(tmp_path / "none.jsonl")], "--problems"),
        (["--model", str(model), "--problems", str(path), "--n", "4", "--k", "1,8"], "--k"),
        (["--model", str(model), "--problems", str(path), "--k", "1,x"], "--k"),
        (["--model", str(model), "--problems", str(path), "--op-ranges", "ID=2-10,edge=9-12"], "overlap"),
        (["--model", str(model), "--problems", str(path), "--op-ranges", "ID:2"], "--op-ranges"),
        (["--model", str(model), "--problems", str(path), "--temperature", "-1"], "--temperature"),
    ]
    for argv, needle in cases:
        assert main(["eval", *argv, "--out", out, "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and "\n" not in err, err


def test_max_new_tokens_defaults_to_twice_the_longest_gold_completion(setup, tmp_path):
    problems, path, model = setup
    out = tmp_path / "auto"
    cfg = _config(path, model, out)
    cfg.max_new_tokens = None
    run_evaluation(cfg, sampler=ScriptedSampler(problems))
    longest = max(len(format_completion(r)) + 1 for r in problems)  # the scripted encoder: one id per character
    assert json.loads((out / "eval_config.json").read_text())["max_new_tokens"] == 2 * longest
    # Resumed without the flag, the stored value is kept; with another value, refused.
    cfg2 = _config(path, model, out)
    cfg2.max_new_tokens = None
    run_evaluation(cfg2, sampler=ScriptedSampler(problems))
    with pytest.raises(UserError, match="max_new_tokens"):
        run_evaluation(_config(path, model, out), sampler=ScriptedSampler(problems))


def test_reuse_samples_copies_completions_and_recomputes_tables_with_new_ranges(setup, tmp_path):
    problems, path, model = setup
    first = tmp_path / "first"
    cfg = _config(path, model, first)
    cfg.max_new_tokens = None  # "auto" on both sides: the reused run takes the source's value
    run_evaluation(cfg, sampler=ScriptedSampler(problems))

    ranged = tmp_path / "ranged"
    cfg2 = _config(path, model, ranged, op_ranges={"ID": (2, 3), "OOD-edge": (4, 12)}, reuse_samples=str(first))
    cfg2.max_new_tokens = None
    sampler = ScriptedSampler(problems)
    results = run_evaluation(cfg2, sampler=sampler)
    assert sampler.requested == []  # nothing sampled again
    assert (ranged / "samples.jsonl").read_bytes() == (first / "samples.jsonl").read_bytes()
    saved = json.loads((ranged / "eval_config.json").read_text())
    assert saved["max_new_tokens"] == json.loads((first / "eval_config.json").read_text())["max_new_tokens"]
    edge = {r["key"]: r["problems"] for r in results["tables"]["pass_at_k"] if r["group"] == "op_range"}
    assert edge == {"ID": 2, "OOD-edge": 1}

    # A partial source: the rest is sampled.
    lines = (first / "samples.jsonl").read_text().splitlines(keepends=True)
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "eval_config.json").write_text((first / "eval_config.json").read_text())
    (partial / "samples.jsonl").write_text("".join(lines[:5]))
    cfg3 = _config(path, model, tmp_path / "from-partial", reuse_samples=str(partial))
    cfg3.max_new_tokens = None
    sampler = ScriptedSampler(problems)
    run_evaluation(cfg3, sampler=sampler)
    assert len(sampler.requested) == 3 * N - 5
    assert (tmp_path / "from-partial" / "samples.jsonl").read_bytes() == (first / "samples.jsonl").read_bytes()

    # Other sampling settings (here the temperature) or no evaluation at all: refused, naming the reason.
    with pytest.raises(UserError, match="temperature"):
        run_evaluation(_config(path, model, tmp_path / "hot", temperature=1.0, reuse_samples=str(first)),
                       sampler=ScriptedSampler(problems))
    with pytest.raises(UserError, match="holds no evaluation"):
        run_evaluation(_config(path, model, tmp_path / "none", reuse_samples=str(tmp_path)),
                       sampler=ScriptedSampler(problems))
    # Another backend's completions (vLLM seeds each request its own way) are not ours: no resume, no reuse.
    vllm = {"backend": "vllm", "dtype": "float32"}
    with pytest.raises(UserError, match="backend='torch', not 'vllm'"):
        run_evaluation(_config(path, model, first, **vllm), sampler=ScriptedSampler(problems))
    with pytest.raises(UserError, match="backend='torch'"):
        run_evaluation(_config(path, model, tmp_path / "other", reuse_samples=str(first), max_new_tokens=None,
                               **vllm), sampler=ScriptedSampler(problems))
    # An evaluation written before the backend was recorded was ours: it resumes.
    config = json.loads((first / "eval_config.json").read_text())
    assert config.pop("backend") == "torch"
    (first / "eval_config.json").write_text(json.dumps(config))
    run_evaluation(_config(path, model, first, max_new_tokens=None), sampler=ScriptedSampler(problems))


def test_repeated_problems_count_once_from_a_corpus_and_are_refused_in_a_file(setup, tmp_path):
    from interplay.evaluate.problems import load_problems, unique_by_id

    problems, path, _ = setup
    rows = [dict(problems[0]), dict(problems[1]), dict(problems[0]), dict(problems[0])]
    kept, dropped = unique_by_id(rows)
    assert [r["id"] for r in kept] == [problems[0]["id"], problems[1]["id"]] and dropped == 2
    twice = tmp_path / "twice.jsonl"
    twice.write_text("".join(json.dumps(r) + "\n" for r in rows[:3]))
    with pytest.raises(UserError, match="duplicate"):
        load_problems(twice)
