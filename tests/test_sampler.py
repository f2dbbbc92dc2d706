"""The batched sampler: same arithmetic as the HF model, keyed randomness, stops, truncation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interplay.errors import UserError
from interplay.lm.sampler import Request, Sampler, SamplingConfig
from interplay.lm.sampling.decoder import SHARE_MIN_ROWS_PER_PROMPT, CachedDecoder
from interplay.lm.sampling.rng import sample_key, uniforms
from interplay.lm.sampling.select import choose_tokens
from interplay.lm.sampling.toy import toy_model, toy_tokenizer

VOCAB = 64
PROMPTS = [
    "<question> 1 2 3 4 5 </question> <solution>",
    "<question> 7 </question> <solution>",
    "<question> 9 8 7 6 5 4 3 2 1 0 11 12 </question> <solution>",
]


@pytest.fixture(scope="module")
def tokenizer():
    return toy_tokenizer(VOCAB)


@pytest.fixture(scope="module")
def model():
    # init_std 0.3: peaky distributions, so `</answer>` / `[EOS]` stop some rows early and not others
    return toy_model(VOCAB, init_std=0.3, seed=1)


@pytest.fixture(scope="module")
def sampler(model, tokenizer):
    return Sampler(model, tokenizer)


def texts(groups):
    return [[c.text for c in g] for g in groups]


# -- the forward pass -------------------------------------------------------------------------


def _check_against_hf(model, ids: list[int], copies: int):
    """Prefill 3 tokens for `copies` rows of one prompt, then decode one token at a time (all rows)."""
    x = torch.tensor([ids])
    with torch.no_grad():
        ref = model(x).logits[0]
    dec = CachedDecoder(model)
    cache, last = dec.prefill(x[:, :3], torch.tensor([3]), torch.zeros(copies, dtype=torch.long), len(ids))
    assert cache.shared == (copies >= SHARE_MIN_ROWS_PER_PROMPT)
    torch.testing.assert_close(last[0], ref[2], atol=1e-4, rtol=1e-4)
    for step, t in enumerate(range(3, len(ids))):
        logits = dec.decode(cache, torch.tensor([ids[t]] * copies), step)
        for row in range(copies):
            torch.testing.assert_close(logits[row], ref[t], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("copies", [2, SHARE_MIN_ROWS_PER_PROMPT])  # per-row and shared cache layouts
def test_cached_decoder_matches_hf_forward(model, copies):
    _check_against_hf(model, [4, 11, 12, 13, 14, 5, 6, 20, 21, 22, 9], copies)


def test_cached_decoder_matches_hf_forward_for_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=1, initializer_range=0.2,
    )
    for copies in (1, SHARE_MIN_ROWS_PER_PROMPT):
        _check_against_hf(LlamaForCausalLM(config).eval(), [1, 2, 3, 4, 5, 6, 7, 8], copies)


def test_right_padded_prefill_gives_each_prompt_its_own_logits(model):
    dec = CachedDecoder(model)
    a, b = [4, 11, 12, 13, 14, 5, 6], [4, 20, 6]
    ids = torch.tensor([a, b + [1] * (len(a) - len(b))])
    _, last = dec.prefill(ids, torch.tensor([len(a), len(b)]), torch.tensor([0, 1]), 4)
    for row, seq in enumerate((a, b)):
        with torch.no_grad():
            ref = model(torch.tensor([seq])).logits[0, -1]
        torch.testing.assert_close(last[row], ref, atol=1e-4, rtol=1e-4)


def test_greedy_matches_transformers_generate(sampler, model, tokenizer):
    prompt = PROMPTS[0]
    config = SamplingConfig(n=1, temperature=0.0, max_new_tokens=40, stop_token_ids=())
    ours = sampler.sample([prompt], config)[0][0]
    ids = torch.tensor([tokenizer.encode(prompt, add_special_tokens=False)])
    with torch.no_grad():
        ref = model.generate(ids, do_sample=False, max_new_tokens=40, pad_token_id=1, eos_token_id=3)
    assert ours.token_ids == ref[0, ids.shape[1]:].tolist()
    assert ours.finish_reason == "eos"  # this model says [EOS] after 13 greedy tokens
    # Eight greedy copies share one prompt cache; each is the same sequence.
    copies = sampler.sample([prompt], SamplingConfig(**{**config.__dict__, "n": 8}))[0]
    assert all(c.token_ids == ours.token_ids for c in copies)


# -- randomness -------------------------------------------------------------------------------


def test_completion_does_not_depend_on_batch_company(sampler):
    config = SamplingConfig(n=5, temperature=1.0, max_new_tokens=30, seed=3)
    together = texts(sampler.sample(PROMPTS, config))
    # Each prompt alone; and everything in batches of 2 rows (prompts split across batches).
    alone = [texts(sampler.sample([p], config))[0] for p in PROMPTS]
    small_batches = texts(sampler.sample(PROMPTS, SamplingConfig(**{**config.__dict__, "max_batch_rows": 2})))
    # One row per batch: no company at all and no cache compaction.
    one_by_one = texts(sampler.sample(PROMPTS, SamplingConfig(**{**config.__dict__, "max_batch_rows": 1})))
    assert together == alone == small_batches == one_by_one
    # Reversed prompt order: same completions per prompt.
    assert texts(sampler.sample(PROMPTS[::-1], config))[::-1] == together
    # The samples of a prompt differ from each other (the key includes the sample index).
    assert len(set(together[0])) > 1


def test_shared_and_per_row_cache_layouts_give_the_same_completions(sampler):
    # 16 samples of each prompt in one batch: three runs of rows sharing their prompt's cache.
    config = SamplingConfig(n=16, temperature=1.0, max_new_tokens=30, seed=4)
    shared = texts(sampler.sample(PROMPTS, config))
    # Batches of 4 rows: fewer than SHARE_MIN_ROWS_PER_PROMPT per prompt, so per-row caches.
    per_row = texts(sampler.sample(PROMPTS, SamplingConfig(**{**config.__dict__, "max_batch_rows": 4})))
    assert shared == per_row
    # Batches of 29 rows: 16 + 13 rows of two prompts (shared, two segments), then 3 rows (per-row).
    mixed = texts(sampler.sample(PROMPTS[:2], SamplingConfig(**{**config.__dict__, "max_batch_rows": 29})))
    assert mixed == shared[:2]


def test_asking_for_some_sample_indices_gives_the_same_completions(sampler):
    config = SamplingConfig(n=6, temperature=1.0, max_new_tokens=30, seed=5)
    full = sampler.sample([PROMPTS[1]], config)[0]
    ids = sampler.encode(PROMPTS[1])
    part = list(sampler.generate([Request(ids, 4), Request(ids, 1)], config))
    assert [c.sample_index for c in part] == [4, 1]
    assert [c.token_ids for c in part] == [full[4].token_ids, full[1].token_ids]
    # Interleaved prompts (rows regrouped by prompt inside the batch), yielded in request order.
    other = sampler.encode(PROMPTS[2])
    mixed = [Request(other, 0, 7), Request(ids, 5, 1), Request(other, 1, 7), Request(ids, 0, 1)] * 3
    out = list(sampler.generate(mixed, config))
    assert [(c.prompt_index, c.sample_index) for c in out] == [(r.prompt_index, r.sample_index) for r in mixed]
    assert out[1].token_ids == full[5].token_ids and out[3].token_ids == full[0].token_ids
    assert out[0].token_ids == out[4].token_ids == out[8].token_ids  # the same request, the same sample


def test_seed_determinism(sampler):
    config = SamplingConfig(n=4, temperature=0.9, top_p=0.9, max_new_tokens=25, seed=11)
    first = texts(sampler.sample(PROMPTS, config))
    assert texts(sampler.sample(PROMPTS, config)) == first
    other = texts(sampler.sample(PROMPTS, SamplingConfig(**{**config.__dict__, "seed": 12})))
    assert other != first


def test_uniforms_are_keyed_and_uniform():
    keys = np.array([sample_key(0, [1, 2, 3], j) for j in range(4000)], dtype=np.uint64)
    u = uniforms(keys, np.zeros(4000, dtype=np.uint64))
    assert u.min() >= 0.0 and u.max() < 1.0
    counts, _ = np.histogram(u, bins=10, range=(0, 1))
    assert counts.min() > 300 and counts.max() < 500  # 400 expected per bin
    # Row i's value depends only on (key_i, step_i).
    assert uniforms(keys[7:8], np.array([3], dtype=np.uint64))[0] == uniforms(
        keys[[2, 7]], np.array([0, 3], dtype=np.uint64)
    )[1]
    assert sample_key(0, [1, 2, 3], 0) != sample_key(1, [1, 2, 3], 0) != sample_key(0, [1, 2], 0)


# -- token choice -----------------------------------------------------------------------------


def _frequencies(logits: torch.Tensor, grid: int = 20000, **kw) -> np.ndarray:
    """Empirical token frequencies over an evenly spaced grid of uniforms (an exact quadrature)."""
    u = (torch.arange(grid, dtype=torch.float64) + 0.5) / grid
    tokens = choose_tokens(logits.expand(grid, -1), u, **kw)
    return np.bincount(tokens.numpy(), minlength=logits.shape[-1]) / grid


def test_choose_tokens_follows_the_tempered_softmax():
    logits = torch.tensor([[2.0, 0.5, -1.0, 1.0, 0.0]])
    for temperature in (0.7, 1.0, 2.0):
        expected = torch.softmax(logits[0] / temperature, -1).numpy()
        np.testing.assert_allclose(_frequencies(logits, temperature=temperature), expected, atol=2e-4)


def test_choose_tokens_top_k_and_top_p():
    logits = torch.tensor([[2.0, 0.5, -1.0, 1.0, 0.0]])
    p = torch.softmax(logits[0], -1).numpy()  # sorted: 0 (.563), 3 (.207), 1 (.126), 4 (.076), 2 (.028)
    top2 = _frequencies(logits, temperature=1.0, top_k=2)
    np.testing.assert_allclose(top2, np.array([p[0], 0, 0, p[3], 0]) / (p[0] + p[3]), atol=2e-4)
    # top_p 0.8: tokens 0 and 3 hold 0.770 < 0.8, so token 1 is kept too (the mass before it < 0.8);
    # top_p 0.75: tokens 0 and 3 already reach it.
    for top_p, kept in [(0.8, np.array([p[0], p[1], 0, p[3], 0])), (0.75, np.array([p[0], 0, 0, p[3], 0]))]:
        nucleus = _frequencies(logits, temperature=1.0, top_p=top_p)
        np.testing.assert_allclose(nucleus, kept / kept.sum(), atol=2e-4)
    # A tiny top_p keeps only the most likely token.
    assert _frequencies(logits, temperature=1.0, top_p=1e-6)[0] == 1.0


def test_choose_tokens_greedy_and_extreme_uniforms():
    logits = torch.tensor([[0.0, 3.0, 1.0], [5.0, -50.0, -50.0]])
    assert choose_tokens(logits, torch.tensor([0.3, 0.9]), temperature=0.0).tolist() == [1, 0]
    # u at the very top of [0, 1) never lands on a zero-probability token past the last real one.
    peaked = torch.tensor([[10.0, -1e9, -1e9]])
    assert choose_tokens(peaked, torch.tensor([1 - 2**-53]), temperature=1.0).tolist() == [0]


# -- stops ------------------------------------------------------------------------------------


def test_stop_tokens_eos_and_length(sampler, tokenizer):
    answer_id = tokenizer.convert_tokens_to_ids("</answer>")
    config = SamplingConfig(n=40, temperature=1.0, max_new_tokens=25, seed=2)
    groups = sampler.sample(PROMPTS, config)
    reasons = {c.finish_reason for g in groups for c in g}
    assert reasons == {"stop", "eos", "length"}, reasons  # this model/seed exercises all three
    for c in (c for g in groups for c in g):
        assert len(c.token_ids) <= 25
        if c.finish_reason == "stop":
            assert c.token_ids[-1] == answer_id and answer_id not in c.token_ids[:-1]
            assert c.text.endswith("</answer>")
        elif c.finish_reason == "eos":
            assert c.token_ids[-1] == tokenizer.eos_token_id
            assert "[EOS]" not in c.text
        else:
            assert len(c.token_ids) == 25
            assert answer_id not in c.token_ids and tokenizer.eos_token_id not in c.token_ids
    # With stops off, every completion runs to max_new_tokens, and the stopped ones are prefixes.
    free = sampler.sample(PROMPTS, SamplingConfig(**{**config.__dict__, "stop_token_ids": (), "stop_at_eos": False}))
    for g_stop, g_free in zip(groups, free, strict=True):
        for a, b in zip(g_stop, g_free, strict=True):
            assert b.finish_reason == "length" and len(b.token_ids) == 25
            assert b.token_ids[: len(a.token_ids)] == a.token_ids


def test_config_validation_names_the_field():
    for bad, name in [
        ({"n": 0}, "n"), ({"temperature": -1.0}, "temperature"), ({"top_p": 0.0}, "top_p"),
        ({"top_k": -2}, "top_k"), ({"max_new_tokens": 0}, "max_new_tokens"), ({"max_batch_rows": 0}, "max_batch_rows"),
    ]:
        with pytest.raises(UserError, match=name):
            SamplingConfig(**bad).validate()


def test_from_pretrained_round_trip(tmp_path, model, tokenizer, sampler):
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = Sampler.from_pretrained(tmp_path, device="cpu")
    config = SamplingConfig(n=3, temperature=1.0, max_new_tokens=15)
    a, b = loaded.sample(PROMPTS[:1], config)[0], sampler.sample(PROMPTS[:1], config)[0]
    assert [c.token_ids for c in a] == [c.token_ids for c in b]
    assert [c.text for c in a] == [c.text for c in b]
    with pytest.raises(UserError, match="model"):
        Sampler.from_pretrained(tmp_path / "missing")


def test_load_sampler_backends(tmp_path, model, tokenizer):
    from interplay.lm.sampler import load_sampler

    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert isinstance(load_sampler(tmp_path, "torch", device="cpu"), Sampler)
    with pytest.raises(UserError, match="backend"):
        load_sampler(tmp_path, "jax")
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(UserError, match="vllm is not installed"):
            load_sampler(tmp_path, "vllm")
