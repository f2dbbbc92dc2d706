"""Choosing the next token from logits: greedy, or temperature / top-k / top-p by inverse CDF.

Each row brings its own uniform (see `rng`), so the choice for a row depends only on that row's logits
and its own uniform — never on the other rows of the batch. The cumulative sum runs in float64 so that
float32 rounding of many small probabilities does not shift the boundaries between tokens.
"""

from __future__ import annotations

import torch


def choose_tokens(
    logits: torch.Tensor,
    u: torch.Tensor,
    *,
    temperature: float,
    top_k: int = 0,
    top_p: float = 1.0,
) -> torch.Tensor:
    """Token ids (B,) for logits (B, V) and uniforms u (B,) in [0, 1).

    temperature 0 means greedy (u unused). top_k 0 and top_p 1.0 mean "no truncation".
    """
    if temperature == 0.0:
        return logits.argmax(dim=-1)
    scaled = logits.float() / temperature
    vocab = scaled.shape[-1]
    order: torch.Tensor | None = None  # candidate position -> token id; None = identity
    if 0 < top_k < vocab:
        scaled, order = torch.topk(scaled, top_k, dim=-1)  # sorted, largest first
    elif top_p < 1.0:
        scaled, order = torch.sort(scaled, dim=-1, descending=True)
    probs = torch.softmax(scaled, dim=-1).double()
    if top_p < 1.0:
        # Keep the smallest prefix (largest first) whose mass reaches top_p: a token is kept when the
        # mass strictly before it is below top_p, so the most likely token is always kept.
        before = torch.cumsum(probs, dim=-1) - probs
        probs = probs.masked_fill(before >= top_p, 0.0)
    cdf = torch.cumsum(probs, dim=-1)
    total = cdf[:, -1:]
    # u < 1, but u * total can round up to total; keep the target strictly inside the mass.
    target = torch.minimum(u.to(cdf.device, torch.float64).unsqueeze(-1) * total, total * (1.0 - 2.0**-50))
    # right=True: the first index whose cdf exceeds the target; a zero-probability token occupies an
    # empty interval and can never be chosen.
    pos = torch.searchsorted(cdf, target, right=True).squeeze(-1)
    if order is None:
        return pos
    return order.gather(-1, pos.unsqueeze(-1)).squeeze(-1)
