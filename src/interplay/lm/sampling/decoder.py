"""A KV-cached forward pass over the weights of a Hugging Face Qwen2/Llama-style causal LM.

Why not `model.generate`: for evaluation (n samples of one prompt) it re-encodes the prompt n times,
grows its cache by concatenation every step (quadratic copying), materialises repeated K/V heads for
grouped-query attention and keeps computing rows that already finished. This module reads the same
weights and runs the same arithmetic (checked against the HF forward in tests) with

* a preallocated cache, written in place;
* each prompt encoded once; when many samples share a prompt (evaluation), its keys/values are kept
  once and every step scores all those samples against them in one matmul, so a step reads the
  prompt's cache once instead of once per sample (see `KVCache`);
* grouped-query attention without repeating K/V (the query heads of one group attend as a block);
* fused q/k/v and gate/up projections (one matmul each instead of three / two);
* a cache that can be compacted to the rows still running.

Prompts of different lengths share a batch *right*-padded: a causal prefill never lets a real token
see the padding after it; afterwards each row reads only its own prompt's length (shared layout) or
writes its new tokens at its own position behind a mask (per-row layout). No left padding, no
shifted positions.
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


# Share one copy of a prompt's keys/values among its samples when, on average, at least this many
# rows of the batch come from each distinct prompt (evaluation: n = 128 samples of one prompt).
SHARE_MIN_ROWS_PER_PROMPT = 8


def _runs(row_source: list[int]) -> list[tuple[int, int, int]]:
    """Maximal runs of equal prompt index: (first row, end row, prompt)."""
    runs: list[tuple[int, int, int]] = []
    for row, p in enumerate(row_source):
        if runs and runs[-1][2] == p and runs[-1][1] == row:
            runs[-1] = (runs[-1][0], row + 1, p)
        else:
            runs.append((row, row + 1, p))
    return runs


class KVCache:
    """Keys and values of every layer, preallocated, in one of two layouts.

    *shared*: the prompts' keys/values once each, `prefix_*[layer]` (prompts, kv, prompt_len, d), and
    the generated tokens' per row, `suffix_*[layer]` (rows, kv, max_new, d); the rows of one prompt
    form contiguous runs (`segments`), each attending to its prompt's single copy. Attention then
    reads a prompt's keys once per step instead of once per sample.
    *per-row*: `rows_*[layer]` (rows, kv, prompt_len + max_new, d), each row its own prompt copy at
    positions 0..len-1 followed by its generated tokens — for batches of many different prompts.
    """

    def __init__(self, shared: bool, row_source: torch.Tensor, prompt_lengths: torch.Tensor):
        self.shared = shared
        self.row_source = row_source  # row -> prompt index
        self.prompt_lengths = prompt_lengths  # per prompt
        self.row_lengths = prompt_lengths.index_select(0, row_source)  # per row
        self.prefix_k: list[torch.Tensor] = []
        self.prefix_v: list[torch.Tensor] = []
        self.suffix_k: list[torch.Tensor] = []
        self.suffix_v: list[torch.Tensor] = []
        self.rows_k: list[torch.Tensor] = []
        self.rows_v: list[torch.Tensor] = []
        self._segments()

    def _segments(self) -> None:
        lengths = self.prompt_lengths.tolist()
        self.segments = [(a, b, p, lengths[p]) for a, b, p in _runs(self.row_source.tolist())]

    @property
    def rows(self) -> int:
        return self.row_source.shape[0]

    def keep(self, rows: torch.Tensor) -> None:
        """Compact to the given rows (in that order): finished samples stop costing compute."""
        self.row_source = self.row_source.index_select(0, rows)
        self.row_lengths = self.row_lengths.index_select(0, rows)
        if self.shared:
            self.suffix_k = [k.index_select(0, rows) for k in self.suffix_k]
            self.suffix_v = [v.index_select(0, rows) for v in self.suffix_v]
            self._segments()
        else:
            self.rows_k = [k.index_select(0, rows) for k in self.rows_k]
            self.rows_v = [v.index_select(0, rows) for v in self.rows_v]


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
    @torch.inference_mode()
    def prefill(
        self, ids: torch.Tensor, lengths: torch.Tensor, row_source: torch.Tensor, max_new: int
    ) -> tuple[KVCache, torch.Tensor]:
        """Encode right-padded prompts `ids` (P, L); make the cache for rows drawn from them.

        Row r samples from prompt `row_source[r]`. Returns the cache and the logits after each
        prompt's last token (P, V). The layout is shared when rows repeat prompts enough.
        """
        num_prompts, length = ids.shape
        rows = row_source.shape[0]
        shared = rows >= SHARE_MIN_ROWS_PER_PROMPT * len(_runs(row_source.tolist()))
        cache = KVCache(shared, row_source, lengths)
        x = self.embed[ids]
        positions = torch.arange(length, device=self.device)
        cos, sin = self._rope(positions)  # (L, d), broadcast over prompts and heads
        for layer in self.layers:
            h = _rms_norm(x, layer.ln1, layer.eps1)
            qkv = F.linear(h, layer.qkv_w, layer.qkv_b)
            q, k, v = qkv.split([self.q_size, self.kv_size, self.kv_size], dim=-1)
            q = q.view(num_prompts, length, self.num_heads, self.head_dim).transpose(1, 2)
            k = k.view(num_prompts, length, self.num_kv_heads, self.head_dim).transpose(1, 2)
            v = v.view(num_prompts, length, self.num_kv_heads, self.head_dim).transpose(1, 2)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            self._store_prompt(cache, k, v, rows, length, max_new)
            if self.group > 1:
                k = k.repeat_interleave(self.group, dim=1)
                v = v.repeat_interleave(self.group, dim=1)
            att = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
            att = att.transpose(1, 2).reshape(num_prompts, length, self.q_size)
            x = x + F.linear(att, layer.o_w, layer.o_b)
            x = x + self._mlp(layer, _rms_norm(x, layer.ln2, layer.eps2))
        last = x[torch.arange(num_prompts, device=self.device), lengths - 1]
        return cache, self.logits(last)

    def _store_prompt(self, cache: KVCache, k: torch.Tensor, v: torch.Tensor, rows: int, length: int, max_new: int):
        # Zero-filled: masked-out slots must hold finite numbers (0 * NaN would poison the output).
        if cache.shared:
            cache.prefix_k.append(k.contiguous())
            cache.prefix_v.append(v.contiguous())
            shape = (rows, self.num_kv_heads, max_new, self.head_dim)
            cache.suffix_k.append(torch.zeros(shape, device=self.device, dtype=self.dtype))
            cache.suffix_v.append(torch.zeros(shape, device=self.device, dtype=self.dtype))
        else:
            shape = (rows, self.num_kv_heads, length + max_new, self.head_dim)
            rk = torch.zeros(shape, device=self.device, dtype=self.dtype)
            rv = torch.zeros(shape, device=self.device, dtype=self.dtype)
            rk[:, :, :length] = k.index_select(0, cache.row_source)
            rv[:, :, :length] = v.index_select(0, cache.row_source)
            cache.rows_k.append(rk)
            cache.rows_v.append(rv)

    # -- one decode step -----------------------------------------------------------------------
    @torch.inference_mode()
    def decode(self, cache: KVCache, tokens: torch.Tensor, step: int) -> torch.Tensor:
        """Feed each row's token number `step` (0-based among the generated); return next-token logits (B, V).

        Every row of a cache started generating together, so all are at the same `step`; a row's
        position is its prompt length + step.
        """
        rows = tokens.shape[0]
        positions = cache.row_lengths + step
        x = self.embed[tokens]
        cos, sin = self._rope(positions)  # (B, d)
        cos, sin = cos[:, None, :], sin[:, None, :]
        if not cache.shared:
            span = int(cache.row_lengths.max()) + step + 1
            visible = torch.arange(span, device=self.device)[None, :] <= positions[:, None]  # (B, span)
            mask = visible[:, None, None, :]  # (B, 1, 1, span): one mask for every head of a row
            row_index = torch.arange(rows, device=self.device)
        for i, layer in enumerate(self.layers):
            h = _rms_norm(x, layer.ln1, layer.eps1)
            qkv = F.linear(h, layer.qkv_w, layer.qkv_b)
            q, k, v = qkv.split([self.q_size, self.kv_size, self.kv_size], dim=-1)
            q = q.view(rows, self.num_heads, self.head_dim)
            k = k.view(rows, self.num_kv_heads, self.head_dim)
            v = v.view(rows, self.num_kv_heads, self.head_dim)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            # The `group` query heads that share a K/V head attend as a block of `group` queries,
            # so K/V are never repeated: (B, kv, group, d) against (B, kv, span, d).
            qg = q.view(rows, self.num_kv_heads, self.group, self.head_dim)
            if cache.shared:
                cache.suffix_k[i][:, :, step] = k
                cache.suffix_v[i][:, :, step] = v
                att = self._attend_shared(cache, i, qg, step)
            else:
                cache.rows_k[i][row_index, :, positions] = k
                cache.rows_v[i][row_index, :, positions] = v
                att = F.scaled_dot_product_attention(
                    qg, cache.rows_k[i][:, :, :span], cache.rows_v[i][:, :, :span], attn_mask=mask, scale=self.scale
                )
            x = x + F.linear(att.reshape(rows, self.q_size), layer.o_w, layer.o_b)
            x = x + self._mlp(layer, _rms_norm(x, layer.ln2, layer.eps2))
        return self.logits(x)

    def _attend_shared(self, cache: KVCache, i: int, q: torch.Tensor, step: int) -> torch.Tensor:
        """Attention of q (B, kv, g, d) over [its prompt's keys, its own generated keys].

        Scores against the prompt are one matmul per run of rows (all rows' queries against the
        prompt's single copy); scores against the generated tokens are per row. One softmax over both.
        """
        kv, g, d = self.num_kv_heads, self.group, self.head_dim
        q = q * self.scale
        ks = cache.suffix_k[i][:, :, : step + 1]
        vs = cache.suffix_v[i][:, :, : step + 1]
        own = torch.matmul(q, ks.transpose(-1, -2))  # (B, kv, g, step+1)
        outs = []
        for a, b, p, n in cache.segments:
            m = b - a
            kp = cache.prefix_k[i][p, :, :n]  # (kv, n, d)
            vp = cache.prefix_v[i][p, :, :n]
            qs = q[a:b].transpose(0, 1).reshape(kv, m * g, d)
            pre = torch.bmm(qs, kp.transpose(1, 2)).view(kv, m, g, n).permute(1, 0, 2, 3)  # (m, kv, g, n)
            w = torch.softmax(torch.cat([pre, own[a:b]], dim=-1).float(), dim=-1).to(q.dtype)
            wp = w[..., :n].permute(1, 0, 2, 3).reshape(kv, m * g, n)
            out = torch.bmm(wp, vp).view(kv, m, g, d).permute(1, 0, 2, 3)
            outs.append(out + torch.matmul(w[..., n:], vs[a:b]))
        return outs[0] if len(outs) == 1 else torch.cat(outs)
