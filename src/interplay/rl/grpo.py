"""The maths of GRPO (Shao et al. 2024) as the paper ran it (verl's GRPO with a KL loss).

For a group of r rollouts of one prompt with rewards R_1..R_r, every token of rollout i gets the
advantage

    A_i = (R_i − mean(R)) / (std(R) + eps)        (std-normalised; or just R_i − mean(R))

with the unbiased (n − 1) standard deviation, as verl and TRL compute it. The per-token loss is
PPO's clipped surrogate plus a KL penalty to a frozen reference model,

    ρ = π(t) / π_old(t)
    ℓ = max(−A·ρ, −A·clip(ρ, 1 − ε_low, 1 + ε_high))  +  β · KL_k3(π ‖ π_ref)
    KL_k3 = exp(log π_ref − log π) − (log π_ref − log π) − 1     (Schulman's low-variance "k3")

and the loss of a mini-batch is the *token mean* of ℓ over all completion tokens in it (every
token weighs the same, whichever rollout it belongs to).
"""

from __future__ import annotations

import torch

# Bounds on the log-ratio inside k3 and on k3 itself (as verl's low_var_kl): one token whose
# probabilities under policy and reference differ by e^20 must not produce an inf/NaN gradient.
KL_LOG_RATIO_BOUND = 20.0
KL_MAX = 10.0


def group_advantages(rewards: torch.Tensor, normalize_std: bool = True, eps: float = 1e-6) -> torch.Tensor:
    """Advantages (G, r) from rewards (G, r): centred on each group's mean, optionally / (std + eps).

    A group whose rewards are all equal gets advantage 0 everywhere (it carries no signal).
    """
    if rewards.dim() != 2 or rewards.shape[1] < 2:
        raise ValueError(f"rewards must be (groups, r >= 2), got shape {tuple(rewards.shape)}")
    rewards = rewards.double()
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    if normalize_std:
        centred = centred / (rewards.std(dim=1, keepdim=True, unbiased=True) + eps)
    return centred.float()


def token_mean(
    values: torch.Tensor, mask: torch.Tensor | None = None, count: float | torch.Tensor | None = None
) -> torch.Tensor:
    """Σ values (over masked tokens) / count (default: the number of tokens summed).

    Every token weighs the same, whichever rollout it belongs to (unlike a mean of per-sequence
    means). Passing the mini-batch's total token count lets micro-batches (and processes) each
    return their share, so that their sum is exactly the token mean of the whole mini-batch.
    """
    if mask is None:
        total, n = values.sum(), values.numel()
    else:
        total, n = (values * mask).sum(), mask.sum()
    denom = n if count is None else count
    return total / torch.clamp(torch.as_tensor(denom, dtype=total.dtype, device=total.device), min=1)


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token low-variance KL estimate k3 = e^(ref − logp) − (ref − logp) − 1 (≥ 0, 0 iff equal)."""
    log_ratio = torch.clamp(ref_logp - logp, -KL_LOG_RATIO_BOUND, KL_LOG_RATIO_BOUND)
    return torch.clamp(torch.exp(log_ratio) - log_ratio - 1.0, max=KL_MAX)


def clipped_surrogate(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(per-token loss, ratio, clipped) for PPO's clipped objective, all shaped like `logp`.

    `clipped` is True where the clipped branch is the one taken (its gradient is zero there): the
    ratio left [1 − ε_low, 1 + ε_high] in the direction the advantage pushes it.
    """
    # The log-ratio is bounded (as verl does) so that a token whose probability collapsed gives a large, finite
    # ratio: e^inf times a zero advantage would be NaN and poison the whole mini-batch.
    ratio = torch.exp(torch.clamp(logp - old_logp, -KL_LOG_RATIO_BOUND, KL_LOG_RATIO_BOUND))
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    return torch.maximum(unclipped, clipped), ratio, clipped > unclipped


def logprobs_and_entropy(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(log π(target), entropy of π) per token, from logits (n, V) and targets (n,); one log-softmax.

    The entropy (nats) is a metric: it carries no gradient.
    """
    logp_all = torch.log_softmax(logits.float(), dim=-1)
    logp = logp_all.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    with torch.no_grad():
        entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logp, entropy
