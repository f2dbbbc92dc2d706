"""The training loop end to end on the tiny preset: learning, resume after kill -9, HF loading,
mid-training, gradient accumulation, and clear errors on bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from interplay.cli import main
from interplay.lm.metrics import read_metrics

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "src" / "interplay" / "configs" / "pretrain-tiny.yaml")

CORPUS_YAML = """
seed: 0
shard_size: 400
world: {distractors: [0, 2], letters: ordered}
splits:
  pretrain:
    problems: 600
    mixture:
      - {ops: [2, 3], weight: 0.6}
      - {ops: [4, 5], weight: 0.4}
  eval:
    per_cell: 6
    ops: [2, 5]
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    (root / "corpus.yaml").write_text(CORPUS_YAML)
    assert main(["corpus", "build", str(root / "corpus.yaml"), "--out", str(root / "corpus")]) == 0
    assert main(["tokenizer", "train", "--corpus", str(root / "corpus"), "--out", str(root / "tok")]) == 0
    return root


def base_args(env: Path, **overrides) -> list[str]:
    settings = {
        "data.path": env / "corpus",
        "tokenizer": env / "tok",
        "data.seq_len": 128,
        "train.steps": 30,
        "train.batch_size": 8,
        "train.micro_batch_size": 8,
        "train.threads": 1,
        "train.peak_tflops": 0.1,  # skip the peak measurement: tests need no MFU
        "checkpoint.every": 5,
        "eval.every": 10,
        "eval.op_ranges": "[2-3, 4-5]",
        "optim.warmup_steps": 5,
        "log.tensorboard": "false",
    } | overrides
    args = []
    for key, value in settings.items():
        args += ["--set", f"{key}={value}"]
    return args


def pretrain(env: Path, out: Path, **overrides) -> int:
    return main(["pretrain", TINY, "--out", str(out)] + base_args(env, **overrides))


def losses(out: Path) -> dict[int, float]:
    return {row["step"]: row["loss"] for row in read_metrics(out) if "loss" in row}


def evals(out: Path) -> dict[int, dict[str, float]]:
    return {row["step"]: row["eval"] for row in read_metrics(out) if "eval" in row}


@pytest.fixture(scope="module")
def baseline(env):
    out = env / "baseline"
    assert pretrain(env, out) == 0
    return out


def test_pretrain_learns_and_leaves_a_final_checkpoint(baseline):
    ev = evals(baseline)
    assert sorted(ev) == [0, 10, 20, 30]
    assert set(ev[30]) == {"op2-3", "op4-5", "all", "op2-3/solution", "op4-5/solution", "all/solution"}
    assert ev[30]["all/solution"] < 0.6 * ev[0]["all/solution"]
    # From ~log(vocab) to far below it in 30 tiny steps.
    assert ev[30]["all"] < 0.6 * ev[0]["all"]
    assert ev[30]["all"] < ev[10]["all"]
    final = baseline / "final"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "interplay_state.pt", "interplay_run.json"):
        assert (final / name).is_file(), name
    # Only the newest `keep` checkpoints remain.
    assert sorted(p.name for p in (baseline / "checkpoints").iterdir()) == ["step-00000020", "step-00000025"]
    assert sorted(losses(baseline)) == list(range(1, 31))


def test_running_a_finished_run_again_does_nothing(env, baseline, capsys):
    before = (baseline / "metrics.jsonl").read_bytes()
    assert pretrain(env, baseline) == 0
    assert "already exists" in capsys.readouterr().out
    assert (baseline / "metrics.jsonl").read_bytes() == before


def test_hf_automodel_gives_the_same_logits(baseline):
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    from interplay.lm.checkpoint import load_weights
    from interplay.lm.model import build_model
    from interplay.lm.train import model_config_from_hf

    final = baseline / "final"
    # (Not AutoTokenizer: transformers 5 swaps in Qwen2's pre-tokenizer for qwen2 folders.)
    tok = PreTrainedTokenizerFast.from_pretrained(str(final))
    hf = AutoModelForCausalLM.from_pretrained(str(final)).eval()
    config, weights = load_weights(final)
    text = "<question> The number of adult fox in South Zoo equals 3. </question> <solution> Define"
    ids = torch.tensor([tok.encode(text, add_special_tokens=False)])
    pos = torch.arange(ids.shape[1])[None]
    with torch.no_grad():
        expected = hf(input_ids=ids).logits
        for impl in ("fast", "hf"):
            ours = build_model(model_config_from_hf(config, "x"), config["vocab_size"], impl, seed=123)
            ours.load_hf_state_dict(weights)
            got = ours.eval()(ids, pos)
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert expected.abs().max() > 1.0  # trained logits, not an all-zero accident
    # RoPE's θ also at the top level, where transformers 4.x and vLLM read it (5.x nests it in rope_parameters;
    # on 4.x the logits above only agree because it is there).
    assert config["rope_theta"] == 1e6


