"""End to end: a tiny model trained by `interplay pretrain`, evaluated by `interplay eval`, resumed."""

from __future__ import annotations

import json

import pytest

from interplay.cli import main
from interplay.evaluate.runner import EvalConfig, run_evaluation
from interplay.lm.fixtures import sample_records, write_jsonl
from interplay.lm.sampler import Sampler
from interplay.verify import verify

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
TINY = str(ROOT / "src" / "interplay" / "configs" / "pretrain-tiny.yaml")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    write_jsonl(sample_records(ops=[2, 3], per_op=40, seed=0), root / "train.jsonl")
    write_jsonl(sample_records(ops=[2, 3, 11], per_op=2, seed=1), root / "problems.jsonl")
    assert main(["tokenizer", "train", "--corpus", str(root / "train.jsonl"), "--out", str(root / "tok")]) == 0
    overrides = {"tokenizer": root / "tok", "data.path": root / "train.jsonl", "data.seq_len": 128,
                 "train.steps": 12, "eval.every": 1000, "checkpoint.every": 1000, "log.every": 1000}
    argv = ["pretrain", TINY, "--out", str(root / "run")]
    for key, value in overrides.items():
        argv += ["--set", f"{key}={value}"]
    assert main(argv) == 0
    return root


def test_eval_a_trained_checkpoint_end_to_end(trained, capsys):
    out = trained / "eval"
    argv = ["eval", "--model", str(trained / "run" / "final"), "--problems", str(trained / "problems.jsonl"),
            "--n", "4", "--k", "1,2,4", "--max-new-tokens", "40", "--temperature", "1.0", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    assert "overall" in capsys.readouterr().out
    problems = {json.loads(line)["id"]: json.loads(line) for line in (trained / "problems.jsonl").read_text().splitlines()}
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 4 * len(problems)
    for row in rows:  # the stored verdict is the verifier's verdict of the stored text
        v = verify(problems[row["id"]], row["text"]).to_dict()
        assert {k: row[k] for k in v} == v
        assert 1 <= row["num_tokens"] <= 40 and row["finish_reason"] in ("stop", "eos", "length")
    results = json.loads((out / "results.json").read_text())
    assert results["samples"] == len(rows) and results["settings"]["max_new_tokens"] == 40
    overall = {(r["metric"], r["k"]): r["pass_at_k"] for r in results["tables"]["pass_at_k"] if r["group"] == "overall"}
    for metric in ("outcome", "process"):
        assert 0.0 <= overall[(metric, 1)] <= overall[(metric, 2)] <= overall[(metric, 4)] <= 1.0
    assert {"ID", "OOD-edge"} == {r["key"] for r in results["tables"]["pass_at_k"] if r["group"] == "op_range"}


class Interrupted:
    """The real sampler, stopped by Ctrl-C after `after` completions."""

    def __init__(self, sampler: Sampler, after: int):
        self.sampler, self.after = sampler, after

    def encode(self, text):
        return self.sampler.encode(text)

    def generate(self, requests, config, on_progress=None):
        for i, c in enumerate(self.sampler.generate(requests, config, on_progress)):
            if i == self.after:
                raise KeyboardInterrupt
            yield c


def test_resumed_evaluation_matches_an_uninterrupted_one(trained):
    model = trained / "run" / "final"
    sampler = Sampler.from_pretrained(model, device="cpu")

    def config(out, batch_rows):
        return EvalConfig(model=str(model), problems=str(trained / "problems.jsonl"), out=str(out), n=4,
                          ks=[1, 4], max_new_tokens=40, temperature=1.0, seed=7, batch_rows=batch_rows,
                          progress=False, failure_pictures=False)

    run_evaluation(config(trained / "straight", 16), sampler=sampler)
    with pytest.raises(KeyboardInterrupt):
        run_evaluation(config(trained / "resumed", 5), sampler=Interrupted(sampler, after=9))
    # Resumed with other batches: the 15 missing samples run in other company, yet come out the same.
    run_evaluation(config(trained / "resumed", 3), sampler=sampler)
    for name in ("samples.jsonl", "pass_at_k.csv", "errors.csv"):
        assert (trained / "resumed" / name).read_bytes() == (trained / "straight" / name).read_bytes(), name


def test_ladder_runs_the_evaluation_first(trained, capsys):
    out = trained / "ladder-eval"
    argv = ["ladder", "--eval", str(out), "--model", str(trained / "run" / "final"), "--problems",
            str(trained / "problems.jsonl"), "--n", "4", "--k", "1,4", "--max-new-tokens", "24", "--quiet",
            "--no-pictures", "--edge-out", str(out / "edge.jsonl")]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "ranges:" in text and (out / "ladder.yaml").is_file() and (out / "samples.jsonl").is_file()
    import yaml

    doc = yaml.safe_load((out / "ladder.yaml").read_text())
    assert set(doc["per_op"]) == {2, 3, 11} and doc["k"] == 4


def test_eval_in_bf16_records_its_dtype_and_a_resume_cannot_switch_it(trained, capsys):
    # The GPU default (bf16 weights and cache), run here on a CPU: the same code path an H100 takes.
    model = str(trained / "run" / "final")
    argv = ["eval", "--model", model, "--problems", str(trained / "problems.jsonl"), "--n", "2", "--k", "1,2",
            "--max-new-tokens", "16", "--quiet", "--no-pictures", "--device", "cpu"]
    bf16 = trained / "eval-bf16"
    assert main(argv + ["--dtype", "bfloat16", "--out", str(bf16)]) == 0
    config = json.loads((bf16 / "eval_config.json").read_text())
    assert config["dtype"] == "bfloat16"
    rows = [json.loads(line) for line in (bf16 / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 6 and all(1 <= r["num_tokens"] <= 16 for r in rows)
    capsys.readouterr()
    assert main(argv + ["--dtype", "float32", "--out", str(bf16)]) == 2
    assert "dtype='bfloat16', not 'float32'" in capsys.readouterr().err
    # `auto` on a CPU is fp32; an evaluation written before dtype was recorded counts as fp32 and resumes.
    fp32 = trained / "eval-fp32"
    assert main(argv + ["--out", str(fp32)]) == 0
    config = json.loads((fp32 / "eval_config.json").read_text())
    assert config.pop("dtype") == "float32"
    (fp32 / "eval_config.json").write_text(json.dumps(config))
    assert main(argv + ["--out", str(fp32)]) == 0
    # ... and its completions may be reused by an fp32 evaluation, never by a bf16 one
    capsys.readouterr()
    assert main(argv + ["--dtype", "bfloat16", "--out", str(trained / "eval-bf16-b"), "--reuse-samples", str(fp32)]) == 2
    assert "dtype='float32'" in capsys.readouterr().err
