"""The RL loop end to end on a tiny model: a real reward increase, the first mini-batch's KL and ratio,
parameters moving, exact resume, metrics, and bad input rejected before any compute."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from interplay.cli import main
from interplay.lm.metrics import read_metrics

ROOT = Path(__file__).resolve().parents[1]
RL_TINY = str(ROOT / "src" / "interplay" / "configs" / "rl-tiny.yaml")
PRETRAIN_TINY = str(ROOT / "src" / "interplay" / "configs" / "pretrain-tiny.yaml")
TARGET_ANSWER = 3


def _records(seed: int, count: int, answer: int | None = None) -> list[dict]:
    from interplay.world import WorldOptions, generate

    # Op-2 zoo problems with no distractors and small values: a tiny model learns the format in seconds.
    options = WorldOptions(distractors=(0, 0), letters="ordered", max_value=9)
    out = []
    i = 0
    while len(out) < count:
        r = generate(op=2, context="zoo", mode="forward", seed=seed, index=i, options=options)
        i += 1
        if answer is None or r["answer"] == answer:
            out.append(r)
    return out


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A tokenizer and a tiny model pre-trained 200 steps on op-2 problems (it writes the trace format,
    but answers at chance), plus RL prompts whose answer is always 3."""
    root = tmp_path_factory.mktemp("rl")
    _write(root / "pretrain.jsonl", _records(0, 600))
    _write(root / "eval.jsonl", _records(1, 32))
    _write(root / "rl.jsonl", _records(2, 64, answer=TARGET_ANSWER))
    _write(root / "heldout.jsonl", _records(3, 32, answer=TARGET_ANSWER))
    assert main(["tokenizer", "train", "--corpus", str(root / "pretrain.jsonl"), "--out", str(root / "tok")]) == 0
    sets = {"data.path": root / "pretrain.jsonl", "eval.path": root / "eval.jsonl", "tokenizer": root / "tok",
            "train.steps": 200, "data.seq_len": 128, "eval.every": 0, "eval.op_ranges": "[2-2]",
            "train.peak_tflops": 0.1, "checkpoint.every": 0, "log.tensorboard": "false", "log.every": 1000,
            "optim.warmup_steps": 5}
    args = [x for k, v in sets.items() for x in ("--set", f"{k}={v}")]
    assert main(["pretrain", PRETRAIN_TINY, "--out", str(root / "pt")] + args) == 0
    return root


def rl_args(env: Path, out: Path, **overrides) -> list[str]:
    settings = {
        "init": env / "pt" / "final",
        "data.path": env / "rl.jsonl",
        "data.ops": "null",
        "rollout.prompts": 8,
        "rollout.rollouts": 8,
        "rollout.max_new_tokens": 96,
        "grpo.mini_batch_prompts": 8,
        "train.steps": 30,
        "checkpoint.every": 0,
        "log.every": 100,
    } | overrides
    args = ["rl", RL_TINY, "--out", str(out)]
    for key, value in settings.items():
        args += ["--set", f"{key}={value}"]
    return args


def heldout_reward(model_dir: Path, problems: Path) -> float:
    """Mean outcome reward of 8 samples (temperature 1, fixed seed) on each held-out problem."""
    from interplay.lm.records import iter_records
    from interplay.lm.sampler import Sampler, SamplingConfig
    from interplay.text import format_prompt
    from interplay.verify import verify

    records = list(iter_records(problems))
    sampler = Sampler.from_pretrained(model_dir, device="cpu")
    groups = sampler.sample([format_prompt(r) for r in records],
                            SamplingConfig(n=8, temperature=1.0, max_new_tokens=96, seed=12345))
    scores = [verify(r, c.text).outcome_correct for r, g in zip(records, groups, strict=True) for c in g]
    return sum(scores) / len(scores)


@pytest.fixture(scope="module")
def learned(env):
    out = env / "rl-learn"
    assert main(rl_args(env, out)) == 0
    return out