def test_checkpoint_tokenizer_encodes_like_the_trained_one(env, baseline):
    from interplay.lm.tokenizer import load_tokenizer

    text = "<question> The number of adult fox equals 12. (345) </question> <solution> x = 1000"
    original, stored = load_tokenizer(env / "tok"), load_tokenizer(baseline / "final")
    assert stored.encode(text) == original.encode(text)
    assert "345" in stored.convert_ids_to_tokens(stored.encode(text))


def test_resume_after_kill_9_gives_the_same_losses(env, baseline):
    out = env / "killed"
    cmd = [sys.executable, "-m", "interplay", "pretrain", TINY, "--out", str(out)] + base_args(env)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    metrics = out / "metrics.jsonl"
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            if metrics.is_file() and max(losses(out) or {0: 0}) >= 7:
                break
            time.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (out / "final").exists(), "the run finished before it could be killed"
    assert (out / "checkpoints" / "step-00000005").is_dir()
    assert pretrain(env, out) == 0
    assert losses(out) == losses(baseline)  # bit for bit, every step, resumed or not
    assert evals(out) == evals(baseline)


def test_ctrl_c_writes_a_checkpoint_where_it_stops_and_resume_is_exact(env, baseline):
    """Checkpoints every 100 steps, so none would exist at step 7: the first Ctrl-C lets the step finish,
    writes one there and exits 130; the same command then resumes to the uninterrupted run's losses."""
    out = env / "interrupted"
    cadence = {"checkpoint.every": 100}
    cmd = [sys.executable, "-m", "interplay", "pretrain", TINY, "--out", str(out)] + base_args(env, **cadence)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            if (out / "metrics.jsonl").is_file() and max(losses(out) or {0: 0}) >= 7:
                break
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
    assert not (out / "final").exists(), "the run finished before it could be interrupted"
    stopped = max(losses(out))
    assert 7 <= stopped < 30 and f"stopped on request (SIGINT) after step {stopped} of 30" in stdout
    assert [p.name for p in (out / "checkpoints").iterdir()] == [f"step-{stopped:08d}"]
    assert pretrain(env, out, **cadence) == 0
    assert losses(out) == losses(baseline)  # bit for bit
    assert evals(out) == evals(baseline)


def test_half_written_checkpoint_is_never_loaded(env, baseline):
    """A kill during a checkpoint write leaves a hidden temporary folder; resume ignores it."""
    import shutil

    out = env / "halfwritten"
    assert pretrain(env, out, **{"train.steps": 30}) == 0
    shutil.rmtree(out / "final")
    # Simulate: killed while writing step 30's checkpoint after step 25's was complete.
    shutil.copytree(out / "checkpoints" / "step-00000025", out / "checkpoints" / ".tmp-step-00000030-999")
    (out / "checkpoints" / ".tmp-step-00000030-999" / "model.safetensors").write_bytes(b"\0" * 10)
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"step": 30, "lo')  # a line cut mid-write
    assert pretrain(env, out) == 0
    assert not (out / "checkpoints" / ".tmp-step-00000030-999").exists()
    assert losses(out) == losses(baseline)


def test_atomic_write_keeps_previous_checkpoint(tmp_path, baseline, monkeypatch):
    from interplay.lm import checkpoint as ck
    from interplay.lm.model import build_model
    from interplay.lm.presets import load_preset
    from interplay.lm.tokenizer import load_tokenizer

    tok = load_tokenizer(baseline / "final")
    model = build_model(load_preset("tiny"), len(tok))
    target = tmp_path / "ckpt"
    ck.save_checkpoint(target, model, tok, {"a": 1}, {"step": 1})
    before = (target / "model.safetensors").read_bytes()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt  # stands in for a kill in the middle of writing

    monkeypatch.setattr(ck.torch, "save", boom)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    with pytest.raises(KeyboardInterrupt):
        ck.save_checkpoint(target, model, tok, {"a": 2}, {"step": 2})
    assert (target / "model.safetensors").read_bytes() == before
    assert json.loads((target / ck.RUN_FILE).read_text()) == {"a": 1}


