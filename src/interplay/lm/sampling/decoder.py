"""A KV-cached forward pass over the weights of a Hugging Face Qwen2/Llama-style causal LM.

Why not `model.generate`: for evaluation (n samples of one prompt) it re-encodes the prompt n times,
grows its cache by concatenation every step (quadratic copying), materialises repeated K/V heads for
grouped-query attention and keeps computing rows that already finished. This module reads the same
weights and runs the same arithmetic (checked against the HF forward in tests) with

* a preallocated cache, written in place at each row's own position;
* the prompt encoded once and its K/V copied to all samples of that prompt;
* grouped-query attention without repeating K/V (the query heads of one group attend as a block);
* fused q/k/v and gate/up projections (one matmul each instead of three / two);
* a cache that can be compacted to the rows still running.

Prompts of different lengths share a batch *right*-padded: a causal prefill never lets a real token
see the padding after it, and each row then writes its new tokens at its own position, with a mask
that hides whatever lies beyond that position. No left padding, no shifted positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from interplay.errors import UserError

SUPPORTED_MODEL_TYPES = ("qwen2", "llama")


@dataclass
class _Layer:
    ln1: torch.Tensor
    eps1: float
    qkv_w: torch.Tensor
    qkv_b: torch.Tensor | None
    o_w: torch.Tensor
    o_b: torch.Tensor | None
    ln2: torch.Tensor
    eps2: float
    gate_up_w: torch.Tensor
    gate_up_b: torch.Tensor | None
    down_w: torch.Tensor
    down_b: torch.Tensor | None


def _cat_bias(*linears: torch.nn.Linear) -> torch.Tensor | None:
    if all(lin.bias is None for lin in linears):
        return None
    parts = [
        lin.bias.detach() if lin.bias is not None else lin.weight.new_zeros(lin.weight.shape[0]) for lin in linears
    ]
    return torch.cat(parts)


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    # Same order of operations as Qwen2RMSNorm / LlamaRMSNorm (float32 statistics).
    dtype = x.dtype
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return weight * xf.to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class KVCache:
    """Keys and values of every layer, preallocated: (rows, kv_heads, max_len, head_dim) each."""

    def __init__(self, keys: list[torch.Tensor], values: list[torch.Tensor]):
        self.keys = keys
        self.values = values

    @property
    def rows(self) -> int:
        return self.keys[0].shape[0]

    def keep(self, rows: torch.Tensor) -> None:
        """Compact to the given rows (in that order): finished samples stop costing compute."""
        self.keys = [k.index_select(0, rows) for k in self.keys]
        self.values = [v.index_select(0, rows) for v in self.values]


class CachedDecoder:
    """Prefill and one-token decode steps for a loaded HF Qwen2ForCausalLM / LlamaForCausalLM."""

    def __init__(self, model: torch.nn.Module):
        config = model.config
        model_type = getattr(config, "model_type", None)
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise UserError(
                f"model_type {model_type!r} is not supported by the sampler (supported: {', '.join(SUPPORTED_MODEL_TYPES)})"
            )
        if getattr(config, "hidden_act", "silu") != "silu":
            raise UserError(f"hidden_act {config.hidden_act!r} is not supported by the sampler (needs 'silu')")
        layer_types = getattr(config, "layer_types", None) or []
        if any(t != "full_attention" for t in layer_types):
            raise UserError("layer_types with sliding-window attention are not supported by the sampler")
        rotary = model.model.rotary_emb
        if getattr(rotary, "rope_type", "default") in ("dynamic", "longrope"):
            raise UserError(f"rope_type {rotary.rope_type!r} is not supported by the sampler")

        self.config = config
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.num_heads
        self.group = self.num_heads // self.num_kv_heads
        self.scale = self.head_dim**-0.5
        self.embed = model.model.embed_tokens.weight.detach()
        self.dtype = self.embed.dtype
        self.device = self.embed.device
        self.final_norm = model.model.norm.weight.detach()
        self.final_eps = float(model.model.norm.variance_epsilon)
        self.lm_head = model.lm_head.weight.detach()
        self.inv_freq = rotary.inv_freq.detach().float().to(self.device)
        self.rope_scaling = float(rotary.attention_scaling)
        self.layers: list[_Layer] = []
        for layer in model.model.layers:
            att, mlp = layer.self_attn, layer.mlp
            self.layers.append(
                _Layer(
                    ln1=layer.input_layernorm.weight.detach(),
                    eps1=float(layer.input_layernorm.variance_epsilon),
                    qkv_w=torch.cat([att.q_proj.weight, att.k_proj.weight, att.v_proj.weight]).detach(),
                    qkv_b=_cat_bias(att.q_proj, att.k_proj, att.v_proj),
                    o_w=att.o_proj.weight.detach(),
                    o_b=None if att.o_proj.bias is None else att.o_proj.bias.detach(),
                    ln2=layer.post_attention_layernorm.weight.detach(),
                    eps2=float(layer.post_attention_layernorm.variance_epsilon),
                    gate_up_w=torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]).detach(),
                    gate_up_b=_cat_bias(mlp.gate_proj, mlp.up_proj),
                    down_w=mlp.down_proj.weight.detach(),
                    down_b=None if mlp.down_proj.bias is None else mlp.down_proj.bias.detach(),
                )
            )
        self.q_size = self.num_heads * self.head_dim
        self.kv_size = self.num_kv_heads * self.head_dim
        self._cos = torch.empty(0, self.head_dim, device=self.device, dtype=self.dtype)
        self._sin = self._cos

    # -- rotary tables -------------------------------------------------------------------------
    def _rope(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos/sin rows for the given positions (any shape), computed as the HF rotary module does."""
        need = int(positions.max()) + 1 if positions.numel() else 0
        if need > self._cos.shape[0]:
            length = max(need, 2 * self._cos.shape[0], 256)
            pos = torch.arange(length, device=self.device, dtype=torch.float32)
            freqs = pos[:, None] * self.inv_freq[None, :]
            emb = torch.cat((freqs, freqs), dim=-1)
            self._cos = (emb.cos() * self.rope_scaling).to(self.dtype)
            self._sin = (emb.sin() * self.rope_scaling).to(self.dtype)
        return self._cos[positions], self._sin[positions]

    def _mlp(self, layer: _Layer, h: torch.Tensor) -> torch.Tensor:
        gate, up = F.linear(h, layer.gate_up_w, layer.gate_up_b).split(layer.down_w.shape[1], dim=-1)
        return F.linear(F.silu(gate) * up, layer.down_w, layer.down_b)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.linear(_rms_norm(hidden, self.final_norm, self.final_eps), self.lm_head).float()

    # -- prefill -------------------------------------------------------------------------------
    def new_cache(self, rows: int, max_len: int) -> KVCache:
        shape = (rows, self.num_kv_heads, max_len, self.head_dim)
        make = lambda: torch.zeros(shape, device=self.device, dtype=self.dtype)  # noqa: E731
        return KVCache([make() for _ in self.layers], [make() for _ in self.layers])

    @torch.inference_mode()
    def prefill(
        self, ids: torch.Tensor, lengths: torch.Tensor, cache: KVCache, row_source: torch.Tensor
    ) -> torch.Tensor:
        """Encode right-padded prompts `ids` (P, L) and return the logits after each prompt's last token.

        Cache row r receives the keys/values of prompt `row_source[r]` (positions 0..L-1), so that n
        samples of one prompt share a single encoding of it.
        """
        num_prompts, length = ids.shape
        x = self.embed[ids]
        positions = torch.arange(length, device=self.device)
        cos, sin = self._rope(positions)  # (L, d), broadcast over prompts and heads
        for i, layer in enumerate(self.layers):
            h = _rms_norm(x, layer.ln1, layer.eps1)
            qkv = F.linear(h, layer.qkv_w, layer.qkv_b)
            q, k, v = qkv.split([self.q_size, self.kv_size, self.kv_size], dim=-1)
            q = q.view(num_prompts, length, self.num_heads, self.head_dim).transpose(1, 2)
            k = k.view(num_prompts, length, self.num_kv_heads, self.head_dim).transpose(1, 2)
            v = v.view(num_prompts, length, self.num_kv_heads, self.head_dim).transpose(1, 2)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            cache.keys[i][:, :, :length] = k.index_select(0, row_source)
            cache.values[i][:, :, :length] = v.index_select(0, row_source)
            if self.group > 1:
                k = k.repeat_interleave(self.group, dim=1)
                v = v.repeat_interleave(self.group, dim=1)
            att = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
            att = att.transpose(1, 2).reshape(num_prompts, length, self.q_size)
            x = x + F.linear(att, layer.o_w, layer.o_b)
            x = x + self._mlp(layer, _rms_norm(x, layer.ln2, layer.eps2))
        last = x[torch.arange(num_prompts, device=self.device), lengths - 1]
        return self.logits(last)

    # -- one decode step -----------------------------------------------------------------------
    @torch.inference_mode()
    def decode(self, cache: KVCache, tokens: torch.Tensor, positions: torch.Tensor, span: int) -> torch.Tensor:
        """Feed one token per cache row at that row's position; return next-token logits (B, V).

        `span` = 1 + the largest position: attention reads only that much of the cache.
        """
        rows = tokens.shape[0]
        row_index = torch.arange(rows, device=self.device)
        x = self.embed[tokens]
        cos, sin = self._rope(positions)  # (B, d)
        cos, sin = cos[:, None, :], sin[:, None, :]
        visible = torch.arange(span, device=self.device)[None, :] <= positions[:, None]  # (B, span)
        mask = visible[:, None, None, :]  # (B, 1, 1, span): one mask for every head of a row
        for i, layer in enumerate(self.layers):
            h = _rms_norm(x, layer.ln1, layer.eps1)
            qkv = F.linear(h, layer.qkv_w, layer.qkv_b)
            q, k, v = qkv.split([self.q_size, self.kv_size, self.kv_size], dim=-1)
            q = q.view(rows, self.num_heads, self.head_dim)
            k = k.view(rows, self.num_kv_heads, self.head_dim)
            v = v.view(rows, self.num_kv_heads, self.head_dim)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            keys, values = cache.keys[i], cache.values[i]
            keys[row_index, :, positions] = k
            values[row_index, :, positions] = v
            # The `group` query heads that share a K/V head attend as a block of `group` queries,
            # so K/V are never repeated: (B, kv, group, d) x (B, kv, span, d).
            qg = q.view(rows, self.num_kv_heads, self.group, self.head_dim)
            att = F.scaled_dot_product_attention(
                qg, keys[:, :, :span], values[:, :, :span], attn_mask=mask, scale=self.scale
            )
            x = x + F.linear(att.reshape(rows, self.q_size), layer.o_w, layer.o_b)
            x = x + self._mlp(layer, _rms_norm(x, layer.ln2, layer.eps2))
        return self.logits(x)
