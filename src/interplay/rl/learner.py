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


@dataclass(frozen=True)
class Unit:
    """A prompt and the completions that follow it in a micro-batch's flat token sequence.

    The prompt sits at `prompt` = (start, length) and its completions right after it, each at
    (start, length). With shared prompts a unit holds all r rollouts of a prompt (the prompt encoded
    once); without, one rollout and its own copy of the prompt.
    """

    prompt: tuple[int, int]
    completions: tuple[tuple[int, int], ...]


@dataclass
class Micro:
    """One forward pass: the units' tokens end to end in one unpadded row; the loss reads only the
    completion positions.

    Every completion attends to its prompt and to itself only (`unit_attention`), positions
    continuing its prompt's: the same function as one separate sequence per rollout. Per-token
    quantities are flat vectors over the completion tokens (n of them), rollout after rollout in the
    order of `index`.
    """

    index: list[int]  # rollout indices (into RolloutBatch.rollouts), in token order
    input_ids: torch.Tensor  # (1, N)
    position_ids: torch.Tensor  # (1, N) each completion continues its prompt's positions
    units: list[Unit]
    cols: torch.Tensor  # (n,) flat position whose output predicts each completion token
    targets: torch.Tensor  # (n,) the completion tokens
    advantages: torch.Tensor  # (n,) the advantage of each token's rollout
    old_logp: torch.Tensor | None = None  # (n,)
    ref_logp: torch.Tensor | None = None  # (n,)

    @property
    def tokens(self) -> int:
        return int(self.targets.numel())

    def model_inputs(self) -> tuple[Any, ...]:
        return self.input_ids, self.position_ids, self.units, self.cols


class CompletionLogits(torch.nn.Module):
    """The policy's logits at the completion positions only: (n, V) for a Micro.

    The output head (a vocabulary-sized matmul, and the log-softmax after it) runs only where the
    loss needs it, not over prompts. Wrapped as one module so that DDP sees a single forward. The
    decoder stack is the model's own modules, in the model's order, with the units' attention; a
    test checks the result against the model's own forward on each rollout alone.
    """

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor, units: list[Unit],
                cols: torch.Tensor) -> torch.Tensor:
        hidden, weight = completion_hidden(self.model, input_ids, position_ids, units, cols)
        return torch.nn.functional.linear(hidden, weight)


def unit_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, units: list[Unit],
                   masks: dict[tuple[int, int], torch.Tensor]) -> torch.Tensor:
    """Attention over a flat row of units, (1, heads, N, d) in and out.

    A prompt attends causally to itself; each completion to its whole prompt and causally to itself.
    One attention call per prompt and per completion computes little more than those token pairs: a
    dense mask over the row would compute every pair and discard most (a unit of a 100-token prompt
    and 8 completions of 200 is a 1,700-token row: 2.9M pairs with a dense mask, 0.49M in these calls).
    `masks` caches each (completion, prompt) length pair's mask; the caller shares it across layers.
    """
    import torch.nn.functional as F

    out = []
    for unit in units:
        a, p = unit.prompt
        kp, vp = k[:, :, a:a + p], v[:, :, a:a + p]
        out.append(F.scaled_dot_product_attention(q[:, :, a:a + p], kp, vp, is_causal=True))
        for s, c in unit.completions:
            mask = masks.get((c, p))
            if mask is None:  # the whole prompt, then causal within the completion
                mask = torch.ones(c, p + c, dtype=torch.bool, device=q.device)
                mask[:, p:] = torch.ones(c, c, dtype=torch.bool, device=q.device).tril()
                masks[(c, p)] = mask
            out.append(F.scaled_dot_product_attention(
                q[:, :, s:s + c], torch.cat([kp, k[:, :, s:s + c]], dim=2), torch.cat([vp, v[:, :, s:s + c]], dim=2),
                attn_mask=mask))
    return torch.cat(out, dim=2)