def test_gradient_accumulation_gives_the_same_updates(env, baseline):
    out = env / "accum"
    assert pretrain(env, out, **{"train.micro_batch_size": 2, "train.steps": 30, "checkpoint.every": 0}) == 0
    a, b = losses(out), losses(baseline)
    assert a.keys() == b.keys()
    for step in a:
        assert a[step] == pytest.approx(b[step], rel=2e-4, abs=2e-4), step


def test_hf_impl_trains_the_same_function(env, baseline):
    out = env / "hfimpl"
    assert pretrain(env, out, **{"train.impl": "hf", "train.steps": 30, "checkpoint.every": 0}) == 0
    a, b = losses(out), losses(baseline)
    for step in (1, 2, 3):  # same init, same data: the same first losses
        assert a[step] == pytest.approx(b[step], rel=1e-4), step


def test_bf16_autocast_trains_the_same_function_with_fp32_weights(env, baseline):
    # The GPU default (train.dtype auto = bf16 on CUDA), forced on a CPU so the autocast path runs in CI:
    # the same first losses as fp32 to bf16's precision, still learning, checkpoints in fp32.
    from safetensors.torch import load_file

    out = env / "bf16"
    assert pretrain(env, out, **{"train.dtype": "bfloat16", "train.steps": 30, "checkpoint.every": 0}) == 0
    a, b = losses(out), losses(baseline)
    for step in range(1, 6):
        assert a[step] == pytest.approx(b[step], rel=2e-3), step
    assert a[30] < 0.6 * a[1] and a[30] == pytest.approx(b[30], rel=0.05)
    assert evals(out)[30]["all"] == pytest.approx(evals(baseline)[30]["all"], rel=0.05)
    assert all(v.dtype == torch.float32 for v in load_file(str(out / "final" / "model.safetensors")).values())


def test_midtrain_starts_from_the_checkpoint(env, baseline, tmp_path):
    out = tmp_path / "mid"
    args = ["midtrain", TINY, "--out", str(out)] + base_args(env, **{"train.steps": 10, "optim.lr": 1e-3})
    args += ["--set", f"init={baseline / 'final'}", "--set", "model=null", "--set", "tokenizer=null"]
    assert main(args) == 0
    first = losses(out)[1]
    assert first < 0.8 * losses(baseline)[1]  # continues from trained weights, not from scratch
    assert evals(out)[0]["all"] == pytest.approx(evals(baseline)[30]["all"], rel=1e-5)
    assert (out / "final" / "model.safetensors").is_file()
    run = json.loads((out / "final" / "interplay_run.json").read_text())
    assert run["stage"] == "midtrain" and run["model"]["hidden_size"] == 64


# --- bad input: one clear line on stderr, a non-zero status, no traceback ----------------------------------


def run_cli(args, capsys) -> tuple[int, str]:
    status = main(args)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, err


def test_missing_data_is_a_clear_error(env, tmp_path, capsys):
    status, err = run_cli(["pretrain", TINY, "--out", str(tmp_path / "x")] + base_args(env, **{"data.path": tmp_path / "nope"}), capsys)
    assert status == 2 and "data.path" in err and "nope" in err
    status, err = run_cli(["pretrain", TINY, "--out", str(tmp_path / "x")] + base_args(env, **{"data.split": "nosuch"}), capsys)
    assert status == 2 and "nosuch" in err


def test_bad_config_fields_are_named(env, tmp_path, capsys):
    cases = {"optim.lr": "-1", "train.batch_size": "7", "data.seq_len": "100000", "optim.nosuch": "1", "model": "huge"}
    for key, value in cases.items():
        status, err = run_cli(["pretrain", TINY, "--out", str(tmp_path / "x")] + base_args(env, **{key: value}), capsys)
        assert status == 2, key
        assert key.split(".")[-1] in err or "model" in err, (key, err)


def test_resume_into_a_different_config_is_refused(env, tmp_path, capsys):
    out = tmp_path / "run"
    assert pretrain(env, out, **{"train.steps": 6, "checkpoint.every": 3}) == 0
    import shutil

    shutil.rmtree(out / "final")
    status, err = run_cli(["pretrain", TINY, "--out", str(out)] + base_args(env, **{"train.steps": 6, "checkpoint.every": 3, "optim.lr": 1e-2}), capsys)
    assert status == 2 and "optim.lr" in err
    assert (out / "checkpoints" / "step-00000003").is_dir()
    # Logging and checkpoint frequency may change on resume.
    assert pretrain(env, out, **{"train.steps": 6, "checkpoint.every": 2, "log.every": 3}) == 0
    # A checkpoint whose run left out another number of over-long documents (one made before they were left
    # out at all) would resume with another data order: refused, naming why.
    shutil.rmtree(out / "final")
    state_path = out / "checkpoints" / "step-00000004" / "interplay_state.pt"
    state = torch.load(state_path, weights_only=False)
    assert state["left_out_documents"] == 0
    state["left_out_documents"] = 3
    torch.save(state, state_path)
    status, err = run_cli(["pretrain", TINY, "--out", str(out)] + base_args(env, **{"train.steps": 6, "checkpoint.every": 2}), capsys)
    assert status == 2 and "trained with 3 documents left out, this code leaves out 0" in err


