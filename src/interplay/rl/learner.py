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
    """One forward pass over B right-padded rows; the loss reads only the completion positions.

    A row holds one prompt followed by one or several of its completions (a *shared-prompt* row:
    the prompt is encoded once and every completion attends to it and to itself only, which is
    the same function as separate sequences). Per-token quantities are flat vectors over the
    completion tokens (n of them), rollout after rollout in the order of `index`.
    """

    index: list[int]  # rollout indices (into RolloutBatch.rollouts), in token order
    input_ids: torch.Tensor  # (B, T)
    position_ids: torch.Tensor  # (B, T) each completion continues its prompt's positions
    attn_mask: torch.Tensor  # (B, 1, T, T) True where a token may attend
    rows: torch.Tensor  # (n,) row of each completion token's prediction
    cols: torch.Tensor  # (n,) position whose output predicts it
    targets: torch.Tensor  # (n,) the completion tokens
    advantages: torch.Tensor  # (n,) the advantage of each token's rollout
    old_logp: torch.Tensor | None = None  # (n,)
    ref_logp: torch.Tensor | None = None  # (n,)

    @property
    def tokens(self) -> int:
        return int(self.targets.numel())

    def model_inputs(self) -> tuple[torch.Tensor, ...]:
        return self.input_ids, self.position_ids, self.attn_mask, self.rows, self.cols


class CompletionLogits(torch.nn.Module):
    """The policy's logits at the completion positions only: (n, V) for a Micro.

    The output head (a vocabulary-sized matmul, and the log-softmax after it) runs only where the
    loss needs it, not over prompts and padding. Wrapped as one module so that DDP sees a single
    forward. The decoder stack is the model's own modules, in the model's order, with our attention
    mask (shared-prompt rows); a test checks the result against the model's own forward.
    """

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor, attn_mask: torch.Tensor,
                rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        hidden, weight = decoder_hidden(self.model, input_ids, position_ids, attn_mask)
        return torch.nn.functional.linear(hidden[rows, cols], weight)


def decoder_hidden(model: torch.nn.Module, input_ids: torch.Tensor, position_ids: torch.Tensor,
                   attn_mask: torch.Tensor):
    """(final hidden states (B, T, d), output-head weight) of an `interplay.lm.model` module."""
    from interplay.lm.model import HFQwen2

    if isinstance(model, HFQwen2):  # only ever given one-completion rows: plain causal attention
        hidden = model.hf.model(input_ids=input_ids, position_ids=position_ids, use_cache=False).last_hidden_state
        return hidden, model.hf.lm_head.weight
    x = model.embed_tokens(input_ids)
    cos, sin = model.rope(position_ids, x.dtype)
    for layer in model.layers:
        x = layer(x, cos, sin, attn_mask)
    x = model.norm(x)
    return x, (model.embed_tokens.weight if model.lm_head is None else model.lm_head.weight)


def sharing_pays(prompt_len: int, completion_lens: list[int], linear_flops: float, attention_flops: float) -> bool:
    """Whether one shared-prompt row costs less than one row per completion.

    Cost of a row of T tokens ~ linear_flops·T (the matmuls) + attention_flops·T² (dense masked
    attention computes every pair). Sharing saves (r − 1) prompt encodings but makes one long row.
    """
    def cost(t: int) -> float:
        return linear_flops * t + attention_flops * t * t

    separate = sum(cost(prompt_len + n) for n in completion_lens)
    return cost(prompt_len + sum(completion_lens)) < separate


def share_cost_for(model: torch.nn.Module) -> tuple[float, float] | None:
    """`build_minibatches`' cost model for a policy module; None (no sharing) for the HF implementation."""
    from interplay.lm.model import HFQwen2

    if isinstance(model, HFQwen2):
        return None
    cfg = model.cfg
    non_embedding = sum(p.numel() for name, p in model.named_parameters() if not name.startswith("embed_tokens"))
    return 2.0 * non_embedding, 4.0 * cfg.hidden_size * cfg.num_hidden_layers