def completion_hidden(model: torch.nn.Module, input_ids: torch.Tensor, position_ids: torch.Tensor,
                      units: list[Unit], cols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(final hidden states at `cols` (n, d), output-head weight) of an `interplay.lm.model` module."""
    from interplay.lm.model import HFQwen2

    if isinstance(model, HFQwen2):
        return _hf_completion_hidden(model, input_ids, units), model.hf.lm_head.weight
    x = model.embed_tokens(input_ids)
    cos, sin = model.rope(position_ids, x.dtype)
    masks: dict[tuple[int, int], torch.Tensor] = {}  # the same in every layer: built once per forward
    for layer in model.layers:
        x = layer.forward_with(x, cos, sin, lambda q, k, v: unit_attention(q, k, v, units, masks))
    x = model.norm(x[0, cols])  # RMSNorm is per token: normalising only the rows the head reads is the same
    return x, (model.embed_tokens.weight if model.lm_head is None else model.lm_head.weight)


def _hf_completion_hidden(model: torch.nn.Module, input_ids: torch.Tensor, units: list[Unit]) -> torch.Tensor:
    """transformers' own forward (the reference implementation): one right-padded row per rollout,
    plain causal attention (padding after a row's tokens is never attended to)."""
    flat = input_ids[0]
    rows, spans = [], []
    if not any(unit.completions for unit in units):
        return model.hf.lm_head.weight.new_zeros(0, model.hf.config.hidden_size)
    for unit in units:
        a, p = unit.prompt
        for s, c in unit.completions:
            rows.append(torch.cat([flat[a:a + p], flat[s:s + c]]))
            spans.append((p - 1, p - 1 + c))
    length = max(r.numel() for r in rows)
    ids = torch.zeros(len(rows), length, dtype=torch.long, device=flat.device)
    for i, r in enumerate(rows):
        ids[i, :r.numel()] = r
    pos = torch.arange(length, device=flat.device).expand(len(rows), length)
    hidden = model.hf.model(input_ids=ids, position_ids=pos, use_cache=False).last_hidden_state
    return torch.cat([hidden[i, a:b] for i, (a, b) in enumerate(spans)])


def build_minibatches(
    batch: RolloutBatch,
    advantages: torch.Tensor,
    groups_per_minibatch: int,
    micro_batch_size: int,
    device: torch.device,
    share_prompts: bool = True,
) -> list[list[Micro]]:
    """Mini-batches of whole groups, in group order, each as micro-batches of at most
    `micro_batch_size` rollouts.

    With `share_prompts` a group's rollouts form one unit behind a single copy of the prompt (when
    the group fits in a micro-batch; else one unit per rollout). Sharing always costs less here:
    each completion's attention is the same either way and the prompt is encoded once instead of r
    times.
    """
    r = batch.r
    flat_adv = advantages.reshape(-1)
    minis = []
    for g0 in range(0, batch.groups, groups_per_minibatch):
        units: list[list[int]] = []  # each unit: the rollout indices behind its prompt
        for g in range(g0, min(batch.groups, g0 + groups_per_minibatch)):
            members = list(range(g * r, (g + 1) * r))
            units += [members] if share_prompts and r <= micro_batch_size else [[i] for i in members]
        micros, current = [], []
        for unit in units:
            if current and sum(len(u) for u in current) + len(unit) > micro_batch_size:
                micros.append(_micro(batch, current, flat_adv, device))
                current = []
            current.append(unit)
        if current:
            micros.append(_micro(batch, current, flat_adv, device))
        minis.append(micros)
    return minis


def _micro(batch: RolloutBatch, unit_members: list[list[int]], flat_adv: torch.Tensor, device: torch.device) -> Micro:
    tokens: list[int] = []
    positions: list[int] = []
    units: list[Unit] = []
    index, cols, targets, adv = [], [], [], []
    for members in unit_members:
        prompt = batch.rollouts[members[0]].prompt_ids
        p, a = len(prompt), len(tokens)
        tokens += prompt
        positions += range(p)
        spans = []
        for i in members:
            completion = batch.rollouts[i].completion_ids
            s, c = len(tokens), len(completion)
            if not c:
                continue  # nothing to score (the sampler always emits at least one token)
            tokens += completion
            positions += range(p, p + c)
            spans.append((s, c))
            index.append(i)
            # Token t of the completion is predicted by the output at the token before it in its own
            # sequence: the prompt's last token for t = 0, else the completion's own token t - 1.
            cols += [a + p - 1, *range(s, s + c - 1)]
            targets += completion
            adv += [float(flat_adv[i])] * c
        units.append(Unit((a, p), tuple(spans)))
    return Micro(index, torch.tensor([tokens], device=device), torch.tensor([positions], device=device), units,
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
        temperature: float = 1.0,
    ):
        self.policy, self.optimizer, self.cfg = policy, optimizer, cfg
        self.temperature = temperature
        self.head = CompletionLogits(policy)
        self.runner = wrap(self.head) if wrap is not None else self.head
        self.reference = CompletionLogits(reference) if reference is not None and cfg.kl_coef > 0 else None
        self.autocast = autocast
        self.grad_clip = grad_clip
        self.world = world

    def _logp(self, model: torch.nn.Module, micro: Micro) -> tuple[torch.Tensor, torch.Tensor]:
        with self.autocast():
            logits = model(*micro.model_inputs())
        # π, π_old and π_ref are the distributions the rollouts were sampled from: logits / temperature.
        if self.temperature != 1.0:
            logits = logits.float() / self.temperature
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