def test_a_second_run_into_a_folder_in_use_is_refused_and_deletes_nothing(env, tmp_path, capsys, folder_in_use):
    """Two runs into one --out would delete each other's half-written checkpoints and interleave their
    checkpoints and metrics: the second is refused while the first lives, and allowed once it is gone
    (killed: the kernel drops the lock with the process, nothing stale is left)."""
    out = tmp_path / "busy"
    half = out / "checkpoints" / ".tmp-step-00000005-4242"  # the first run's checkpoint being written
    half.mkdir(parents=True)
    with folder_in_use(out) as pid:
        status, err = run_cli(["pretrain", TINY, "--out", str(out)] + base_args(env, **{"train.steps": 4}), capsys)
        assert status == 2 and f"process {pid} on" in err and "--out" in err
        assert half.is_dir()  # not cleaned away under the other run
    assert pretrain(env, out, **{"train.steps": 4}) == 0
    assert (out / "final" / "model.safetensors").is_file() and not half.exists()


def test_tokenizer_model_mismatch_is_refused(env, baseline, tmp_path, capsys):
    other = tmp_path / "tok"
    records = tmp_path / "r.jsonl"
    from interplay.lm.fixtures import sample_records, write_jsonl

    write_jsonl(sample_records(range(2, 4), per_op=30), records)
    assert main(["tokenizer", "train", "--corpus", str(records), "--out", str(other), "--vocab-size", "1300"]) == 0
    args = ["midtrain", TINY, "--out", str(tmp_path / "m")] + base_args(env, **{"tokenizer": other, "model": "null"})
    status, err = run_cli(args + ["--set", f"init={baseline / 'final'}"], capsys)
    assert status == 2 and "tokenizer" in err
    status, err = run_cli(["midtrain", TINY, "--out", str(tmp_path / "m")] + base_args(env, **{"model": "null", "init": tmp_path}), capsys)
    assert status == 2 and "init" in err
    # A model in a midtrain config must be the checkpoint's own: the error names what differs.
    args = ["midtrain", TINY, "--out", str(tmp_path / "m2")] + base_args(env, **{"model.hidden_size": 128})
    status, err = run_cli(args + ["--set", f"init={baseline / 'final'}"], capsys)
    assert status == 2 and "differs from the init checkpoint" in err and "hidden_size" in err
    assert "intermediate_size" not in err and not (tmp_path / "m2").exists()


def test_nan_loss_stops_with_status_3_and_keeps_the_last_checkpoint(env, tmp_path, capsys):
    out = tmp_path / "nan"
    status, err = run_cli(["pretrain", TINY, "--out", str(out)] + base_args(env, **{"optim.lr": 1e30, "checkpoint.every": 1}), capsys)
    assert status == 3
    assert "nan" in err.lower() and "step-0000000" in err
    assert not (out / "final").exists()
    from interplay.lm.checkpoint import list_checkpoints

    assert list_checkpoints(out), "the last good checkpoint was kept"


def test_two_processes_match_one(env, baseline, tmp_path):
    """torchrun with 2 CPU processes (gloo) and the same global batch reproduces the 1-process losses."""
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "interplay", "pretrain", TINY, "--out", str(out)]
    cmd += base_args(env, **{"checkpoint.every": 0, "train.micro_batch_size": 2})
    env_vars = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env_vars)
    assert result.returncode == 0, result.stderr[-3000:]
    a, b = losses(out), losses(baseline)
    assert a.keys() == b.keys()
    for step in a:  # 2 processes x 2 micro-batches of 2 rows = the baseline's 8 rows per step
        assert a[step] == pytest.approx(b[step], rel=2e-4, abs=2e-4), step


def test_stream_packing_trains_too(env, tmp_path):
    out = tmp_path / "stream"
    assert pretrain(env, out, **{"data.packing": "stream", "train.steps": 10, "checkpoint.every": 0, "eval.every": 5}) == 0
    ev = evals(out)
    assert ev[10]["all"] < ev[0]["all"]


