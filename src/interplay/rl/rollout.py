"""Rollouts: r completions per prompt from the KV-cached sampler, each scored by the verifier.

The policy trains as `interplay.lm.model`'s module; the sampler reads a Hugging Face Qwen2 model.
`PolicySampler` keeps one HF model beside the policy and copies the policy's weights into it
before each step's rollouts (a copy of P parameters: negligible next to sampling N·r sequences).
Sampling randomness is keyed per (step seed, prompt, sample index), so a step's rollouts do not
depend on batch sizes or on the number of processes sharing the prompts.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from interplay.rl.config import RolloutConfig
from interplay.rl.data import Problem


@dataclass
class Rollout:
    group: int  # index of its prompt in the step's list
    sample_index: int
    prompt_ids: tuple[int, ...]
    completion_ids: list[int]
    text: str
    finish_reason: str  # stop | eos | length
    reward: float = 0.0
    outcome_correct: bool = False
    process_correct: bool = False
    process_accuracy: float = 0.0

    @property
    def num_tokens(self) -> int:
        return len(self.prompt_ids) + len(self.completion_ids)


@dataclass
class RolloutBatch:
    """Rollouts group-major: the r rollouts of prompt 0, then of prompt 1, ..."""

    rollouts: list[Rollout]
    r: int
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def groups(self) -> int:
        return len(self.rollouts) // self.r

    def rewards(self):
        import torch

        return torch.tensor([x.reward for x in self.rollouts], dtype=torch.float64).view(self.groups, self.r)


def step_seed(seed: int, step: int) -> int:
    """The sampler seed of RL step `step`: a different stream every step, a pure function of both."""
    h = hashlib.blake2b(f"{seed}:{step}".encode(), digest_size=8, person=b"interplay-rl")
    return int.from_bytes(h.digest(), "little") >> 1


class PolicySampler:
    """A Hugging Face copy of the policy for the sampler, refreshed with `sync(policy)`."""

    def __init__(self, policy: Any, tokenizer: Any, device: Any, dtype: Any):
        from transformers import Qwen2ForCausalLM

        special = {"bos": tokenizer.bos_token_id, "eos": tokenizer.eos_token_id, "pad": tokenizer.pad_token_id}
        config = policy.cfg.qwen2_config(policy.vocab_size, special)
        self.hf = Qwen2ForCausalLM(config).to(device=device, dtype=dtype)
        self.hf.eval()
        self.tokenizer = tokenizer
        self.dtype = dtype
        self.sampler = None

    def sync(self, policy: Any):
        """Copy the policy's current weights in; return a Sampler over them."""
        import torch

        from interplay.lm.sampler import Sampler

        weights = policy.hf_state_dict()
        with torch.no_grad():
            missing, unexpected = self.hf.load_state_dict(weights, strict=False)
        if unexpected or set(missing) - {"lm_head.weight"}:
            raise RuntimeError(f"policy weights do not fit the sampler's model: missing {missing}, unexpected {unexpected}")
        if self.hf.config.tie_word_embeddings:
            self.hf.tie_weights()
        self.sampler = Sampler(self.hf, self.tokenizer)
        return self.sampler


def copy_indices(problems: Sequence[Problem]) -> list[int]:
    """For each problem, how many times its prompt appears before it in `problems` (0 for a first copy)."""
    seen: dict[tuple[int, ...], int] = {}
    out = []
    for p in problems:
        out.append(seen.get(p.prompt_ids, 0))
        seen[p.prompt_ids] = out[-1] + 1
    return out


def sample_rollouts(
    sampler: Any,
    problems: Sequence[Problem],
    cfg: RolloutConfig,
    seed: int,
    stop_token_ids: tuple[int, ...] | None = None,
    stop_at_eos: bool = True,
    copies: Sequence[int] | None = None,
) -> RolloutBatch:
    """`cfg.rollouts` completions of every problem (unscored), group-major.

    `copies[i]`: how many times problem i's prompt came earlier in the step's whole batch (`copy_indices`;
    under DDP each process samples a slice of it, so the count must come from the whole batch).

    Completions end at `</answer>` or end-of-sequence (the sampler's defaults); a benchmark that
    needs every completion to be exactly max_new_tokens long passes stop_token_ids=() and
    stop_at_eos=False.
    """
    from interplay.lm.sampler import Request, SamplingConfig

    t0 = time.perf_counter()
    config = SamplingConfig(n=cfg.rollouts, temperature=cfg.temperature, top_p=cfg.top_p, top_k=cfg.top_k,
                            max_new_tokens=cfg.max_new_tokens, seed=seed, max_batch_rows=cfg.max_batch_rows,
                            stop_token_ids=stop_token_ids, stop_at_eos=stop_at_eos)
    # A sample's randomness is keyed by (seed, prompt, sample index), so a problem drawn twice in one step
    # (a pool smaller than the batch) would get the same r completions twice: a repeat continues the sample
    # indices of the copies before it (the first copy keeps 0..r-1, so steps without repeats are unchanged).
    copies = copy_indices(problems) if copies is None else copies
    requests = [Request(p.prompt_ids, copy * cfg.rollouts + j, prompt_index=i)
                for i, (p, copy) in enumerate(zip(problems, copies, strict=True)) for j in range(cfg.rollouts)]
    slots: list[Rollout | None] = [None] * len(requests)
    for c in sampler.generate(requests, config):
        j = c.sample_index % cfg.rollouts
        slots[c.prompt_index * cfg.rollouts + j] = Rollout(
            group=c.prompt_index, sample_index=j, prompt_ids=problems[c.prompt_index].prompt_ids,
            completion_ids=list(c.token_ids), text=c.text, finish_reason=c.finish_reason)
    assert all(s is not None for s in slots)
    return RolloutBatch(slots, cfg.rollouts, {"sample_s": time.perf_counter() - t0})  # type: ignore[arg-type]


def score_rollouts(batch: RolloutBatch, problems: Sequence[Problem], reward: Any) -> RolloutBatch:
    """Fill in reward and verdict fields with the verifier (one gold graph per problem)."""
    from interplay.verify import load_gold, verify

    t0 = time.perf_counter()
    golds = [load_gold(p.record) for p in problems]
    for x in batch.rollouts:
        v = verify(golds[x.group], x.text)
        x.reward = float(reward(v))
        x.outcome_correct = bool(v.outcome_correct)
        x.process_correct = bool(v.process_correct)
        x.process_accuracy = float(v.process_accuracy)
    batch.timings["score_s"] = time.perf_counter() - t0
    return batch