def test_reward_rises_over_thirty_cpu_steps(env, learned):
    # The RL prompts all have answer 3; the pre-trained model answers 1-4 at about chance. Rewarded only
    # through the verifier, the policy must find where the reward is.
    rows = [r for r in read_metrics(learned) if "reward/mean" in r]
    assert [r["step"] for r in rows] == list(range(1, 31))
    first = sum(r["reward/mean"] for r in rows[:5]) / 5
    last = sum(r["reward/mean"] for r in rows[-5:]) / 5
    assert last > first + 0.1, (first, last)
    before = heldout_reward(env / "pt" / "final", env / "heldout.jsonl")
    after = heldout_reward(learned / "final", env / "heldout.jsonl")
    assert after > before + 0.15, (before, after)


def test_metrics_have_trl_names_and_token_equivalents(learned):
    from interplay.rl.trainer import METRIC_NAMES

    row = [r for r in read_metrics(learned) if "reward/mean" in r][-1]
    for name in METRIC_NAMES:
        assert name in row, name
    assert 0 <= row["frac_reward_zero_std"] <= 1 and 0 <= row["clip_ratio"] <= 1 and row["entropy"] > 0
    # 30 steps of (5/3) * 8 prompts * 8 rollouts * (256 + 96) tokens.
    assert row["budget/token_equivalents"] == pytest.approx(30 * 5 / 3 * 8 * 8 * (256 + 96))
    assert 0 < row["budget/token_equivalents_generated"] < row["budget/token_equivalents"]
    shares = sum(row[f"time/{k}_share"] for k in ("sync", "sample", "score", "train"))
    assert 0.5 < shares <= 1.0 + 1e-9
    for name in ("config.json", "model.safetensors", "tokenizer.json", "interplay_state.pt"):
        assert (learned / "final" / name).is_file()


def test_final_checkpoint_loads_with_transformers(learned):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(learned / "final"))
    assert model.config.model_type == "qwen2"


def test_bf16_rollouts_and_updates_run_and_move_the_weights(env):
    # The GPU defaults (rollout.dtype and train.dtype auto = bf16 on CUDA), forced here on a CPU so the
    # bf16 sampler cache, autocast log-probs and their gradients run in CI.
    from safetensors.torch import load_file

    out = env / "rl-bf16"
    assert main(rl_args(env, out, **{"train.steps": 3, "rollout.dtype": "bfloat16", "train.dtype": "bfloat16"})) == 0
    rows = [r for r in read_metrics(out) if "reward/mean" in r]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert any(r["frac_reward_zero_std"] < 1 for r in rows)  # some group had an advantage: gradients flowed
    for r in rows:
        assert all(math.isfinite(r[k]) for k in ("loss/policy", "kl", "entropy", "grad_norm")), r
    before = load_file(str(env / "pt" / "final" / "model.safetensors"))
    after = load_file(str(out / "final" / "model.safetensors"))
    assert all(v.dtype == torch.float32 for v in after.values())  # master weights stay fp32
    assert sum(not torch.equal(before[k], after[k]) for k in before) > len(before) // 2


# -- one step's optimisation, in detail ----------------------------------------------------------------


