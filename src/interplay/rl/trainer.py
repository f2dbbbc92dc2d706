"""The RL loop: rollouts from the sampler, verifier rewards, GRPO updates, metrics, checkpoints.

    DIR/metrics.jsonl     one row per RL step (TRL's metric names, see METRIC_NAMES) + selection rows
    DIR/tensorboard/      the same scalars, when tensorboard is installed and log.tensorboard is on
    DIR/checkpoints/step-N/, DIR/final/    Hugging Face folders + interplay_state.pt (exact resume)

One process or `torchrun` (DDP): every process samples, scores and trains on its share of each
mini-batch's prompts; gradients are averaged by DDP and losses normalised by the global token
count, so the update does not depend on the number of processes. Starting a run in a DIR with
checkpoints resumes from the newest (same config required), and gives the same weights as a run
that was never interrupted: prompts and sampling randomness are pure functions of (seed, step).
"""

from __future__ import annotations

import math
import os
import sys
import time
from contextlib import nullcontext
from fractions import Fraction
from pathlib import Path
from typing import Any

from interplay.errors import UserError
from interplay.rl.config import RLConfig

# The per-step metrics every run logs (TRL's GRPOTrainer names where TRL has one).
METRIC_NAMES = (
    "reward/mean",  # mean reward of the step's rollouts
    "reward/std",  # mean over groups of the within-group reward std (TRL's reward_std)
    "frac_reward_zero_std",  # groups whose r rewards are all equal (advantage 0: no signal)
    "kl",  # token-mean k3 KL to the reference (only with grpo.kl_coef > 0)
    "clip_ratio",  # fraction of completion tokens where the clipped branch was taken
    "completions/mean_length",  # completion tokens per rollout
    "entropy",  # token-mean entropy of the policy (nats)
    "rollout/outcome_accuracy",  # rollouts with the right answer
    "rollout/process_accuracy",  # rollouts whose every gold step is right (and the answer)
)


def resolve_models(cfg: RLConfig):
    """(model config, tokenizer, init weights, reference weights or None), all checked: no compute yet."""
    from interplay.lm.checkpoint import load_weights
    from interplay.lm.tokenizer import load_tokenizer
    from interplay.lm.train import model_config_from_hf

    init = Path(cfg.init)
    hf_config, weights = load_weights(init, "init")
    model_cfg = model_config_from_hf(hf_config, "init")
    try:
        tokenizer = load_tokenizer(init)
    except UserError as exc:
        raise UserError(f"init: {exc}") from None
    vocab = hf_config.get("vocab_size")
    if vocab != len(tokenizer):
        raise UserError(f"init: {init} has vocab_size {vocab} but its tokenizer has {len(tokenizer)} tokens")
    if cfg.grpo.kl_coef == 0:
        return model_cfg, tokenizer, weights, None
    ref = Path(cfg.reference_path)
    if ref.resolve() == init.resolve():
        return model_cfg, tokenizer, weights, weights
    ref_config, ref_weights = load_weights(ref, "reference")
    ref_cfg = model_config_from_hf(ref_config, "reference")
    ref_arch = ref_cfg.architecture()
    diffs = [f"{k} ({ref_arch[k]} vs {v})" for k, v in model_cfg.architecture().items() if ref_arch[k] != v]
    if ref_config.get("vocab_size") != vocab:
        diffs.append(f"vocab_size ({ref_config.get('vocab_size')} vs {vocab})")
    if not diffs and (ref / "tokenizer.json").is_file():
        try:
            ref_tok = load_tokenizer(ref)
        except UserError as exc:
            raise UserError(f"reference: {exc}") from None
        if ref_tok.get_vocab() != tokenizer.get_vocab():
            diffs.append("tokenizer (different vocabulary)")
    if diffs:
        raise UserError(f"reference: {ref} does not match the policy's init {init}: it differs in "
                        f"{', '.join(diffs)}. The KL reference must be the same model shape and tokenizer "
                        "(usually the init checkpoint itself: leave `reference` out)")
    return model_cfg, tokenizer, weights, ref_weights


