"""`interplay verify`: the exact output contract, both problem formats, clear user errors."""

from __future__ import annotations

import json

import pytest

from interplay.cli import main

KEYS = ["id", "parse_ok", "answer", "outcome_correct", "process_correct", "process_accuracy", "errors"]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_reference_format_problems(tmp_path, capsys, reference_rows):
    problems = write_jsonl(tmp_path / "p.jsonl", reference_rows[:20])
    comps = []
    for i, r in enumerate(reference_rows[:20]):
        comps.append({"id": i, "completion": f" {r['solution']} </solution> <answer> {r['answer']} </answer>"})
        comps.append({"id": i, "completion": "nonsense"})
    rc = main(["verify", "--problems", problems, "--completions", write_jsonl(tmp_path / "c.jsonl", comps), "--k", "1,2"])
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert rc == 0 and len(lines) == 40
    assert all(list(line) == KEYS for line in lines)
    assert list(lines[0]["errors"]) == ["missing", "dependency", "value", "extra"]
    assert [line["process_correct"] for line in lines] == [True, False] * 20
    assert lines[1]["parse_ok"] is False and lines[1]["answer"] is None
    assert lines[1]["errors"]["missing"] == [n["name"] for n in reference_rows[0]["generator_graph"]["nodes"]]
    assert "40 completions of 20 problems" in err and "process_correct 0.5000" in err
    assert "overall" in err and "op=2" in err


def test_our_format_problems(tmp_path, capsys):
    from interplay.world import generate

    recs = [generate(op=5, context=c, mode=m, seed=1, index=i) for i, (c, m) in enumerate([("zoo", "forward"), ("movies", "reverse")])]
    comps = [{"id": r["id"], "completion": f" {r['solution']} </solution> <answer> {r['answer']} </answer>"} for r in recs]
    rc = main(["verify", "--problems", write_jsonl(tmp_path / "p.jsonl", recs),
               "--completions", write_jsonl(tmp_path / "c.jsonl", comps)])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 0 and [line["id"] for line in lines] == [r["id"] for r in recs]
    assert all(line["process_correct"] for line in lines)


@pytest.mark.parametrize(
    "problems, completions, message",
    [
        (None, [{"id": 0, "completion": "x"}], "no such file"),
        ([{"answer": 1}], [{"id": 0, "completion": "x"}], "neither a 'graph' nor"),
        ([{"id": "a", "answer": 1, "solution": "Define A as a; so a = 1."}], [{"id": "b", "completion": "x"}], "'b' is not in"),
        ([{"id": "a", "answer": 1, "solution": "Define A as a; so a = 1."}], [{"id": "a"}], "'completion'"),
        ([{"id": "a", "answer": 1, "solution": "Define A as a; so a = 1."}] * 2, [{"id": "a", "completion": "x"}], "duplicate id"),
    ],
)
def test_user_errors_exit_2_with_one_line(tmp_path, capsys, problems, completions, message):
    p = str(tmp_path / "missing.jsonl") if problems is None else write_jsonl(tmp_path / "p.jsonl", problems)
    rc = main(["verify", "--problems", p, "--completions", write_jsonl(tmp_path / "c.jsonl", completions)])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err


def test_bad_json_line_names_the_line(tmp_path, capsys, reference_rows):
    problems = write_jsonl(tmp_path / "p.jsonl", reference_rows[:1])
    (tmp_path / "c.jsonl").write_text('{"id": 0, "completion": "a"}\n{not json\n')
    rc = main(["verify", "--problems", problems, "--completions", str(tmp_path / "c.jsonl")])
    assert rc == 2 and "line 2" in capsys.readouterr().err
