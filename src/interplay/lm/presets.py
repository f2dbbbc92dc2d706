"""Model presets: Qwen2 shapes from `configs/model-<name>.yaml`, vocabulary from the tokenizer.

`python -m interplay.lm.presets [--vocab-size N]` prints every preset's parameter counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interplay.errors import UserError
from interplay.lm.configtools import CONFIG_DIR, from_mapping, read_yaml

if TYPE_CHECKING:
    from transformers import Qwen2Config

PRESET_NAMES = ("tiny", "cpu", "cpu-wide", "small", "paper")


@dataclass
class ModelConfig:
    """The shape of a Qwen2 decoder (SiLU MLP, RMSNorm, RoPE, q/k/v biases as in Qwen2)."""

    preset: str | None = None  # the preset these fields started from (informational)
    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 256
    max_position_embeddings: int = 512
    rope_theta: float = 1_000_000.0
    rms_norm_eps: float = 1e-6
    tie_word_embeddings: bool = True
    initializer_range: float = 0.02

    def validate(self, prefix: str = "model") -> None:
        for name in ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                     "intermediate_size", "max_position_embeddings"):
            if getattr(self, name) <= 0:
                raise UserError(f"{prefix}.{name} must be positive, got {getattr(self, name)}")
        if self.hidden_size % self.num_attention_heads:
            raise UserError(f"{prefix}.num_attention_heads ({self.num_attention_heads}) must divide "
                            f"hidden_size ({self.hidden_size})")
        if self.num_attention_heads % self.num_key_value_heads:
            raise UserError(f"{prefix}.num_key_value_heads ({self.num_key_value_heads}) must divide "
                            f"num_attention_heads ({self.num_attention_heads})")
        if (self.hidden_size // self.num_attention_heads) % 2:
            raise UserError(f"{prefix}: head size hidden_size/num_attention_heads must be even for RoPE")
        if self.rope_theta <= 0 or self.rms_norm_eps <= 0 or self.initializer_range <= 0:
            raise UserError(f"{prefix}: rope_theta, rms_norm_eps and initializer_range must be positive")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def architecture(self) -> dict[str, Any]:
        """The fields two models must share to be the same network: not the preset they started from nor
        how their weights were initialised (a checkpoint's config does not say either)."""
        out = dict(self.__dict__)
        out.pop("preset", None)
        out.pop("initializer_range", None)
        return out

    def qwen2_config(self, vocab_size: int, special_ids: dict[str, int] | None = None) -> Qwen2Config:
        from transformers import Qwen2Config

        ids = special_ids or {}
        return Qwen2Config(
            vocab_size=vocab_size,
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            num_key_value_heads=self.num_key_value_heads,
            hidden_act="silu",
            max_position_embeddings=self.max_position_embeddings,
            initializer_range=self.initializer_range,
            rms_norm_eps=self.rms_norm_eps,
            rope_theta=self.rope_theta,
            tie_word_embeddings=self.tie_word_embeddings,
            use_sliding_window=False,
            attention_dropout=0.0,
            bos_token_id=ids.get("bos"),
            eos_token_id=ids.get("eos"),
            pad_token_id=ids.get("pad"),
            architectures=["Qwen2ForCausalLM"],
        )


def load_preset(name: str, field: str = "model") -> ModelConfig:
    path = CONFIG_DIR / f"model-{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem.removeprefix("model-") for p in CONFIG_DIR.glob("model-*.yaml"))
        raise UserError(f"{field}: unknown model preset {name!r} (known: {', '.join(known)})")
    cfg = from_mapping(ModelConfig, read_yaml(path, field), field)
    cfg.preset = name
    return cfg


def model_config_from(value: Any, field: str = "model") -> ModelConfig:
    """`model: tiny`, or a mapping of fields, optionally with `preset: tiny` as the starting point."""
    if isinstance(value, str):
        cfg = load_preset(value, field)
    elif isinstance(value, dict):
        base = value.get("preset")
        start = load_preset(base, field).__dict__ if base else {}
        cfg = from_mapping(ModelConfig, {**start, **value}, field)
    else:
        raise UserError(f"{field}: expected a preset name ({', '.join(PRESET_NAMES)}) or a mapping of fields")
    cfg.validate(field)
    return cfg


def parameter_counts(cfg: ModelConfig, vocab_size: int) -> dict[str, int]:
    """Exact parameter counts of the Qwen2 model (q/k/v have biases; o_proj and the MLP do not).

    `non_embedding` excludes the token embedding; `flops` is what MFU uses, counted as nanoGPT counts
    it: non-embedding parameters plus the output projection (the tied embedding doubles as the LM head,
    so its matmul is real work).
    """
    d, kv = cfg.hidden_size, cfg.num_key_value_heads * cfg.head_dim
    attention = d * d + d + 2 * (d * kv + kv) + d * d
    mlp = 3 * d * cfg.intermediate_size
    layer = attention + mlp + 2 * d
    embedding = vocab_size * d
    head = 0 if cfg.tie_word_embeddings else vocab_size * d
    total = embedding + cfg.num_hidden_layers * layer + d + head
    non_embedding = total - embedding
    return {"total": total, "non_embedding": non_embedding, "flops": non_embedding - head + vocab_size * d}


def flops_per_token(cfg: ModelConfig, vocab_size: int, seq_len: int) -> int:
    """Training FLOPs per token as in nanoGPT: 6 N + 12 L H Q T (attention counted over the whole row)."""
    n = parameter_counts(cfg, vocab_size)["flops"]
    return 6 * n + 12 * cfg.num_hidden_layers * cfg.hidden_size * seq_len


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="print the parameter counts of the model presets")
    parser.add_argument("--vocab-size", type=int, default=2240)
    args = parser.parse_args()
    print(f"{'preset':<8} {'total':>12} {'non-embedding':>14}  (vocab {args.vocab_size})")
    for name in PRESET_NAMES:
        counts = parameter_counts(load_preset(name), args.vocab_size)
        print(f"{name:<8} {counts['total']:>12,} {counts['non_embedding']:>14,}")


if __name__ == "__main__":
    main()