def _local_slice(problems: list, mini_batch_prompts: int, rank: int, world: int) -> list:
    """This process's prompts: its contiguous 1/world share of every mini-batch (mini-batches stay global)."""
    share = mini_batch_prompts // world
    out = []
    for m0 in range(0, len(problems), mini_batch_prompts):
        out += problems[m0 + rank * share : m0 + (rank + 1) * share]
    return out


def _rollout_sums(batch) -> dict[str, float]:
    import torch

    rewards = batch.rewards()
    std = rewards.std(dim=1, unbiased=True)
    return {
        "rollouts": float(len(batch.rollouts)),
        "groups": float(batch.groups),
        "reward": float(rewards.sum()),
        "group_std": float(std.sum()),
        "zero_std": float(torch.isclose(std, torch.zeros_like(std)).sum()),
        "outcome": float(sum(x.outcome_correct for x in batch.rollouts)),
        "process": float(sum(x.process_correct for x in batch.rollouts)),
        "process_nodes": float(sum(x.process_accuracy for x in batch.rollouts)),
        "completion_tokens": float(sum(len(x.completion_ids) for x in batch.rollouts)),
        "sequence_tokens": float(sum(x.num_tokens for x in batch.rollouts)),
        "truncated": float(sum(x.finish_reason == "length" for x in batch.rollouts)),
    }


