"""`interplay demo` end to end at CI size: every stage runs for real (corpus, tokenizer, pre-training,
GRPO, evaluation) and the outputs are complete and consistent; a rerun reuses the finished stages."""

import json

from interplay.cli import main


def test_demo_ci_end_to_end_and_rerun(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--preset", "ci", "--out", str(out)]) == 0
    first = capsys.readouterr().out

    results = json.loads((out / "results.json").read_text())
    rows = results["tables"]["pass_at_k"]
    ops = {int(r["key"]) for r in rows if r["group"] == "op"}
    assert ops == {2, 3, 4, 5}  # the CI eval split: op 2-5
    for op in ops:
        for metric in ("outcome", "process"):
            values = [r["pass_at_k"] for r in rows if r["group"] == "op" and r["key"] == str(op) and r["metric"] == metric]
            assert len(values) == len(results["ks"]) and all(0.0 <= v <= 1.0 for v in values)
            assert values == sorted(values)  # pass@k never falls with k
    assert results["settings"]["n"] == 4 and results["samples"] == 4 * results["problems"]
    assert set(results["op_ranges"]) == {"ID", "OOD-edge", "OOD-hard"}

    # the final checkpoint is the RL model, loadable as a Hugging Face folder
    assert (out / "final" / "model.safetensors").is_file() and (out / "final" / "tokenizer.json").is_file()
    assert (out / "final" / "model.safetensors").read_bytes() == (out / "rl" / "final" / "model.safetensors").read_bytes()

    report = (out / "report.md").read_text()
    assert "| model | ID pass@1 | ID pass@4 | OOD-edge pass@1" in report
    assert "| base |" in report and "| RL |" in report
    # RL's change against the base, each cell with its paired standard error
    import re

    change = report.split("Change against the base model")[1]
    cells = next(line for line in change.splitlines() if line.startswith("| RL |")).split("|")[2:-1]
    assert len(cells) == 6 and all(re.fullmatch(r" [+-]\d+\.\d ± \d+\.\d ", c) for c in cells[:4])
    assert "interplay rl " in report and "interplay pretrain " in report  # the exact commands
    assert "<table>" in (out / "report.html").read_text()
    assert (out / "demo_pass_at_k_process.png").stat().st_size > 1000
    for stage in ("corpus", "tokenizer", "pretrain", "problems", "rl", "eval-base", "eval-rl"):
        assert "=== [" in first and f"{stage}:" in first

    # a rerun reuses every finished stage
    assert main(["demo", "--preset", "ci", "--out", str(out)]) == 0
    second = capsys.readouterr().out
    assert second.count("done earlier") == 7 and "interplay eval --model" not in second

    # an interrupted stage (no marker) runs again, and only it
    (out / "eval-rl" / ".interplay-stage.json").unlink()
    assert main(["demo", "--preset", "ci", "--out", str(out)]) == 0
    third = capsys.readouterr().out
    assert third.count("done earlier") == 6
    assert json.loads((out / "results.json").read_text())["tables"] == results["tables"]


def test_demo_bad_preset_is_one_line_error(tmp_path, capsys):
    assert main(["demo", "--preset", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "demo-nope.yaml" in capsys.readouterr().err


def test_out_that_is_a_file_is_one_line_error(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    for argv in (["demo", "--preset", "ci", "--out", str(taken)],
                 ["study", "ladder", "--preset", "ci", "--out", str(taken / "ladder")]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert f"interplay {argv[0]}: error: " in err and str(taken) in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert taken.read_text() == "not a folder"  # the user's file is left alone


def test_out_on_a_read_only_file_system_is_one_line_error(tmp_path, capsys, monkeypatch):
    import errno

    import interplay.studies.demo_cli as demo_cli

    def read_only(args):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "ro"))

    monkeypatch.setattr(demo_cli, "run", read_only)
    assert main(["demo", "--out", str(tmp_path / "ro")]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"interplay demo: error: Read-only file system: {tmp_path / 'ro'}"
