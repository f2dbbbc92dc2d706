"""`interplay show`: gold vs predicted graph pictures, with the verifier's verdict."""

from __future__ import annotations

import json

from interplay.cli import main
from interplay.text import format_completion
from interplay.world import generate

PNG = b"\x89PNG\r\n\x1a\n"


def test_show_gold_alone_and_against_completions(tmp_path, capsys):
    record = generate(op=5, context="zoo", mode="reverse", seed=1, index=4)
    problems = tmp_path / "p.jsonl"
    problems.write_text(json.dumps(record) + "\n")
    gold_png = tmp_path / "gold.png"
    assert main(["show", "--problems", str(problems), "--id", record["id"], "--out", str(gold_png)]) == 0
    assert gold_png.read_bytes()[:8] == PNG
    capsys.readouterr()

    right = format_completion(record)
    first = right.index("Define")
    skipped = " " + right[right.index("Define", first + 1):]
    for completion, process_ok in ((right, True), (skipped, False)):
        out = tmp_path / "cmp.png"
        (tmp_path / "c.txt").write_text(completion)
        assert main(["show", "--problems", str(problems), "--id", record["id"], "--completion",
                     f"@{tmp_path / 'c.txt'}", "--out", str(out)]) == 0
        verdict = json.loads(capsys.readouterr().out)
        assert verdict["process_correct"] is process_ok and out.read_bytes()[:8] == PNG
        if not process_ok:
            assert verdict["errors"]["missing"]

    # A sample taken from an evaluation's samples.jsonl.
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"id": record["id"], "sample_index": 3, "text": skipped}) + "\n")
    assert main(["show", "--problems", str(problems), "--id", record["id"], "--completion",
                 f"@{samples}:3", "--out", str(tmp_path / "s.png")]) == 0
    assert json.loads(capsys.readouterr().out)["process_correct"] is False


def test_show_bad_input(tmp_path, capsys):
    record = generate(op=3, context="school", mode="forward", seed=1, index=0)
    problems = tmp_path / "p.jsonl"
    problems.write_text(json.dumps(record) + "\n")
    for argv, needle in [
        (["--id", "nope", "--out", str(tmp_path / "x.png")], "--id"),
        (["--id", record["id"], "--out", str(tmp_path / "x.txt")], "--out"),
        (["--id", record["id"], "--completion", "@/no/such", "--out", str(tmp_path / "x.png")], "--completion"),
    ]:
        assert main(["show", "--problems", str(problems), *argv]) == 2
        assert needle in capsys.readouterr().err
