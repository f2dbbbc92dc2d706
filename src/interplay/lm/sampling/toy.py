"""Tiny random Qwen2 models and word-level tokenizers, for tests and benchmarks of the sampler.

They follow the conventions of the real ones (interplay.lm.tokenizer): special tokens of
`interplay.text.SPECIAL_TOKENS` at ids 0-9, `[EOS]` as end of sequence, `[PAD]` as padding.
"""

from __future__ import annotations

from typing import Any

from interplay.text import SPECIAL_TOKENS


def toy_tokenizer(vocab_size: int = 64) -> Any:
    """A whitespace word-level tokenizer: the specials, then numbers "0", "1", … up to vocab_size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    if vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must exceed {len(SPECIAL_TOKENS)}")
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for n in range(vocab_size - len(SPECIAL_TOKENS)):
        vocab[str(n)] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    # Joins tokens with spaces, and survives save/load (a tokenizer without a decoder does not).
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="[BOS]",
        eos_token="[EOS]",
        pad_token="[PAD]",
        unk_token="[UNK]",
        additional_special_tokens=SPECIAL_TOKENS[4:],
        clean_up_tokenization_spaces=False,
    )


def toy_model(
    vocab_size: int = 64,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    ffn: int = 128,
    seed: int = 0,
    init_std: float = 0.02,
    max_positions: int = 2048,
) -> Any:
    """A randomly initialised Qwen2ForCausalLM (tied embeddings, RoPE theta 1e6, as our presets).

    A larger `init_std` gives peakier next-token distributions (a random model at 0.02 is near
    uniform), which makes stop tokens and greedy decoding more interesting to test.
    """
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=ffn,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions,
        rope_theta=1_000_000.0,
        tie_word_embeddings=True,
        initializer_range=init_std,
        bos_token_id=SPECIAL_TOKENS.index("[BOS]"),
        eos_token_id=SPECIAL_TOKENS.index("[EOS]"),
        pad_token_id=SPECIAL_TOKENS.index("[PAD]"),
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.eval()
    return model