@pytest.fixture(scope="module")
def one_step(env):
    """A Learner over one rollout batch cut into two mini-batches."""
    from interplay.lm.model import build_model, decay_groups
    from interplay.rl.config import load_rl_config
    from interplay.rl.data import PromptSchedule, load_pool
    from interplay.rl.grpo import group_advantages
    from interplay.rl.learner import Learner, build_minibatches
    from interplay.rl.rollout import PolicySampler, sample_rollouts, score_rollouts
    from interplay.rl.trainer import resolve_models

    torch.set_num_threads(1)
    args = rl_args(env, env / "unused")
    overrides = args[5::2]  # the KEY=VALUE strings after each --set
    cfg = load_rl_config(RL_TINY, overrides + ["grpo.mini_batch_prompts=4", "optim.lr=1e-3"])
    model_cfg, tokenizer, weights, ref_weights = resolve_models(cfg)
    policy = build_model(model_cfg, len(tokenizer))
    policy.load_hf_state_dict(weights)
    reference = build_model(model_cfg, len(tokenizer))
    reference.load_hf_state_dict(ref_weights)
    reference.requires_grad_(False)
    pool, _ = load_pool(cfg.data, tokenizer, cfg.rollout.max_prompt_tokens)
    problems = PromptSchedule(pool, 8, 0, None).batch(0)
    batch = sample_rollouts(PolicySampler(policy, tokenizer, "cpu", torch.float32).sync(policy), problems,
                            cfg.rollout, seed=7)
    score_rollouts(batch, problems, cfg.reward_fn())
    advantages = group_advantages(batch.rewards())
    optimizer = torch.optim.AdamW(decay_groups(policy, 0.0), lr=1e-3)
    learner = Learner(policy, optimizer, cfg.grpo, reference=reference)
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    minis = build_minibatches(batch, advantages, 4, 16, torch.device("cpu"))
    learner.prepare(minis)
    stats = learner.update(minis, 1e-3)
    return {"stats": stats, "before": before, "policy": policy, "batch": batch, "advantages": advantages,
            "minis": minis, "problems": problems, "cfg": cfg, "tokenizer": tokenizer}


def test_first_minibatch_has_kl_zero_and_ratio_one(one_step):
    first, second = one_step["stats"]["minibatches"]
    # The policy starts as the reference and nothing has been updated yet.
    assert first["kl"] == 0.0
    assert first["max_abs_ratio_minus_1"] == 0.0
    assert first["clip_ratio"] == 0.0
    # After the first optimiser step, the second mini-batch sees a moved policy.
    assert second["kl"] > 0.0 and second["max_abs_ratio_minus_1"] > 0.0
    assert one_step["stats"]["optimizer_steps"] == 2


def test_a_problem_drawn_twice_in_a_step_gets_fresh_rollouts(one_step):
    """Rollouts are keyed by (seed, prompt, sample index): a repeat of a problem in one step (a pool smaller
    than the batch) must not copy the first group's completions, and must not change anyone else's."""
    from interplay.rl.rollout import PolicySampler, sample_rollouts

    policy, r = one_step["policy"], one_step["cfg"].rollout.rollouts
    sampler = PolicySampler(policy, one_step["tokenizer"], "cpu", torch.float32).sync(policy)
    first, second = one_step["problems"][:2]

    def groups(problems):
        batch = sample_rollouts(sampler, problems, one_step["cfg"].rollout, seed=3)
        assert [x.sample_index for x in batch.rollouts] == list(range(r)) * len(problems)
        return [[x.text for x in batch.rollouts[g * r:(g + 1) * r]] for g in range(len(problems))]

    repeated = groups([first, second, first])
    assert repeated[:2] == groups([first, second])  # the first copy and the other problem are unchanged
    assert repeated[2] != repeated[0]  # the repeat is sampled afresh


def test_the_learner_scores_the_temperature_the_rollouts_were_sampled_at(one_step):
    """π, π_old and π_ref are log-softmax(logits / T): at T = 0.7 the sampler draws from a sharper
    distribution than the raw logits, and the ratio must compare like with like."""
    from interplay.rl.learner import CompletionLogits, Learner

    policy, micro = one_step["policy"], one_step["minis"][0][0]
    with torch.no_grad():
        logits = CompletionLogits(policy)(*micro.model_inputs()).float()
        scored = {}
        for t in (1.0, 0.7):
            learner = Learner(policy, None, one_step["cfg"].grpo, temperature=t)
            scored[t] = learner._logp(learner.head, micro)[0]
            want = torch.log_softmax(logits / t, dim=-1).gather(-1, micro.targets.unsqueeze(-1)).squeeze(-1)
            torch.testing.assert_close(scored[t], want)
    assert not torch.allclose(scored[1.0], scored[0.7])