def _row(prompt: tuple[int, ...], completions: list[list[int]]):
    """Tokens, positions, segment ids (0 prompt, j + 1 completion j), and (col, target) per completion."""
    p = len(prompt)
    tokens, positions, segments = list(prompt), list(range(p)), [0] * p
    preds = []
    for j, c in enumerate(completions):
        start = len(tokens)
        tokens += c
        positions += range(p, p + len(c))
        segments += [j + 1] * len(c)
        # Token t of the completion is predicted by the output at the token before it in its own
        # sequence: the prompt's last token for t = 0, else the completion's own token t - 1.
        preds.append([p - 1] + list(range(start, start + len(c) - 1)))
    return tokens, positions, segments, preds


def build_minibatches(
    batch: RolloutBatch,
    advantages: torch.Tensor,
    groups_per_minibatch: int,
    micro_batch_size: int,
    pad_id: int,
    device: torch.device,
    share_cost: tuple[float, float] | None = None,
) -> list[list[Micro]]:
    """Mini-batches of whole groups, in group order, each as micro-batches of at most
    `micro_batch_size` rollouts (longest rows first, so rows of similar length share padding).

    `share_cost` = (linear_flops, attention_flops) per token / token pair enables shared-prompt rows
    for the groups where `sharing_pays`; None keeps one row per rollout.
    """
    r = batch.r
    flat_adv = advantages.reshape(-1)
    minis = []
    for g0 in range(0, batch.groups, groups_per_minibatch):
        rows: list[list[int]] = []  # each row: the rollout indices it holds
        for g in range(g0, min(batch.groups, g0 + groups_per_minibatch)):
            members = list(range(g * r, (g + 1) * r))
            prompt_len = len(batch.rollouts[members[0]].prompt_ids)
            lens = [len(batch.rollouts[i].completion_ids) for i in members]
            if share_cost is not None and r <= micro_batch_size and sharing_pays(prompt_len, lens, *share_cost):
                rows.append(members)
            else:
                rows += [[i] for i in members]

        def row_len(row: list[int]) -> int:
            return len(batch.rollouts[row[0]].prompt_ids) + sum(len(batch.rollouts[i].completion_ids) for i in row)

        rows.sort(key=lambda row: (-row_len(row), row[0]))
        micros, current = [], []
        for row in rows:
            if current and sum(len(x) for x in current) + len(row) > micro_batch_size:
                micros.append(_micro(batch, current, flat_adv, pad_id, device))
                current = []
            current.append(row)
        if current:
            micros.append(_micro(batch, current, flat_adv, pad_id, device))
        minis.append(micros)
    return minis


def _micro(batch: RolloutBatch, row_members: list[list[int]], flat_adv: torch.Tensor, pad_id: int,
           device: torch.device) -> Micro:
    built = [_row(batch.rollouts[m[0]].prompt_ids, [batch.rollouts[i].completion_ids for i in m]) for m in row_members]
    length = max(len(b[0]) for b in built)
    B = len(built)
    ids = torch.full((B, length), pad_id, dtype=torch.long)
    pos = torch.zeros((B, length), dtype=torch.long)
    seg = torch.full((B, length), -1, dtype=torch.long)  # -1: padding
    index, rows, cols, targets, adv = [], [], [], [], []
    for b, (members, (tokens, positions, segments, preds)) in enumerate(zip(row_members, built, strict=True)):
        n = len(tokens)
        ids[b, :n] = torch.tensor(tokens)
        pos[b, :n] = torch.tensor(positions)
        seg[b, :n] = torch.tensor(segments)
        for i, pred in zip(members, preds, strict=True):
            x = batch.rollouts[i]
            index.append(i)
            rows += [b] * len(pred)
            cols += pred
            targets += x.completion_ids
            adv += [float(flat_adv[i])] * len(pred)
    seg = seg.to(device)
    T = torch.arange(length, device=device)
    causal = T[None, :] <= T[:, None]  # (T, T): key k <= query i
    same = (seg[:, :, None] == seg[:, None, :]) | (seg[:, None, :] == 0)  # own segment, or the prompt
    real = (seg >= 0)[:, :, None] & (seg >= 0)[:, None, :]
    mask = causal & same & real
    mask |= torch.eye(length, dtype=torch.bool, device=device)  # padding attends to itself: no empty rows
    return Micro(index, ids.to(device), pos.to(device), mask[:, None], torch.tensor(rows, device=device),
                 torch.tensor(cols, device=device), torch.tensor(targets, dtype=torch.long, device=device),
                 torch.tensor(adv, dtype=torch.float32, device=device))


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
            logits = model(*micro.model_inputs())
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