def test_held_out_documents_are_spread_over_the_split(env, tmp_path):
    from interplay.lm.fixtures import sample_records, write_jsonl
    from interplay.lm.packing import build_or_load_cache
    from interplay.lm.tokenizer import load_tokenizer

    by_op = write_jsonl(sample_records(range(2, 6), per_op=10), tmp_path / "by_op.jsonl")  # op 2 first
    tok = load_tokenizer(env / "tok")
    first = build_or_load_cache(tmp_path / "a", tok, by_op, "eval", 8, "eval.path")
    spread = build_or_load_cache(tmp_path / "b", tok, by_op, "eval", 8, "eval.path", spread=True)
    assert set(first.doc_ops.tolist()) == {2}
    assert set(spread.doc_ops.tolist()) == {2, 3, 4, 5} and spread.n_docs == 8


def test_data_ops_trains_only_on_those_ops(env, tmp_path, capsys):
    from interplay.errors import UserError
    from interplay.lm.fixtures import sample_records, write_jsonl
    from interplay.lm.packing import build_or_load_cache, load_cache
    from interplay.lm.records import iter_records
    from interplay.lm.tokenizer import load_tokenizer

    tok = load_tokenizer(env / "tok")
    path = write_jsonl(sample_records(range(2, 6), per_op=10), tmp_path / "records.jsonl")
    every = build_or_load_cache(tmp_path / "all", tok, path, "pretrain", None, "data.path")
    edge = build_or_load_cache(tmp_path / "edge", tok, path, "pretrain", None, "data.path", ops=(3, 4))
    assert set(every.doc_ops.tolist()) == {2, 3, 4, 5}
    assert set(edge.doc_ops.tolist()) == {3, 4} and edge.n_docs == 20
    # the same folder with another op range is rebuilt, not reused
    again = build_or_load_cache(tmp_path / "edge", tok, path, "pretrain", None, "data.path", ops=(5, 5))
    assert set(again.doc_ops.tolist()) == {5}
    with pytest.raises(UserError, match="no documents with op 9-9"):
        build_or_load_cache(tmp_path / "none", tok, path, "pretrain", None, "data.path", ops=(9, 9))

    # end to end: the run's training data holds only op 4-5 of the corpus (which has op 2-5)
    out = tmp_path / "mid"
    assert pretrain(env, out, **{"data.ops": "[4, 5]", "train.steps": 2, "checkpoint.every": 0, "eval.every": 0}) == 0
    meta = json.loads((out / "data" / "train" / "meta.json").read_text())
    ops = [r["op"] for r in iter_records(env / "corpus", "pretrain")]
    assert meta["documents"] == sum(4 <= o <= 5 for o in ops) < len(ops)
    assert set(load_cache(out / "data" / "train").doc_ops.tolist()) == {4, 5}
    for bad in ("[5, 3]", "[4]", "four"):
        assert pretrain(env, tmp_path / "bad", **{"data.ops": bad}) == 2
        assert "data.ops" in capsys.readouterr().err


def test_compiled_cpu_training_gives_the_same_bytes_twice_and_on_resume(env, tmp_path, capsys):
    """torch.compile on CPU with 2 threads: inductor sums the embedding's gradient with atomic adds unless
    deterministic mode is on (`interplay.lm.train.ordered_cpu_kernels`), and then two runs of the same
    config drift apart in the last bits from the first step. The cpu preset compiles, and its long runs
    resume across sessions, so a resumed compiled run must land on the same bytes too."""
    import shutil

    settings = {"train.steps": 4, "train.threads": 2, "train.compile": "true", "checkpoint.every": 2,
                "eval.every": 0, "data.seq_len": 256, "train.batch_size": 16, "train.micro_batch_size": 16}
    runs = [tmp_path / "a", tmp_path / "b"]
    for out in runs:
        assert pretrain(env, out, **settings) == 0
    a, b = ((out / "final" / "model.safetensors").read_bytes() for out in runs)
    assert a == b
    assert not torch.are_deterministic_algorithms_enabled()  # the process's flags are restored afterwards
    # As if killed after step 3: the step-2 checkpoint is the newest; resuming replays steps 3-4.
    shutil.rmtree(runs[1] / "final")
    assert [p.name for p in (runs[1] / "checkpoints").iterdir()] == ["step-00000002"]
    capsys.readouterr()
    assert pretrain(env, runs[1], **settings) == 0
    assert "at step 2" in capsys.readouterr().out.split("resuming from", 1)[1].splitlines()[0]
    assert (runs[1] / "final" / "model.safetensors").read_bytes() == a
    assert losses(runs[1]) == losses(runs[0])
