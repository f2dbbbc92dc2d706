"""Benchmark: wall time per GRPO step, interplay's RL step vs TRL's GRPOTrainer, same model, same run.

    .venv/bin/python bench/bench_grpo.py                 # the BENCHMARKS.md configuration
    .venv/bin/python bench/bench_grpo.py --steps 2 --completion-len 32   # a quick look

Both sides start from one Hugging Face checkpoint folder written here (a randomly initialised Qwen2 of
the shape below, with our BPE tokenizer trained on generated problems) and run the same GRPO step:
N prompts (op 4-6 problems from the world generator, few distractors), r rollouts each at temperature 1.0, exactly
--completion-len new tokens per rollout (stops disabled on both sides, so the work is equal), the
outcome reward from the verifier (TRL through `interplay.verify.adapters.trl_reward_func`), group
std-normalised advantages, two optimiser mini-batches per rollout batch (π_old recomputed for the
second), clip 0.2, k3 KL to a frozen reference (beta 1e-3), token-mean loss, AdamW with constant lr
1e-6, no weight decay, gradient clipping at 1.0, fp32 (TRL: bf16=False, no gradient checkpointing).

A GRPO step = sampling + scoring + the updates of one rollout batch. The first step of each side is a
warm-up and is not timed; the report gives the median of the timed steps and, for interplay, the share
of the step spent syncing the sampler's weights, sampling, scoring and training.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path


def make_checkpoint(folder: Path, args) -> tuple[Path, list[dict]]:
    """Records, a tokenizer trained on them, and a randomly initialised model saved as an HF folder."""
    from interplay.lm import checkpoint as ck
    from interplay.lm.model import build_model
    from interplay.lm.presets import ModelConfig
    from interplay.lm.tokenizer import train_tokenizer
    from interplay.text import format_example
    from interplay.world import WorldOptions, generate

    train = [generate(op=op, context="zoo", mode="forward", seed=0, index=i) for op in range(2, 9) for i in range(150)]
    tokenizer = train_tokenizer(format_example(r) for r in train)
    cfg = ModelConfig(hidden_size=args.hidden, num_hidden_layers=args.layers, num_attention_heads=args.heads,
                      num_key_value_heads=args.kv_heads, intermediate_size=args.ffn, max_position_embeddings=1024)
    model = build_model(cfg, len(tokenizer), seed=0)
    ck.save_checkpoint(folder, model, tokenizer, {}, None)
    # CPU-scale problems by default (the demo corpus's world: few distractors, letters in trace order);
    # --distractors 0,12 gives the reference generator's longer problems.
    lo, hi = (int(x) for x in args.distractors.split(","))
    world = WorldOptions(distractors=(lo, hi), letters="ordered")
    problems = [generate(op=4 + i % 3, context="zoo", mode="forward", seed=1, index=i, options=world)
                for i in range(args.prompts * (args.steps + 1))]
    return folder, problems


def run_ours(ckpt: Path, problems: list[dict], args) -> dict:
    import torch

    from interplay.lm.model import decay_groups
    from interplay.rl.config import load_rl_config
    from interplay.rl.data import Problem
    from interplay.rl.grpo import group_advantages
    from interplay.rl.learner import Learner, build_minibatches
    from interplay.rl.rollout import PolicySampler, sample_rollouts, score_rollouts, step_seed
    from interplay.rl.trainer import resolve_models
    from interplay.text import format_prompt

    cfg = load_rl_config(None, [f"init={ckpt}", "data.path=unused", f"rollout.prompts={args.prompts}",
                                f"rollout.rollouts={args.rollouts}", f"rollout.max_new_tokens={args.completion_len}",
                                f"rollout.max_batch_rows={args.prompts * args.rollouts}",
                                f"grpo.mini_batch_prompts={args.prompts // 2}",
                                f"grpo.micro_batch_size={args.prompts * args.rollouts // 2}",
                                "optim.lr=1e-6", "optim.weight_decay=0.0", "grpo.kl_coef=1e-3"])
    model_cfg, tokenizer, weights, ref_weights = resolve_models(cfg)
    from interplay.lm.model import build_model

    policy = build_model(model_cfg, len(tokenizer))
    policy.load_hf_state_dict(weights)
    reference = build_model(model_cfg, len(tokenizer))
    reference.load_hf_state_dict(ref_weights)
    reference.requires_grad_(False)
    optimizer = torch.optim.AdamW(decay_groups(policy, 0.0), lr=1e-6)
    learner = Learner(policy, optimizer, cfg.grpo, reference=reference, grad_clip=1.0)
    views = PolicySampler(policy, tokenizer, "cpu", torch.float32)
    reward = cfg.reward_fn()
    stops = {"stop_token_ids": (), "stop_at_eos": False}  # exactly completion-len tokens, as on the TRL side
    steps, lengths = [], []
    for step in range(args.steps + 1):
        chunk = problems[step * args.prompts:(step + 1) * args.prompts]
        batch_problems = [Problem(r, tuple(tokenizer(format_prompt(r), add_special_tokens=False)["input_ids"]))
                          for r in chunk]
        t0 = time.perf_counter()
        sampler = views.sync(policy)
        t_sync = time.perf_counter() - t0
        batch = sample_rollouts(sampler, batch_problems, cfg.rollout, step_seed(0, step), **stops)
        score_rollouts(batch, batch_problems, reward)
        t1 = time.perf_counter()
        adv = group_advantages(batch.rewards())
        minis = build_minibatches(batch, adv, cfg.grpo.mini_batch_prompts, cfg.grpo.micro_batch_size,
                                  torch.device("cpu"), args.share_prompts)
        learner.prepare(minis)
        learner.update(minis, 1e-6)
        t_end = time.perf_counter()
        if step == 0:
            continue  # warm-up
        steps.append({"total": t_end - t0, "sync": t_sync, "sample": batch.timings["sample_s"],
                      "score": batch.timings["score_s"], "train": t_end - t1})
        lengths += [len(x.completion_ids) for x in batch.rollouts]
    med = statistics.median(s["total"] for s in steps)
    shares = {k: statistics.median(s[k] / s["total"] for s in steps) for k in ("sync", "sample", "score", "train")}
    return {"step_s": med, "all_steps_s": [round(s["total"], 3) for s in steps], "shares": shares,
            "mean_completion_len": statistics.mean(lengths),
            "mean_prompt_len": statistics.mean(len(p.prompt_ids) for p in batch_problems)}


def run_trl(ckpt: Path, problems: list[dict], args) -> dict:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from interplay.lm.tokenizer import load_tokenizer
    from interplay.text import format_prompt
    from interplay.verify.adapters import trl_reward_func

    tokenizer = load_tokenizer(ckpt)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(str(ckpt), attn_implementation="sdpa")
    rows = [{"prompt": format_prompt(r), "answer": r["answer"], "graph": json.dumps(r["graph"]), "id": r["id"]}
            for r in problems]
    reward_fn = trl_reward_func("outcome")

    def reward(prompts, completions, graph, **cols):  # the graph travels as JSON text (Arrow-friendly)
        return reward_fn(prompts, completions, graph=[json.loads(g) for g in graph], **cols)

    per_step = args.prompts * args.rollouts // 2  # completions per optimiser step (two per rollout batch)
    config = GRPOConfig(
        output_dir=str(ckpt.parent / "trl-out"), num_generations=args.rollouts, per_device_train_batch_size=per_step,
        gradient_accumulation_steps=1, steps_per_generation=2, num_iterations=1, beta=1e-3, epsilon=0.2,
        loss_type="dapo", scale_rewards="group", max_completion_length=args.completion_len, temperature=1.0,
        top_p=1.0, top_k=0, learning_rate=1e-6, lr_scheduler_type="constant", weight_decay=0.0, max_grad_norm=1.0,
        bf16=False, use_cpu=True, gradient_checkpointing=False, report_to="none", logging_steps=1,
        save_strategy="no", shuffle_dataset=False, max_steps=2 * (args.steps + 1), seed=0,
        generation_kwargs={"min_new_tokens": args.completion_len},  # equal lengths: no early end of sequence
    )
    marks: list[float] = []

    class Clock(TrainerCallback):
        def on_train_begin(self, *a, **k):
            marks.append(time.perf_counter())

        def on_step_end(self, *a, **k):
            marks.append(time.perf_counter())

    trainer = GRPOTrainer(model=model, reward_funcs=[reward], args=config, train_dataset=Dataset.from_list(rows),
                          processing_class=tokenizer, callbacks=[Clock()])
    with contextlib.redirect_stdout(sys.stderr):  # TRL prints its log dicts; stdout is for the report
        trainer.train()
    # A rollout batch spans two optimiser steps; the first rollout batch is the warm-up.
    per_batch = [marks[i + 2] - marks[i] for i in range(0, len(marks) - 2, 2)][1:]
    lengths = [h["completions/mean_length"] for h in trainer.state.log_history if "completions/mean_length" in h]
    return {"step_s": statistics.median(per_batch), "all_steps_s": [round(x, 3) for x in per_batch],
            "mean_completion_len": statistics.mean(lengths) if lengths else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--kv-heads", type=int, default=2)
    parser.add_argument("--ffn", type=int, default=1024)
    parser.add_argument("--prompts", type=int, default=8, help="N prompts per GRPO step (two mini-batches of N/2)")
    parser.add_argument("--rollouts", type=int, default=8, help="r rollouts per prompt")
    parser.add_argument("--completion-len", type=int, default=96, help="new tokens per rollout (exactly)")
    parser.add_argument("--distractors", default="0,2", help="distractor sentences per problem, LO,HI (default 0,2)")
    parser.add_argument("--steps", type=int, default=3, help="timed GRPO steps per side (after one warm-up step)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--skip-trl", action="store_true")
    parser.add_argument("--no-share-prompts", dest="share_prompts", action="store_false",
                        help="one training row per rollout (interplay's default encodes a shared prompt once)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt, problems = make_checkpoint(Path(tmp) / "model", args)
        from safetensors.torch import load_file

        params = sum(t.numel() for t in load_file(str(ckpt / "model.safetensors")).values())
        ours = run_ours(ckpt, problems, args)
        trl = None if args.skip_trl else run_trl(ckpt, problems, args)
    import trl as trl_pkg
    import transformers

    report = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl_pkg.__version__},
        "model_parameters": params,
        "settings": {k: getattr(args, k) for k in ("prompts", "rollouts", "completion_len", "steps", "hidden", "layers",
                                                  "distractors", "share_prompts")},
        "interplay": ours,
        "trl": trl,
    }
    if trl:
        report["speedup"] = trl["step_s"] / ours["step_s"]
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