def train_rl(cfg: RLConfig, out: str | Path) -> Path:
    """Run (or resume) the configured RL in folder `out`; return the final checkpoint folder."""
    import torch

    from interplay.budget import rl_factor
    from interplay.lm import checkpoint as ck
    from interplay.lm.metrics import MetricsWriter
    from interplay.lm.model import build_model, decay_groups
    from interplay.lm.stopping import StopOnSignal
    from interplay.lm.train import setup_dist
    from interplay.rl.data import PromptSchedule, draw_candidates, edge_select, load_pool
    from interplay.rl.grpo import group_advantages
    from interplay.rl.learner import Learner, build_minibatches
    from interplay.rl.rollout import PolicySampler, copy_indices, sample_rollouts, score_rollouts, step_seed

    out = Path(out)
    reward = cfg.reward_fn()
    dist = setup_dist()
    W = dist.world
    if cfg.grpo.mini_batch_prompts % W:
        raise UserError(f"grpo.mini_batch_prompts ({cfg.grpo.mini_batch_prompts}) must be a multiple of the number "
                        f"of processes ({W})")
    say = (lambda *a: print(*a, flush=True)) if dist.main else (lambda *a: None)
    if dist.device == "cpu":
        local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        torch.set_num_threads(cfg.train.threads or max(1, (os.cpu_count() or 1) // local))
    final = out / "final"
    if (final / ck.STATE_FILE).is_file():
        say(f"rl: {final} already exists; nothing to do (use a new --out to train again)")
        return final

    # --- models and tokenizer: every mismatch is reported before any compute -------------------------
    model_cfg, tokenizer, init_weights, ref_weights = resolve_models(cfg)
    vocab = len(tokenizer)
    longest = cfg.rollout.max_prompt_tokens + cfg.rollout.max_new_tokens
    if longest > model_cfg.max_position_embeddings:
        raise UserError(f"rollout.max_prompt_tokens + rollout.max_new_tokens ({longest}) exceeds the model's "
                        f"max_position_embeddings ({model_cfg.max_position_embeddings})")
    run_dict = cfg.to_dict() | {"model": dict(model_cfg.__dict__), "vocab_size": vocab}
    total = cfg.train.steps
    N, r = cfg.rollout.prompts, cfg.rollout.rollouts

    resume_from, state = ck.open_run(out, run_dict, dist)

    # --- prompts ---------------------------------------------------------------------------------------
    full_pool, pool_stats = load_pool(cfg.data, tokenizer, cfg.rollout.max_prompt_tokens)
    say(f"rl: prompt pool {pool_stats['pool']:,} problems from {cfg.data.path} split {cfg.data.split!r} "
        f"({pool_stats['records']:,} records, {pool_stats['after_filters']:,} after op/context/mode filters, "
        f"{pool_stats['too_long']} prompts longer than {cfg.rollout.max_prompt_tokens} tokens left out)")

    # --- models and optimiser ----------------------------------------------------------------------------
    torch.manual_seed(cfg.train.seed)
    device = torch.device(dist.device)
    use_bf16 = cfg.train.dtype == "bfloat16" or (cfg.train.dtype == "auto" and device.type == "cuda")
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if use_bf16 else nullcontext
    policy = build_model(model_cfg, vocab, cfg.train.impl, seed=cfg.train.seed)
    if resume_from is not None:
        policy.load_hf_state_dict(ck.load_weights(resume_from, "resume")[1])
    else:
        policy.load_hf_state_dict(init_weights)
    policy.to(device)
    reference = None
    if ref_weights is not None:
        reference = build_model(model_cfg, vocab, cfg.train.impl, seed=cfg.train.seed)
        reference.load_hf_state_dict(ref_weights)
        reference.to(device).eval().requires_grad_(False)
    del init_weights, ref_weights
    o = cfg.optim
    optimizer = torch.optim.AdamW(decay_groups(policy, o.weight_decay), lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps,
                                  **({"fused": True} if device.type == "cuda" else {}))
    start = 0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"]["torch"])
        start = int(state["step"])
    wrap = None
    if W > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        def ddp(module):
            return DDP(module, device_ids=[dist.local_rank] if device.type == "cuda" else None)

        wrap = ddp
    rollout_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16,
                     "auto": torch.bfloat16 if device.type == "cuda" else torch.float32}[cfg.rollout.dtype]
    views = PolicySampler(policy, tokenizer, device, rollout_dtype)
    learner = Learner(policy, optimizer, cfg.grpo, reference=reference, wrap=wrap, autocast=autocast,
                      grad_clip=o.grad_clip, world=W, temperature=cfg.rollout.temperature)

    # --- compute accounting (interplay budget's units) ---------------------------------------------------
    factor = rl_factor(reference is not None)
    L_total = cfg.rollout.max_prompt_tokens + cfg.rollout.max_new_tokens
    per_step = factor * N * r * L_total
    acct = dict(state["accounting"]) if state is not None else {"generated": 0.0, "selection": 0.0}
    n_params = sum(p.numel() for p in policy.parameters())
    say(f"rl: {n_params:,} parameters on {dist.device} x{W}; {total} steps x {N} prompts x {r} rollouts; "
        f"{N // cfg.grpo.mini_batch_prompts * cfg.grpo.epochs} optimiser steps per RL step; reward {reward.name} "
        f"{reward.params or ''}; KL {cfg.grpo.kl_coef}{' (no reference pass)' if reference is None else ''}")
    say(f"rl: cost {factor}·N·r·L_total = {factor}·{N}·{r}·{L_total} = {float(per_step):,.0f} token equivalents per "
        f"step, {float(per_step * total):,.0f} for the run (interplay budget's accounting)")

    # --- the prompt pool: as configured, or the edge of competence (re-selected every M steps) -------------
    gather = None
    if W > 1:
        import torch.distributed as tdist

        def gather_all(obj: list) -> list:
            parts: list[Any] = [None] * W
            tdist.all_gather_object(parts, obj)
            return parts

        gather = gather_all

    def select(round_index: int, step: int) -> list:
        candidates = draw_candidates(full_pool, cfg.data.edge.candidates, cfg.train.seed, round_index)
        sampler = views.sync(policy)
        t0 = time.perf_counter()
        chosen, stats = edge_select(sampler, candidates, cfg.data.edge, seed=step_seed(cfg.train.seed, -1 - round_index),
                                    max_new_tokens=cfg.rollout.max_new_tokens, max_batch_rows=cfg.rollout.max_batch_rows,
                                    rank=dist.rank, world=W, gather=gather)
        # Sampling costs 2P per token: 1/3 of a training token equivalent.
        acct["selection"] += float(Fraction(1, 3) * stats["sampled_tokens"])
        stats |= {"round": round_index, "seconds": time.perf_counter() - t0}
        say(f"rl: edge-of-competence selection {round_index} at step {step}: {stats['selected']} of "
            f"{stats['candidates']} candidates (mean pass@1 {stats['candidate_pass1']:.3f}, metric "
            f"{cfg.data.edge.metric}) in {stats['seconds']:.1f}s")
        if metrics is not None:  # logged under the first (1-based) step that uses it: resume drops it with that step
            metrics.write({"step": step + 1, "selection": stats})
        if not chosen and round_index > 0:
            say(f"rl: no candidate is at the edge of competence now; keeping the previous {len(pool)} prompts")
            return pool
        if not chosen:
            raise UserError(f"data.edge: no problem of {len(candidates)} candidates is at the edge of competence "
                            f"(pass@1 <= {cfg.data.edge.max_pass1}, pass@{cfg.data.edge.k} >= "
                            f"{cfg.data.edge.min_passk}); widen data.ops, raise data.edge.samples or the thresholds")
        return chosen

    metrics = MetricsWriter(out, start, cfg.log.tensorboard) if dist.main else None
    by_id = {p.id: p for p in full_pool}
    if state is not None:
        missing = [i for i in state["pool_ids"] if i not in by_id]
        if missing:
            raise UserError(f"resume: {len(missing)} prompts of {resume_from} are no longer in {cfg.data.path} "
                            f"(e.g. {missing[0]}); the data changed since the run started")
        pool = [by_id[i] for i in state["pool_ids"]]
        schedule_start, selection_round = int(state["schedule_start"]), int(state["selection_round"])
        say(f"rl: resuming from {resume_from} at step {start}")
    elif cfg.data.select == "edge":
        pool, schedule_start, selection_round = select(0, 0), 0, 0
    else:
        pool, schedule_start, selection_round = full_pool, 0, 0
    schedule = PromptSchedule(pool, N, cfg.train.seed, cfg.data.contexts, schedule_start)
    last_good = str(resume_from) if resume_from is not None else None

    def save(target: Path, step: int) -> None:
        nonlocal last_good
        if dist.main:
            st = {"step": step, "total_steps": total, "optimizer": optimizer.state_dict(),
                  "rng": {"torch": torch.get_rng_state()},
                  "pool_ids": [p.id for p in pool], "schedule_start": schedule_start,
                  "selection_round": selection_round, "accounting": dict(acct), "world_size": W}
            ck.save_checkpoint(target, policy, tokenizer, run_dict, st)
            if target.parent.name == "checkpoints":
                ck.prune_checkpoints(out, cfg.checkpoint.keep)
        last_good = str(target)
        dist.barrier()

    t_start = time.perf_counter()
    with StopOnSignal() as stop:
        for step in range(start, total):
            every = cfg.data.reselect_every
            if every and step > 0 and step % every == 0 and step != schedule_start:
                selection_round += 1
                pool = select(selection_round, step)
                schedule_start = step
                schedule = PromptSchedule(pool, N, cfg.train.seed, cfg.data.contexts, schedule_start)
            t0 = time.perf_counter()
            whole = schedule.batch(step)  # repeats are counted over the whole batch, before each process takes its slice
            mine = _local_slice(list(zip(whole, copy_indices(whole))), cfg.grpo.mini_batch_prompts, dist.rank, W)
            problems, copies = [p for p, _ in mine], [c for _, c in mine]
            sampler = views.sync(policy)
            t_sync = time.perf_counter() - t0
            batch = sample_rollouts(sampler, problems, cfg.rollout, step_seed(cfg.train.seed, step), copies=copies)
            score_rollouts(batch, problems, reward)
            t1 = time.perf_counter()
            advantages = group_advantages(batch.rewards(), cfg.grpo.normalize_std, cfg.grpo.std_eps)
            minis = build_minibatches(batch, advantages, cfg.grpo.mini_batch_prompts // W, cfg.grpo.micro_batch_size,
                                      device, cfg.grpo.share_prompts)
            lr = o.lr * min(1.0, (step + 1) / o.warmup_steps) if o.warmup_steps else o.lr
            learner.prepare(minis)
            try:
                stats = learner.update(minis, lr)
            except UserError as exc:
                if metrics is not None:
                    metrics.close()
                raise type(exc)(f"{exc} at RL step {step + 1}; the last good checkpoint is kept: "
                                f"{last_good or 'none was written yet'}") from None
            if device.type == "cuda":
                torch.cuda.synchronize()
            t_train = time.perf_counter() - t1
            sums = _rollout_sums(batch)
            if W > 1:
                keys = sorted(sums)
                t = torch.tensor([sums[k] for k in keys], dtype=torch.float64, device=device)
                tdist.all_reduce(t)
                sums = dict(zip(keys, t.tolist(), strict=True))
            acct["generated"] += float(factor * Fraction(int(sums["sequence_tokens"])))
            done = step + 1
            step_s = time.perf_counter() - t0
            timings = {"sync": t_sync, "sample": batch.timings["sample_s"], "score": batch.timings["score_s"],
                       "train": t_train}
            row = {
                "step": done,
                "reward/mean": sums["reward"] / sums["rollouts"],
                "reward/std": sums["group_std"] / sums["groups"],
                "frac_reward_zero_std": sums["zero_std"] / sums["groups"],
                **({"kl": stats["kl"]} if "kl" in stats else {}),
                "clip_ratio": stats["clip_ratio"],
                "completions/mean_length": sums["completion_tokens"] / sums["rollouts"],
                "completions/truncated_ratio": sums["truncated"] / sums["rollouts"],
                "entropy": stats["entropy"],
                "rollout/outcome_accuracy": sums["outcome"] / sums["rollouts"],
                "rollout/process_accuracy": sums["process"] / sums["rollouts"],
                "rollout/process_node_accuracy": sums["process_nodes"] / sums["rollouts"],
                "loss/policy": stats["pg_loss"],
                "grad_norm": stats["grad_norm"],
                "lr": lr,
                "budget/token_equivalents": float(per_step * done),
                "budget/token_equivalents_generated": acct["generated"],
                "budget/selection_token_equivalents": acct["selection"],
                "time/step_s": step_s,
                **{f"time/{k}_share": v / step_s for k, v in timings.items()},
            }
            if not all(math.isfinite(v) for v in row.values() if isinstance(v, float)):
                bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
                raise UserError(f"rl: {', '.join(bad)} became non-finite at step {done}; last good checkpoint: "
                                f"{last_good or 'none'}")
            if metrics is not None:
                metrics.write(row)
                if done % cfg.log.every == 0 or done in (start + 1, total):
                    say(step_line(row, total, time.perf_counter() - t_start))
            stop.end_step("rl", done, total, cfg.checkpoint.every, ck.step_dir(out, done), save, metrics, say, W,
                          device)
    save(final, total)
    if metrics is not None:
        metrics.close()
    say(f"rl: done, {total} steps in {time.perf_counter() - t_start:.1f}s; final checkpoint {final}")
    dist.close()
    sys.stdout.flush()
    return final


def step_line(row: dict[str, Any], total: int, elapsed: float) -> str:
    width = len(str(total))
    kl = f" | kl {row['kl']:.2e}" if "kl" in row else ""
    return (f"step {row['step']:>{width}}/{total} | reward {row['reward/mean']:.3f} (std {row['reward/std']:.3f}, "
            f"zero-std {row['frac_reward_zero_std']:.2f}) | outcome {row['rollout/outcome_accuracy']:.3f} | process "
            f"{row['rollout/process_accuracy']:.3f}{kl} | clip {row['clip_ratio']:.3f} | len "
            f"{row['completions/mean_length']:.0f} | {row['time/step_s']:.2f}s (sample "
            f"{100 * row['time/sample_share']:.0f}% score {100 * row['time/score_share']:.0f}% train "
            f"{100 * row['time/train_share']:.0f}%) | elapsed {elapsed:.0f}s")
