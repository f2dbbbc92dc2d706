"""Benchmark: the learner half of a GRPO step (reference pass, π_old pass, forward/backward, AdamW) on real rollouts.

    .venv/bin/python bench/bench_learner.py --model CKPT --corpus CORPUS --ops 2-6
    .venv/bin/python bench/bench_learner.py ... --profile      # torch profiler table of one timed pass

The RL step of the cpu studies spends most of its time here (time/train_share 0.77-0.87 in their
metrics), not in sampling. This script samples one step's rollouts once (N prompts of the corpus's `rl`
split × r rollouts, temperature 1.0, stopping at `</answer>`, as `configs/rl-cpu.yaml`), then times the
learner on that same batch under each layout, alternating, with a fresh copy of the policy and optimiser
each time (so every timed pass does the same work):

* `separate`: one row per rollout (`grpo.share_prompts: false`);
* `shared`: the layout RL uses (`share_prompts: true`: a prompt once and its rollouts behind it).

Before/after comparisons: run it once more with `PYTHONPATH=<older checkout>/src` (the learner of
that checkout, on the same rollouts: sampling is seeded). Reported per layout: seconds per learner pass
(each run and the median), the input positions it ran (padding included), and the largest difference of the per-token
log-probabilities from the first layout's (the same function, so only float rounding).
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import platform
import statistics
import sys
import time
from pathlib import Path


def parse_ops(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition("-")
    return int(lo), int(hi or lo)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="checkpoint folder (interplay / Hugging Face Qwen2)")
    parser.add_argument("--corpus", required=True, help="corpus folder with an `rl` split (or a problems JSONL)")
    parser.add_argument("--split", default="rl")
    parser.add_argument("--ops", default="2-6")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--rollouts", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=384)
    parser.add_argument("--mini-batch-prompts", type=int, default=8)
    parser.add_argument("--micro-batch", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="untimed passes per layout first")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layouts", default="separate,shared")
    parser.add_argument("--profile", action="store_true", help="print a torch profiler table of one pass per layout")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    from interplay.lm import checkpoint as ck
    from interplay.lm.model import build_model, decay_groups
    from interplay.lm.sampler import Sampler, load_folder_tokenizer
    from interplay.rl.config import GRPOConfig, RLDataConfig, RolloutConfig
    from interplay.rl.data import load_pool
    from interplay.rl.grpo import group_advantages
    from interplay.lm.train import model_config_from_hf
    from interplay.rl.learner import Learner, build_minibatches
    from interplay.rl.rollout import sample_rollouts, score_rollouts
    from interplay.verify.rewards import get_reward

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    tokenizer = load_folder_tokenizer(args.model)
    hf_config, weights = ck.load_weights(Path(args.model), "model")
    cfg = model_config_from_hf(hf_config, "model")
    vocab = int(hf_config["vocab_size"])
    rollout_cfg = RolloutConfig(prompts=args.prompts, rollouts=args.rollouts, temperature=1.0,
                                max_new_tokens=args.max_new_tokens, max_prompt_tokens=512, max_batch_rows=128)
    pool, _ = load_pool(RLDataConfig(path=args.corpus, split=args.split, ops=list(parse_ops(args.ops))), tokenizer, 512)
    problems = pool[: args.prompts]

    t0 = time.perf_counter()
    sampler = Sampler.from_pretrained(args.model, device="cpu", dtype="float32")
    batch = sample_rollouts(sampler, problems, rollout_cfg, seed=args.seed)
    score_rollouts(batch, problems, get_reward("outcome"))
    sample_s = time.perf_counter() - t0
    prompt_tokens = [len(p.prompt_ids) for p in problems]
    completion_tokens = [len(x.completion_ids) for x in batch.rollouts]
    advantages = group_advantages(batch.rewards()).float()
    if not advantages.abs().sum():
        advantages = torch.randn_like(advantages)  # all groups tied: any advantages do the same work
    info = {
        "machine": platform.processor() or platform.machine(), "python": platform.python_version(),
        "torch": torch.__version__, "threads": args.threads, "model": args.model,
        "parameters": sum(v.numel() for v in weights.values() if v is not None),
        "prompts": args.prompts, "rollouts": args.rollouts,
        "prompt_tokens_mean": statistics.mean(prompt_tokens), "completion_tokens_mean": statistics.mean(completion_tokens),
        "completion_tokens_max": max(completion_tokens), "sample_s": round(sample_s, 2),
    }
    print(json.dumps(info), flush=True)

    base = build_model(cfg, vocab, "fast", seed=args.seed)
    base.load_hf_state_dict(weights)
    reference = copy.deepcopy(base).eval().requires_grad_(False)
    grpo = GRPOConfig(mini_batch_prompts=args.mini_batch_prompts, micro_batch_size=args.micro_batch, kl_coef=1e-3)

    def one_pass(layout: str) -> tuple[float, int, torch.Tensor]:
        policy = copy.deepcopy(base)
        optimizer = torch.optim.AdamW(decay_groups(policy, 0.01), lr=1e-5)
        learner = Learner(policy, optimizer, grpo, reference=reference)
        t = time.perf_counter()
        if "pad_id" in inspect.signature(build_minibatches).parameters:  # a checkout before 2026-11-30
            from interplay.rl.learner import share_cost_for

            minis = build_minibatches(batch, advantages, args.mini_batch_prompts, args.micro_batch, tokenizer.pad_token_id,
                                      torch.device("cpu"), share_cost_for(policy) if layout == "shared" else None)
        else:
            minis = build_minibatches(batch, advantages, args.mini_batch_prompts, args.micro_batch,
                                      torch.device("cpu"), layout == "shared")
        learner.prepare(minis)
        stats = learner.update(minis, lr=1e-5)
        seconds = time.perf_counter() - t
        # π_old of every rollout, in rollout order: the layouts must agree up to rounding.
        logps: dict[int, torch.Tensor] = {}
        for micros in minis:
            for m in micros:
                offsets = 0
                for i in m.index:
                    n = len(batch.rollouts[i].completion_ids)
                    logps[i] = m.old_logp[offsets: offsets + n]
                    offsets += n
        first = torch.cat([logps[i] for i in range(len(batch.rollouts))])
        del stats
        return seconds, sum(m.input_ids.numel() for micros in minis for m in micros), first  # padding included

    layouts = args.layouts.split(",")
    for _ in range(args.warmup):
        for layout in layouts:
            one_pass(layout)
    times: dict[str, list[float]] = {k: [] for k in layouts}
    logp: dict[str, torch.Tensor] = {}
    tokens: dict[str, int] = {}
    for _ in range(args.runs):
        for layout in layouts:
            s, n, lp = one_pass(layout)
            times[layout].append(round(s, 3))
            tokens[layout], logp[layout] = n, lp
    ref = layouts[0]
    for layout in layouts:
        med = statistics.median(times[layout])
        print(json.dumps({"layout": layout, "runs_s": times[layout], "median_s": med, "input_positions": tokens[layout],
                          "speedup_vs_" + ref: round(statistics.median(times[ref]) / med, 3),
                          "max_abs_logp_diff_vs_" + ref: float((logp[layout] - logp[ref]).abs().max())}), flush=True)
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        for layout in layouts:
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                one_pass(layout)
            print(f"--- {layout}")
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))
    return 0


if __name__ == "__main__":
    sys.exit(main())