def test_parameters_change_after_a_step(one_step):
    after = one_step["policy"].state_dict()
    changed = [k for k, v in one_step["before"].items() if not torch.equal(v, after[k])]
    assert len(changed) == len(after)  # every tensor moved (AdamW touches each one with a gradient)


def test_the_batch_has_signal(one_step):
    rewards = one_step["batch"].rewards()
    assert rewards.shape == (8, 8)
    assert one_step["advantages"].abs().sum() > 0  # some group has unequal rewards


def test_completion_logits_match_each_rollouts_own_forward(one_step):
    """Every completion token's logits in the shared flat layout equal the model's own forward on that
    rollout alone (prompt + completion, plain causal attention), for both implementations."""
    from interplay.lm.model import HFQwen2
    from interplay.rl.learner import CompletionLogits

    policy, batch = one_step["policy"], one_step["batch"]
    micro = one_step["minis"][0][0]
    assert len(micro.units) > 1 and all(len(u.completions) == 8 for u in micro.units)  # shared prompts
    hf = HFQwen2(policy.cfg, policy.vocab_size)
    hf.load_hf_state_dict(policy.hf_state_dict())
    with torch.no_grad():
        part = CompletionLogits(policy)(*micro.model_inputs())
        part_hf = CompletionLogits(hf)(*micro.model_inputs())
        start = 0
        for i in micro.index:
            x = batch.rollouts[i]
            p, n = len(x.prompt_ids), len(x.completion_ids)
            ids = torch.tensor([list(x.prompt_ids) + x.completion_ids])
            full = policy(ids, torch.arange(p + n)[None])[0, p - 1:p - 1 + n]
            torch.testing.assert_close(part[start:start + n], full, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(part_hf[start:start + n], full, rtol=1e-4, atol=1e-4)
            assert micro.targets[start:start + n].tolist() == x.completion_ids
            start += n
    assert start == micro.tokens


def test_shared_prompts_give_the_same_logprobs_and_gradients(one_step):
    """A prompt encoded once for all its rollouts is the same function as one copy per rollout."""
    from interplay.rl.grpo import logprobs_and_entropy
    from interplay.rl.learner import CompletionLogits, build_minibatches

    policy, batch, adv = one_step["policy"], one_step["batch"], one_step["advantages"]
    head = CompletionLogits(policy)

    def per_rollout_logp_and_grads(share):
        minis = build_minibatches(batch, adv, 8, 64, torch.device("cpu"), share)
        policy.zero_grad()
        out = {}
        for micro in minis[0]:
            logp, _ = logprobs_and_entropy(head(*micro.model_inputs()), micro.targets)
            logp.sum().backward()
            start = 0
            for i in micro.index:
                n = len(batch.rollouts[i].completion_ids)
                out[i] = logp[start:start + n].detach()
                start += n
        grads = {k: p.grad.clone() for k, p in policy.named_parameters()}
        return out, grads, minis

    separate, g_sep, m_sep = per_rollout_logp_and_grads(False)
    shared, g_shr, m_shr = per_rollout_logp_and_grads(True)
    assert len(m_shr[0]) == len(m_sep[0]) == 1
    assert len(m_shr[0][0].units) == 8 and len(m_sep[0][0].units) == 64
    prompt_tokens = sum(len(batch.rollouts[g * 8].prompt_ids) for g in range(8))
    assert m_sep[0][0].input_ids.numel() - m_shr[0][0].input_ids.numel() == 7 * prompt_tokens
    assert sorted(separate) == sorted(shared) == list(range(64))
    for i in separate:
        torch.testing.assert_close(shared[i], separate[i], rtol=1e-4, atol=1e-5)
    for k in g_sep:
        torch.testing.assert_close(g_shr[k], g_sep[k], rtol=1e-3, atol=1e-5)
    policy.zero_grad()


# -- resume ---------------------------------------------------------------------------------------------


def test_resume_gives_the_same_weights_and_metrics(env):
    from safetensors.torch import load_file

    whole, resumed = env / "rl-whole", env / "rl-resumed"
    common = {"train.steps": 4, "checkpoint.every": 2, "rollout.prompts": 8, "grpo.mini_batch_prompts": 4}
    assert main(rl_args(env, whole, **common)) == 0
    # A run interrupted after step 2: its folder holds the step-2 checkpoint and two metrics rows.
    (resumed / "checkpoints").mkdir(parents=True)
    shutil.copytree(whole / "checkpoints" / "step-00000002", resumed / "checkpoints" / "step-00000002")
    rows = (whole / "metrics.jsonl").read_text().splitlines()
    (resumed / "metrics.jsonl").write_text("\n".join(rows[:3]) + "\n")  # step 2, then a row cut short
    assert main(rl_args(env, resumed, **common)) == 0
    a = load_file(str(whole / "final" / "model.safetensors"))
    b = load_file(str(resumed / "final" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    def stable(out):
        return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in read_metrics(out)]

    assert stable(whole) == stable(resumed)


def test_sigterm_stops_after_a_step_with_a_checkpoint_and_resume_is_exact(env, capsys):
    """A scheduler's SIGTERM (or a Ctrl-C) between checkpoints: the step finishes, a checkpoint is written
    where it stopped, exit status 130; running again ends with the weights of an uninterrupted run."""
    import signal
    import threading
    import time

    from safetensors.torch import load_file

    whole, stopped = env / "rl-whole-2", env / "rl-stopped"
    common = {"train.steps": 4, "checkpoint.every": 0, "rollout.prompts": 8, "grpo.mini_batch_prompts": 4}
    assert main(rl_args(env, whole, **common)) == 0

    def signal_after_the_first_step():
        deadline = time.time() + 120
        while time.time() < deadline:
            if (stopped / "metrics.jsonl").is_file() and read_metrics(stopped):
                os.kill(os.getpid(), signal.SIGTERM)  # handled by the run in the main thread
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=signal_after_the_first_step)
    watcher.start()
    status = main(rl_args(env, stopped, **common))
    watcher.join()
    captured = capsys.readouterr()
    assert status == 130 and "rl: stopped on request (SIGTERM) after step" in captured.out
    done = max(r["step"] for r in read_metrics(stopped))
    assert done < 4 and not (stopped / "final").exists()
    assert [p.name for p in (stopped / "checkpoints").iterdir()] == [f"step-{done:08d}"]
    assert main(rl_args(env, stopped, **common)) == 0
    a = load_file(str(whole / "final" / "model.safetensors"))
    b = load_file(str(stopped / "final" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_a_changed_config(env, capsys):
    out = env / "rl-whole"
    assert main(rl_args(env, out, **{"train.steps": 4, "checkpoint.every": 2, "grpo.mini_batch_prompts": 4,
                                     "reward.name": "strict"})) == 0  # final exists: nothing to do
    shutil.rmtree(out / "final")
    assert main(rl_args(env, out, **{"train.steps": 4, "checkpoint.every": 2, "grpo.mini_batch_prompts": 4,
                                     "reward.name": "strict"})) == 2
    assert "reward.name" in capsys.readouterr().err


def test_two_processes_match_one(env):
    """torchrun with 2 CPU processes (gloo): the same rollouts, rewards and (up to float order) updates."""
    from safetensors.torch import load_file

    common = {"train.steps": 2, "rollout.prompts": 8, "grpo.mini_batch_prompts": 4, "grpo.micro_batch_size": 8}
    one, two = env / "rl-1proc", env / "rl-2proc"
    assert main(rl_args(env, one, **common)) == 0
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "interplay"]
    cmd += rl_args(env, two, **common)
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr[-3000:]
    a = [r for r in read_metrics(one) if "reward/mean" in r]
    b = [r for r in read_metrics(two) if "reward/mean" in r]
    assert len(a) == len(b) == 2
    for x, y in zip(a, b, strict=True):
        for key in ("reward/mean", "frac_reward_zero_std", "completions/mean_length",
                    "budget/token_equivalents_generated"):
            assert x[key] == y[key], key  # keyed sampling: the same rollouts whatever the process count
        # The same group stds, but summed per process and then across processes: the last bit may differ.
        assert x["reward/std"] == pytest.approx(y["reward/std"], rel=1e-12, abs=0)
        for key in ("kl", "clip_ratio", "entropy", "loss/policy", "grad_norm"):
            assert x[key] == pytest.approx(y[key], rel=1e-3, abs=1e-6), key
    wa, wb = load_file(str(one / "final" / "model.safetensors")), load_file(str(two / "final" / "model.safetensors"))
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-4, atol=1e-6)


# -- bad input: clear errors before any compute -----------------------------------------------------------


def _no_compute(out: Path) -> bool:
    return not (out / "metrics.jsonl").exists() and not (out / "final").exists()


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"reward.name": "accuracy"}, "unknown reward 'accuracy'"),
        ({"reward.name": "composite", "reward.alpha": 2}, "alpha"),
        ({"reward.name": "outcome", "reward.beta": 1}, "unknown parameter"),
        ({"rollout.rollouts": 1}, "rollout.rollouts must be >= 2"),
        ({"rollout.prompts": 6}, "multiple of grpo.mini_batch_prompts"),
        ({"grpo.kl_coef": -1}, "grpo.kl_coef"),
        ({"rollout.top_p": 0.9}, "rollout.top_p must be 1 and rollout.top_k 0 for RL"),
        ({"rollout.top_k": 5}, "rollout.top_p must be 1 and rollout.top_k 0 for RL"),
        ({"data.select": "hardest"}, "data.select"),
        ({"data.contexts": "{movies: 1.0}"}, "no problems left"),
        ({"init": "/nonexistent/model"}, "init"),
        ({"grpo.bogus": 1}, "grpo.bogus: unknown field"),
        ({"rollout.max_new_tokens": 512}, "exceeds the model's max_position_embeddings (512)"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_computed(env, capsys, overrides, words):
    out = env / "bad"
    assert main(rl_args(env, out, **overrides)) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err
    assert _no_compute(out)


def test_a_reference_that_does_not_match_is_refused(env, capsys):
    from interplay.lm import checkpoint as ck
    from interplay.lm.model import build_model
    from interplay.lm.tokenizer import load_tokenizer
    from interplay.lm.train import model_config_from_hf

    init = env / "pt" / "final"
    cfg = model_config_from_hf(json.loads((init / "config.json").read_text()), "init")
    cfg.hidden_size, cfg.intermediate_size = 32, 64
    tokenizer = load_tokenizer(init)
    other = env / "other-model"
    ck.save_checkpoint(other, build_model(cfg, len(tokenizer)), tokenizer, {}, None)
    out = env / "bad-ref"
    assert main(rl_args(env, out, reference=other)) == 2
    err = capsys.readouterr().err
    assert "reference" in err and "hidden_size" in err and err.count("\n") == 1
    assert _no_compute(out)
    # Without a KL term there is no reference pass, and nothing to match.
    assert main(rl_args(env, env / "no-kl", reference=other, **{"grpo.kl_coef": 0, "train.steps": 1})) == 0
    row = read_metrics(env / "no-kl")[-1]
    assert "kl" not in row
    # 4/3 instead of 5/3 per token without the reference pass.
    assert row["budget/token_equivalents"] == pytest.approx(4 / 3 * 8 * 8 * (256 + 96))
