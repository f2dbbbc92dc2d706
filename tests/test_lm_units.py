"""Unit checks of the LM stage's parts: presets, packing, masks, schedule, config parsing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interplay.errors import UserError
from interplay.lm.packing import IGNORE, TokenCache, TrainRows, eval_rows
from interplay.lm.presets import PRESET_NAMES, flops_per_token, load_preset, model_config_from, parameter_counts
from interplay.lm.trainconfig import OptimConfig, config_differences, load_run_config, parse_count


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_parameter_counts_match_the_instantiated_model(name):
    from transformers import Qwen2ForCausalLM

    cfg = load_preset(name)
    with torch.device("meta"):
        model = Qwen2ForCausalLM(cfg.qwen2_config(2240))
    counts = parameter_counts(cfg, 2240)
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert counts["non_embedding"] == counts["total"] - 2240 * cfg.hidden_size


def test_paper_preset_is_the_papers_model():
    cfg = load_preset("paper")
    hf = cfg.qwen2_config(2240)
    assert (hf.num_hidden_layers, hf.hidden_size, hf.num_attention_heads, hf.num_key_value_heads) == (12, 768, 12, 2)
    assert (hf.intermediate_size, hf.hidden_act, hf.rms_norm_eps, hf.max_position_embeddings) == (3072, "silu", 1e-6, 2048)
    theta = (getattr(hf, "rope_parameters", None) or {}).get("rope_theta", getattr(hf, "rope_theta", None))  # 5.x / 4.x
    assert theta == 1e6 and hf.tie_word_embeddings
    assert 100e6 < parameter_counts(cfg, 2240)["total"] < 106e6
    # nanoGPT's count: 6N + 12 L d T.
    assert flops_per_token(cfg, 2240, 2048) == 6 * parameter_counts(cfg, 2240)["total"] + 12 * 12 * 768 * 2048


@pytest.mark.parametrize("tied", [True, False])
def test_both_implementations_start_from_the_same_weights(tied):
    """init_weights draws by tensor name in the state dict's order: the fast model must list its tensors as
    Qwen2ForCausalLM does, or an untied lm_head shifts every draw after it."""
    from interplay.lm.model import build_model

    cfg = model_config_from({"preset": "tiny", "tie_word_embeddings": tied})
    fast, hf = build_model(cfg, 64, "fast", seed=5).hf_state_dict(), build_model(cfg, 64, "hf", seed=5).hf_state_dict()
    assert list(fast) == list(hf)
    assert all(torch.equal(fast[k], hf[k]) for k in hf)
    assert ("lm_head.weight" in hf) is not tied


def test_model_config_errors_name_the_field():
    with pytest.raises(UserError, match="model.num_key_value_heads"):
        model_config_from({"preset": "tiny", "num_key_value_heads": 3})
    with pytest.raises(UserError, match="unknown model preset"):
        model_config_from("gigantic")
    assert model_config_from({"preset": "tiny", "num_hidden_layers": 3}).num_hidden_layers == 3


def cache(doc_lengths, ops=None, prompt_lens=None) -> TokenCache:
    tokens, starts = [], [0]
    for d, n in enumerate(doc_lengths):
        tokens += [100 * (d + 1) + i for i in range(n)]
        starts.append(starts[-1] + n)
    return TokenCache(np.asarray(tokens), np.asarray(starts), np.asarray(ops or [2] * len(doc_lengths)),
                      np.asarray(prompt_lens or [1] * len(doc_lengths)))


def test_train_rows_restart_positions_and_skip_cross_document_targets():
    c = cache([5, 7, 4])
    rows = TrainRows(c, seq_len=6, seed=0)
    assert rows.n_rows == 2  # 16 tokens -> windows of 6 (+1 target)
    w = rows.window(np.asarray([0]))
    assert w["input_ids"][0].tolist() == [100, 101, 102, 103, 104, 200]
    assert w["position_ids"][0].tolist() == [0, 1, 2, 3, 4, 0]
    # The target of the last token of doc 1 is doc 2's first token: not learned.
    assert w["labels"][0].tolist() == [101, 102, 103, 104, IGNORE, 201]
    w = rows.window(np.asarray([6]))  # a window starting inside document 2 keeps its true positions
    assert w["position_ids"][0].tolist() == [1, 2, 3, 4, 5, 6]


def test_solution_only_loss_masks_the_prompt():
    rows = TrainRows(cache([5, 7], prompt_lens=[3, 4]), seq_len=10, seed=0, loss_on="solution")
    labels = rows.window(np.asarray([0]))["labels"][0].tolist()
    # doc 1: targets at positions 1,2 are prompt -> ignored; 3,4 learned; doc 2 likewise.
    assert labels == [IGNORE, IGNORE, 103, 104, IGNORE, IGNORE, IGNORE, IGNORE, 204, 205]


def test_row_order_is_a_seeded_permutation_per_epoch():
    c = cache([50] * 20)
    a, b = TrainRows(c, 8, seed=1), TrainRows(c, 8, seed=1)
    first = [a._row_index(g) for g in range(a.n_rows)]
    assert sorted(first) == list(range(a.n_rows))
    assert first == [b._row_index(g) for g in range(b.n_rows)]
    second = [a._row_index(g) for g in range(a.n_rows, 2 * a.n_rows)]
    assert sorted(second) == sorted(first) and second != first
    assert first != [TrainRows(c, 8, seed=2)._row_index(g) for g in range(a.n_rows)]


def test_eval_rows_hold_whole_documents_with_their_op():
    c = cache([5, 4, 6], ops=[2, 3, 9])
    ev = eval_rows(c, seq_len=10, pad_id=1)
    assert ev["input_ids"].shape == (2, 10)
    assert ev["ops"][0].tolist() == [2] * 5 + [3] * 4 + [-1]
    assert ev["labels"][0].tolist() == [101, 102, 103, 104, IGNORE, 201, 202, 203, IGNORE, IGNORE]
    assert ev["position_ids"][1].tolist() == [0, 1, 2, 3, 4, 5, 0, 1, 2, 3]
    assert (ev["labels"] != IGNORE).sum() == (5 - 1) + (4 - 1) + (6 - 1)
    # prompt_lens are 1: every target of a document is a solution token (its first token is not a target).
    assert ev["solution"][0].tolist() == [True] * 4 + [False] + [True] * 3 + [False, False]
    ev = eval_rows(cache([5], prompt_lens=[3]), seq_len=6, pad_id=1)
    assert ev["solution"][0].tolist() == [False, False, True, True, False, False]


def test_segment_mask_blocks_attention_across_documents():
    from interplay.lm.model import segment_mask

    pos = torch.tensor([[3, 4, 0, 1, 2]])
    mask = segment_mask(pos)[0, 0]
    assert mask.tolist()[3] == [False, False, True, True, False]
    assert mask.tolist()[1] == [True, True, False, False, False]
    assert torch.equal(segment_mask(torch.arange(5)[None])[0, 0], torch.ones(5, 5, dtype=torch.bool).tril())


def test_rope_table_lookup_is_the_formula_bit_for_bit_and_not_saved():
    from interplay.lm.model import build_model, rope_tables

    cfg = load_preset("tiny")
    model = build_model(cfg, 300)
    pos = torch.tensor([[0, 1, 2, 3, 0, 1, cfg.max_position_embeddings - 1]])
    for dtype in (torch.float32, torch.bfloat16):
        got = model.rope(pos, dtype)
        want = rope_tables(pos, cfg.head_dim, cfg.rope_theta, dtype)
        assert all(torch.equal(g, w) for g, w in zip(got, want, strict=True))
        assert got[0].shape == (1, 1, pos.shape[1], cfg.head_dim)
    assert not any("rope" in k for k in model.state_dict())  # checkpoints hold the HF weights only


def test_schedule_warms_up_then_decays_to_min_lr():
    from interplay.lm.train import lr_at

    cfg = OptimConfig(lr=1.0, min_lr=0.1, warmup_steps=10)
    assert lr_at(0, 100, cfg) == pytest.approx(0.1)
    assert lr_at(9, 100, cfg) == pytest.approx(1.0)
    assert lr_at(10, 100, cfg) == pytest.approx(1.0)
    assert lr_at(55, 100, cfg) == pytest.approx(0.55)
    assert lr_at(100, 100, cfg) == pytest.approx(0.1)
    values = [lr_at(s, 100, cfg) for s in range(10, 100)]
    assert all(x >= y for x, y in zip(values, values[1:]))


def test_token_budgets_and_overrides(tmp_path):
    assert parse_count("10B", "x") == 10**9 * 10
    assert parse_count("2.5M tokens", "x") == 2_500_000
    with pytest.raises(UserError, match="train.tokens"):
        parse_count("lots", "train.tokens")
    cfg = load_run_config(None, "pretrain", ["model=tiny", "tokenizer=t", "data.path=d", "train.tokens=1M",
                                             "train.batch_size=4", "data.seq_len=250", "optim.lr=1e-3"])
    assert cfg.total_steps() == 1000 and cfg.optim.lr == 1e-3
    with pytest.raises(UserError, match="train.steps"):
        load_run_config(None, "pretrain", ["model=tiny", "tokenizer=t", "data.path=d", "train.tokens=1M", "train.steps=3"])
    with pytest.raises(UserError, match="init"):
        load_run_config(None, "midtrain", ["data.path=d", "train.steps=3"])


def test_config_differences_ignore_logging():
    old = {"optim": {"lr": 1.0}, "log": {"every": 1}, "checkpoint": {"every": 5, "keep": 2}}
    new = {"optim": {"lr": 2.0}, "log": {"every": 9}, "checkpoint": {"every": 7, "keep": 2}}
    assert config_differences(old, new) == ["optim.lr (1.0 -> 2.0)"]


@pytest.mark.parametrize("name", ["pretrain-tiny", "pretrain-cpu", "pretrain-small", "pretrain-paper", "midtrain-tiny", "midtrain-paper"])
def test_shipped_training_configs_are_valid(name):
    from interplay.lm.configtools import CONFIG_DIR

    cfg = load_run_config(CONFIG_DIR / f"{name}.yaml", name.split("-")[0], [])
    assert cfg.total_steps() > 0
    if cfg.model is not None:
        assert cfg.data.seq_len <= cfg.model.max_position_embeddings


def test_doc_rows_keep_documents_whole_and_cover_each_once_per_epoch():
    from interplay.lm.packing import DocRows

    lengths = [5, 9, 3, 7, 4, 6, 2, 8, 25]  # the last is longer than a row: split into pieces
    c = cache(lengths, prompt_lens=[2] * len(lengths))
    rows = DocRows(c, seq_len=10, seed=3, pad_id=1)
    batch = rows.rows(range(rows.n_rows))
    seen = []
    for r in range(rows.n_rows):
        ids, pos, lab = batch["input_ids"][r], batch["position_ids"][r], batch["labels"][r]
        starts = [i for i in range(10) if i == 0 or pos[i] != pos[i - 1] + 1]
        for a, b in zip(starts, starts[1:] + [10]):
            if ids[a] == 1 and pos[a] == 0 and (a > 0 or b < 10) and all(ids[a:b] == 1):
                assert all(lab[a:b] == IGNORE)  # padding is not trained on
                continue
            doc, first = divmod(int(ids[a]), 100)
            seen.append((doc, first, b - a))
            assert ids[a:b].tolist() == [100 * doc + first + i for i in range(b - a)]  # one piece, in order
            assert pos[a] == first
            assert lab[b - 1] == IGNORE and lab[a : b - 1].tolist() == ids[a + 1 : b].tolist()
    pieces = sorted(seen)
    expected = sorted([(d + 1, 0, n) for d, n in enumerate(lengths[:-1])] + [(9, 0, 10), (9, 10, 10), (9, 20, 5)])
    assert pieces == expected
    again = DocRows(c, seq_len=10, seed=3, pad_id=1).rows(range(rows.n_rows))
    assert all(np.array_equal(again[k], batch[k]) for k in batch)
    # Later epochs: another order, the same documents.
    nxt = rows.rows(range(rows.n_rows, rows.n_rows + 3))
    assert nxt["input_ids"].shape == (3, 10)


def test_documents_longer_than_a_row_are_reported_and_too_long_ones_left_out():
    """Whole-document packing trains a document longer than seq_len in pieces (the later ones without their
    question), leaves out one longer than the model's positions (its later pieces would index past the RoPE
    table), and the held-out loss scores only its first seq_len tokens: the run says so, by op."""
    from types import SimpleNamespace

    from interplay.lm.packing import describe_ops, over_length
    from interplay.lm.train import _check_lengths

    c = cache([5, 12, 9, 15], ops=[2, 8, 3, 10])
    assert over_length(c, 10) == (2, 15, [8, 10]) and over_length(c, 15) == (0, 15, [])
    assert over_length(c, 10, upto=12) == (1, 15, [8])
    assert (describe_ops([8]), describe_ops([8, 9, 10]), describe_ops([8, 10])) == ("op 8", "op 8-10", "ops 8, 10")
    cfg = SimpleNamespace(stage="midtrain", data=SimpleNamespace(seq_len=10, packing="docs"))
    said = []
    _check_lengths(cfg, c, cache([4, 11], ops=[2, 9]), 64, said.append)
    assert len(said) == 2
    assert "2 of 4 training documents (ops 8, 10) are longer than data.seq_len 10: each is trained in" in said[0]
    assert "1 of 2 held-out documents (op 9)" in said[1] and "scores their first 10 tokens" in said[1]
    said.clear()
    _check_lengths(cfg, cache([5, 9], ops=[2, 3]), cache([4], ops=[2]), 64, said.append)
    assert said == []  # nothing to say when every document fits
    assert _check_lengths(cfg, c, cache([4], ops=[2]), 12, said.append) == 1  # left out (checked on resume)
    assert len(said) == 2
    assert "1 of 4 training documents (op 10) are longer than the model's max_position_embeddings (12; longest 15): " \
           "left out of training" in said[0]
    assert "1 of 4 training documents (op 8) are longer than data.seq_len 10" in said[1]
    # ... and the rows indeed never hold it.
    from interplay.lm.packing import DocRows

    rows = DocRows(c, seq_len=10, seed=0, pad_id=1, max_positions=12)
    firsts = {int(t) // 100 for t in rows.rows(range(rows.n_rows))["input_ids"].ravel() if t != 1}
    assert firsts == {1, 2, 3}  # documents 1-3 (token ids 1xx, 2xx, 3xx), not document 4 (15 tokens)
    assert np.asarray(rows.rows(range(rows.n_rows))["position_ids"]).max() < 12
    # Nothing left, or a stream window that cannot leave a document out: refused before any compute.
    with pytest.raises(UserError, match="every training document is longer"):
        _check_lengths(cfg, cache([15, 20], ops=[9, 10]), c, 12, said.append)
    stream = SimpleNamespace(stage="pretrain", data=SimpleNamespace(seq_len=10, packing="stream"))
    with pytest.raises(UserError, match="1 training documents \\(op 10\\) .* `packing: stream` cannot train"):
        _check_lengths(stream, c, c, 12, said.append)
    assert _check_lengths(stream, c, c, 64, said.append) == 0


def test_doc_rows_solution_loss_masks_the_prompt():
    from interplay.lm.packing import DocRows

    rows = DocRows(cache([6], prompt_lens=[3]), seq_len=8, seed=0, loss_on="solution", pad_id=1)
    assert rows.rows([0])["labels"][0].tolist() == [IGNORE, IGNORE, 103, 104, 105, IGNORE, IGNORE, IGNORE]


def test_end_step_checkpoints_when_due_and_where_a_stop_request_lands():
    """Both training loops end each step with `StopOnSignal.end_step`: a checkpoint every `every` steps but
    none after the last (the final one follows), and on a stop request exactly one checkpoint at the step
    it stopped after (the periodic one when that step had one), then KeyboardInterrupt."""
    from interplay.lm.stopping import StopOnSignal

    def run(total, every, stop_after=None):
        saved, said = [], []
        stopper = StopOnSignal()
        for done in range(1, total + 1):
            if done == stop_after:
                stopper.signal_name = "SIGTERM"  # what the handler sets
            try:
                stopper.end_step("pretrain", done, total, every, f"ckpt-{done}",
                                 lambda path, step: saved.append((path, step)), None, said.append)
            except KeyboardInterrupt:
                return saved, said, done
        return saved, said, None

    assert run(10, 4)[:3:2] == ([("ckpt-4", 4), ("ckpt-8", 8)], None)
    assert run(8, 4)[0] == [("ckpt-4", 4)]                # the last step's checkpoint is the final one
    assert run(5, 0)[0] == []                             # every = 0: no periodic checkpoints
    saved, said, stopped = run(10, 4, stop_after=6)       # between two checkpoints: one where it stops
    assert saved == [("ckpt-4", 4), ("ckpt-6", 6)] and stopped == 6
    assert said == ["pretrain: stopped on request (SIGTERM) after step 6 of 10; checkpoint ckpt-6; "
                    "run the same command to resume"]
    saved, _, stopped = run(10, 4, stop_after=8)          # on a checkpoint step: that one, not a second
    assert saved == [("ckpt-4", 4), ("ckpt-8", 8)] and stopped == 8
    saved, _, stopped = run(10, 4, stop_after=10)         # after the last step: the run just ends
    assert saved == [("ckpt-4", 4), ("ckpt-8", 8)] and stopped is None
