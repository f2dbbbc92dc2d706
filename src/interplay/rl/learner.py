"""One RL step's optimisation: log-probs of the rollouts, then several optimiser mini-batches.

A step's rollouts (N prompts × r) are cut into mini-batches of whole groups (N / mini_batch_prompts
optimiser steps per epoch); each mini-batch runs as micro-batches (memory only), with the loss
normalised by the mini-batch's token count over all processes, so micro-batch size and process
count do not change the update.

π_old is the policy before the step's first update: for the first mini-batch of the first epoch
it is the very forward pass being trained (ratio exactly 1, nothing extra computed); the other
mini-batches get their π_old log-probs from one no-grad pass before any update. The reference's
log-probs (for the KL loss) come from one no-grad pass of the frozen reference model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch

from interplay.rl.config import GRPOConfig
from interplay.rl.grpo import clipped_surrogate, k3_kl, logprobs_and_entropy, token_mean
from interplay.rl.rollout import RolloutBatch


@dataclass
class Micro:
    """One forward pass: B right-padded sequences; the loss reads only the completion positions.

    Per-token quantities are flat vectors over those positions (n tokens), in row-major order.
    """

    index: list[int]  # rollout indices (into RolloutBatch.rollouts)
    input_ids: torch.Tensor  # (B, T) prompt + completion, without its last token
    position_ids: torch.Tensor  # (B, T)
    rows: torch.Tensor  # (n,) row of each completion token's prediction
    cols: torch.Tensor  # (n,) position whose output predicts it
    targets: torch.Tensor  # (n,) the completion tokens
    advantages: torch.Tensor  # (n,) the advantage of each token's rollout
    old_logp: torch.Tensor | None = None  # (n,)
    ref_logp: torch.Tensor | None = None  # (n,)

    @property
    def tokens(self) -> int:
        return int(self.targets.numel())


class CompletionLogits(torch.nn.Module):
    """The policy's logits at the completion positions only: (n, V) for a Micro.

    The output head (a vocabulary-sized matmul, and the log-softmax after it) runs only where the
    loss needs it, not over prompts and padding. Wrapped as one module so that DDP sees a single
    forward. The decoder stack is the model's own modules, in the model's order; a test checks the
    result against the model's full forward.
    """

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor, rows: torch.Tensor,
                cols: torch.Tensor) -> torch.Tensor:
        hidden, weight = decoder_hidden(self.model, input_ids, position_ids)
        return torch.nn.functional.linear(hidden[rows, cols], weight)


def decoder_hidden(model: torch.nn.Module, input_ids: torch.Tensor, position_ids: torch.Tensor):
    """(final hidden states (B, T, d), output-head weight) of an `interplay.lm.model` module."""
    from interplay.lm.model import HFQwen2, rope_tables, segment_mask

    if isinstance(model, HFQwen2):
        hidden = model.hf.model(input_ids=input_ids, position_ids=position_ids, use_cache=False).last_hidden_state
        return hidden, model.hf.lm_head.weight
    x = model.embed_tokens(input_ids)
    cos, sin = rope_tables(position_ids, model.cfg.head_dim, model.cfg.rope_theta, x.dtype)
    mask = segment_mask(position_ids)
    for layer in model.layers:
        x = layer(x, cos, sin, mask)
    x = model.norm(x)
    return x, (model.embed_tokens.weight if model.lm_head is None else model.lm_head.weight)


def build_minibatches(
    batch: RolloutBatch,
    advantages: torch.Tensor,
    groups_per_minibatch: int,
    micro_batch_size: int,
    pad_id: int,
    device: torch.device,
) -> list[list[Micro]]:
    """Mini-batches of whole groups, in group order; each as micro-batches sorted by length (less padding)."""
    r = batch.r
    flat_adv = advantages.reshape(-1)
    minis = []
    for g0 in range(0, batch.groups, groups_per_minibatch):
        idx = list(range(g0 * r, min(batch.groups, g0 + groups_per_minibatch) * r))
        idx.sort(key=lambda i: (-batch.rollouts[i].num_tokens, i))
        micros = []
        for m0 in range(0, len(idx), micro_batch_size):
            part = idx[m0 : m0 + micro_batch_size]
            length = max(batch.rollouts[i].num_tokens for i in part) - 1
            ids = torch.full((len(part), length), pad_id, dtype=torch.long)
            rows, cols, targets, adv = [], [], [], []
            for row, i in enumerate(part):
                x = batch.rollouts[i]
                seq = list(x.prompt_ids) + x.completion_ids
                ids[row, : len(seq) - 1] = torch.tensor(seq[:-1], dtype=torch.long)
                first = len(x.prompt_ids) - 1  # the output at this position predicts the first completion token
                n = len(x.completion_ids)
                rows += [row] * n
                cols += range(first, first + n)
                targets += x.completion_ids
                adv += [float(flat_adv[i])] * n
            positions = torch.arange(length).expand(len(part), length)
            micros.append(Micro(part, ids.to(device), positions.to(device), torch.tensor(rows, device=device),
                                torch.tensor(cols, device=device), torch.tensor(targets, dtype=torch.long, device=device),
                                torch.tensor(adv, dtype=torch.float32, device=device)))
        minis.append(micros)
    return minis


class Learner:
    """Policy (trained), reference (frozen, optional) and optimiser of an RL run.

    `wrap` wraps the trained module for data parallelism (e.g. DDP); the default is no wrapping.
    """

    def __init__(
        self,
        policy: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        cfg: GRPOConfig,
        reference: torch.nn.Module | None = None,
        wrap: Callable[[torch.nn.Module], torch.nn.Module] | None = None,
        autocast: Any = nullcontext,
        grad_clip: float = 1.0,
        world: int = 1,
    ):
        self.policy, self.optimizer, self.cfg = policy, optimizer, cfg
        self.head = CompletionLogits(policy)
        self.runner = wrap(self.head) if wrap is not None else self.head
        self.reference = CompletionLogits(reference) if reference is not None and cfg.kl_coef > 0 else None
        self.autocast = autocast
        self.grad_clip = grad_clip
        self.world = world

    def _logp(self, model: torch.nn.Module, micro: Micro) -> tuple[torch.Tensor, torch.Tensor]:
        with self.autocast():
            logits = model(micro.input_ids, micro.position_ids, micro.rows, micro.cols)
        return logprobs_and_entropy(logits, micro.targets)

    @torch.no_grad()
    def prepare(self, minis: list[list[Micro]]) -> None:
        """Reference log-probs (if KL is on) and π_old log-probs of every mini-batch after the first."""
        if self.reference is not None:
            for micros in minis:
                for micro in micros:
                    micro.ref_logp = self._logp(self.reference, micro)[0]
        # The first mini-batch takes its epoch-0 training forward as π_old (see `update`), in every epoch.
        for micros in minis[1:]:
            for micro in micros:
                micro.old_logp = self._logp(self.head, micro)[0]

    def _global(self, values: list[float]) -> list[float]:
        if self.world == 1:
            return values
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=next(self.policy.parameters()).device)
        dist.all_reduce(t)
        return t.tolist()

    def update(self, minis: list[list[Micro]], lr: float) -> dict[str, Any]:
        """Run every mini-batch (for `epochs` passes); return the step's statistics (token means)."""
        from interplay.lm.train import TrainingDiverged

        for group in self.optimizer.param_groups:
            group["lr"] = lr
        cfg = self.cfg
        keys = ("tokens", "pg", "kl", "clipped", "entropy")
        sums = dict.fromkeys(keys, 0.0)
        per_minibatch: list[dict[str, float]] = []
        grad_norms: list[float] = []
        self.policy.train()
        for epoch in range(cfg.epochs):
            for m, micros in enumerate(minis):
                (n_tokens,) = self._global([float(sum(x.tokens for x in micros))])
                mb = dict.fromkeys(keys, 0.0) | {"ratio_dev": 0.0}
                for j, micro in enumerate(micros):
                    sync = self.world > 1 and j < len(micros) - 1
                    ctx = self.runner.no_sync() if sync and hasattr(self.runner, "no_sync") else nullcontext()
                    with ctx:
                        logp, entropy = self._logp(self.runner, micro)
                        if micro.old_logp is None:  # first mini-batch of epoch 0: π_old is this very pass
                            micro.old_logp = logp.detach()
                        pg, ratio, clipped = clipped_surrogate(logp, micro.old_logp, micro.advantages,
                                                               cfg.clip_low, cfg.clip_high)
                        per_token = pg
                        if self.reference is not None:
                            kl = k3_kl(logp, micro.ref_logp)
                            per_token = pg + cfg.kl_coef * kl
                        # DDP averages gradients over processes; the token mean is over all of them.
                        loss = token_mean(per_token, count=n_tokens) * self.world
                        loss.backward()
                    with torch.no_grad():
                        mb["tokens"] += micro.tokens
                        mb["pg"] += float(pg.sum())
                        mb["clipped"] += float(clipped.sum())
                        mb["entropy"] += float(entropy.sum())
                        if self.reference is not None:
                            mb["kl"] += float(kl.sum())
                        if micro.tokens:
                            mb["ratio_dev"] = max(mb["ratio_dev"], float((ratio - 1).abs().max()))
                clip = self.grad_clip if self.grad_clip > 0 else float("inf")
                norm = float(torch.nn.utils.clip_grad_norm_(self.policy.parameters(), clip))
                if not math.isfinite(norm):
                    self.optimizer.zero_grad(set_to_none=True)
                    raise TrainingDiverged(f"gradient norm became {norm} in mini-batch {m + 1} (lr {lr:.3e}); "
                                           "lower optim.lr or set optim.grad_clip")
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                grad_norms.append(norm)
                for k in keys:
                    sums[k] += mb[k]
                n = max(mb["tokens"], 1.0)
                per_minibatch.append({"epoch": epoch, "minibatch": m, "tokens": mb["tokens"], "kl": mb["kl"] / n,
                                      "clip_ratio": mb["clipped"] / n, "max_abs_ratio_minus_1": mb["ratio_dev"],
                                      "grad_norm": norm})
        sums = dict(zip(keys, self._global([sums[k] for k in keys]), strict=True))
        n = max(sums["tokens"], 1.0)
        stats: dict[str, Any] = {
            "pg_loss": sums["pg"] / n,
            "clip_ratio": sums["clipped"] / n,
            "entropy": sums["entropy"] / n,
            "grad_norm": sum(grad_norms) / len(grad_norms),
            "optimizer_steps": len(grad_norms),
            "minibatches": per_minibatch,
        }
        if self.reference is not None:
            stats["kl"] = sums["kl"] / n
        return stats
