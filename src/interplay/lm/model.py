"""The Qwen2 decoder we train, and its exchange with the Hugging Face format.

Two implementations compute the same function:

* `impl="hf"`: transformers' `Qwen2ForCausalLM` itself.
* `impl="fast"` (default): `FastQwen2`, the same maths with q/k/v fused into one matmul and gate/up
  into another (fewer, larger matmuls keep small-model CPU training near the matmul peak), and one
  attention call with a block-diagonal causal mask for packed documents.

Both take `(input_ids, position_ids)` and return logits; positions restart at 0 at each document
start, which is where attention is cut. Checkpoints are always the Hugging Face layout (separate
q/k/v and gate/up weights), so `AutoModelForCausalLM.from_pretrained` loads them either way.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from interplay.lm.presets import ModelConfig


def segment_mask(position_ids: torch.Tensor) -> torch.Tensor:
    """Block-diagonal causal mask (B, 1, T, T) from positions that restart per document.

    A new document starts wherever the position does not follow the previous one by 1 (as in
    transformers' packed-sequence detection). Always a mask, never a data-dependent switch to
    `is_causal` (that would break torch.compile's graph; on CPU the masked kernel is as fast).
    """
    starts = torch.ones_like(position_ids, dtype=torch.bool)
    starts[:, 1:] = position_ids[:, 1:] != position_ids[:, :-1] + 1
    seg = starts.cumsum(-1)
    T = position_ids.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool, device=position_ids.device).tril()
    return (seg[:, None, :, None] == seg[:, None, None, :]) & causal


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rope_tables(position_ids: torch.Tensor, head_dim: int, theta: float, dtype: torch.dtype):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64, device=position_ids.device).float() / head_dim))
    freqs = position_ids[..., None].float() * inv_freq  # (B, T, D/2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype)[:, None], emb.sin().to(dtype)[:, None]  # (B, 1, T, D)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d, h, kv, hd = cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        self.h, self.kv, self.hd = h, kv, hd
        self.input_layernorm = RMSNorm(d, cfg.rms_norm_eps)
        self.qkv = nn.Linear(d, (h + 2 * kv) * hd, bias=True)
        self.o_proj = nn.Linear(h * hd, d, bias=False)
        self.post_attention_layernorm = RMSNorm(d, cfg.rms_norm_eps)
        self.gate_up = nn.Linear(d, 2 * cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, d, bias=False)

    def forward(self, x, cos, sin, mask):
        return self.forward_with(x, cos, sin, lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask))

    def forward_with(self, x, cos, sin, attend):
        """The block with `attend(q, k, v)` ((B, heads, T, head_dim) each, K/V already repeated for
        grouped-query attention) as its attention: RL's learner passes one that skips the token pairs
        a shared-prompt layout never uses (`interplay.rl.learner.unit_attention`)."""
        B, T, _ = x.shape
        qkv = self.qkv(self.input_layernorm(x))
        q, k, v = qkv.split([self.h * self.hd, self.kv * self.hd, self.kv * self.hd], dim=-1)
        q = apply_rope(q.view(B, T, self.h, self.hd).transpose(1, 2), cos, sin)
        k = apply_rope(k.view(B, T, self.kv, self.hd).transpose(1, 2), cos, sin)
        v = v.view(B, T, self.kv, self.hd).transpose(1, 2)
        if self.kv != self.h:
            k = k.repeat_interleave(self.h // self.kv, dim=1)
            v = v.repeat_interleave(self.h // self.kv, dim=1)
        a = attend(q, k, v)
        x = x + self.o_proj(a.transpose(1, 2).reshape(B, T, self.h * self.hd))
        gate, up = self.gate_up(self.post_attention_layernorm(x)).chunk(2, dim=-1)
        return x + self.down_proj(F.silu(gate) * up)


class FastQwen2(nn.Module):
    """Qwen2ForCausalLM's function with fused projections (tied or untied output head)."""

    def __init__(self, cfg: ModelConfig, vocab_size: int):
        super().__init__()
        self.cfg = cfg
        self.vocab_size = vocab_size
        self.embed_tokens = nn.Embedding(vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.lm_head = None if cfg.tie_word_embeddings else nn.Linear(cfg.hidden_size, vocab_size, bias=False)
        # cos/sin of every position, computed once (the same arithmetic as `rope_tables`, so the values are
        # the same bits). Computed inside the forward instead, torch.compile fuses the cos/sin into every
        # layer's q/k kernels and evaluates them again for each head and layer: about 3% of a cpu-wide training
        # step on AVX2 cores. Not saved in checkpoints (persistent=False); moved by .to(device).
        cos, sin = rope_tables(torch.arange(cfg.max_position_embeddings)[None], cfg.head_dim, cfg.rope_theta,
                               torch.float32)
        self.register_buffer("rope_cos", cos[0, 0], persistent=False)  # (max_position_embeddings, head_dim)
        self.register_buffer("rope_sin", sin[0, 0], persistent=False)

    def rope(self, position_ids: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """cos/sin (B, 1, T, head_dim) for positions below max_position_embeddings."""
        return self.rope_cos[position_ids].to(dtype)[:, None], self.rope_sin[position_ids].to(dtype)[:, None]

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        x = self.embed_tokens(input_ids)
        cos, sin = self.rope(position_ids, x.dtype)
        mask = segment_mask(position_ids)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        x = self.norm(x)
        weight = self.embed_tokens.weight if self.lm_head is None else self.lm_head.weight
        return F.linear(x, weight)

    # --- exchange with the Hugging Face layout -------------------------------------------------
    def hf_state_dict(self) -> dict[str, torch.Tensor]:
        c = self.cfg
        q_out, kv_out = c.num_attention_heads * c.head_dim, c.num_key_value_heads * c.head_dim
        # In Qwen2ForCausalLM's order (embeddings, layers, final norm, lm_head): init_weights draws by it.
        out = {"model.embed_tokens.weight": self.embed_tokens.weight}
        for i, layer in enumerate(self.layers):
            p = f"model.layers.{i}."
            for part, w, b in zip(("q", "k", "v"), layer.qkv.weight.split([q_out, kv_out, kv_out]),
                                  layer.qkv.bias.split([q_out, kv_out, kv_out])):
                out[p + f"self_attn.{part}_proj.weight"] = w
                out[p + f"self_attn.{part}_proj.bias"] = b
            out[p + "self_attn.o_proj.weight"] = layer.o_proj.weight
            gate, up = layer.gate_up.weight.chunk(2, dim=0)
            out[p + "mlp.gate_proj.weight"] = gate
            out[p + "mlp.up_proj.weight"] = up
            out[p + "mlp.down_proj.weight"] = layer.down_proj.weight
            out[p + "input_layernorm.weight"] = layer.input_layernorm.weight
            out[p + "post_attention_layernorm.weight"] = layer.post_attention_layernorm.weight
        out["model.norm.weight"] = self.norm.weight
        if self.lm_head is not None:
            out["lm_head.weight"] = self.lm_head.weight
        return {k: v.detach().contiguous() for k, v in out.items()}

    @torch.no_grad()
    def load_hf_state_dict(self, sd: dict[str, torch.Tensor]) -> None:
        self.embed_tokens.weight.copy_(sd["model.embed_tokens.weight"])
        self.norm.weight.copy_(sd["model.norm.weight"])
        if self.lm_head is not None:
            self.lm_head.weight.copy_(sd["lm_head.weight"])
        for i, layer in enumerate(self.layers):
            p = f"model.layers.{i}."
            layer.qkv.weight.copy_(torch.cat([sd[p + f"self_attn.{x}_proj.weight"] for x in "qkv"]))
            layer.qkv.bias.copy_(torch.cat([sd[p + f"self_attn.{x}_proj.bias"] for x in "qkv"]))
            layer.o_proj.weight.copy_(sd[p + "self_attn.o_proj.weight"])
            layer.gate_up.weight.copy_(torch.cat([sd[p + "mlp.gate_proj.weight"], sd[p + "mlp.up_proj.weight"]]))
            layer.down_proj.weight.copy_(sd[p + "mlp.down_proj.weight"])
            layer.input_layernorm.weight.copy_(sd[p + "input_layernorm.weight"])
            layer.post_attention_layernorm.weight.copy_(sd[p + "post_attention_layernorm.weight"])


class HFQwen2(nn.Module):
    """transformers' Qwen2ForCausalLM behind the same (input_ids, position_ids) -> logits interface."""

    def __init__(self, cfg: ModelConfig, vocab_size: int):
        super().__init__()
        from transformers import Qwen2ForCausalLM

        self.cfg = cfg
        self.vocab_size = vocab_size
        self.hf = Qwen2ForCausalLM._from_config(cfg.qwen2_config(vocab_size), attn_implementation="sdpa")

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        # No attention mask: transformers then cuts attention where positions restart (packed rows).
        return self.hf(input_ids=input_ids, position_ids=position_ids, use_cache=False).logits

    def hf_state_dict(self) -> dict[str, torch.Tensor]:
        sd = {k: v.detach().contiguous() for k, v in self.hf.state_dict().items()}
        if self.cfg.tie_word_embeddings:
            sd.pop("lm_head.weight", None)
        return sd

    @torch.no_grad()
    def load_hf_state_dict(self, sd: dict[str, torch.Tensor]) -> None:
        missing, unexpected = self.hf.load_state_dict(sd, strict=False)
        allowed = {"lm_head.weight"} if self.cfg.tie_word_embeddings else set()
        if set(missing) - allowed or unexpected:
            raise ValueError(f"weights do not fit the model: missing {missing}, unexpected {unexpected}")
        if self.cfg.tie_word_embeddings:
            self.hf.tie_weights()


def build_model(cfg: ModelConfig, vocab_size: int, impl: str = "fast", seed: int = 0) -> nn.Module:
    """A freshly initialised model; the same seed gives the same weights for both implementations."""
    model = FastQwen2(cfg, vocab_size) if impl == "fast" else HFQwen2(cfg, vocab_size)
    init_weights(model, cfg, seed)
    return model


@torch.no_grad()
def init_weights(model: nn.Module, cfg: ModelConfig, seed: int) -> None:
    """Qwen2's init (normal(0, initializer_range) matrices, zero biases, unit norms), drawn per HF
    tensor name in a fixed order so both implementations start from the same weights.

    Output projections (o_proj, down_proj) are scaled by 1/sqrt(2 * layers), as GPT-2 does, which
    keeps the residual stream's scale independent of depth.
    """
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for name, tensor in model.hf_state_dict().items():
        if name.endswith("norm.weight"):
            sd[name] = torch.ones_like(tensor)
        elif name.endswith(".bias"):
            sd[name] = torch.zeros_like(tensor)
        else:
            std = cfg.initializer_range
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                std /= math.sqrt(2 * cfg.num_hidden_layers)
            sd[name] = torch.randn(tensor.shape, generator=gen, dtype=torch.float32).mul_(std).to(tensor.dtype)
    model.load_hf_state_dict(sd)


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: decay matrices and embeddings; not norms and biases."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
