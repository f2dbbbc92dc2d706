"""The BPE tokenizer: specials at 0-9, numbers 0..1000 and frequent words as single tokens, HF loading."""

from __future__ import annotations

import json

import pytest

from interplay.cli import main
from interplay.lm import tokenizer as tk
from interplay.lm.fixtures import sample_records, write_jsonl
from interplay.text import SPECIAL_TOKENS, format_example


@pytest.fixture(scope="module")
def records():
    return sample_records(range(2, 11), per_op=12)


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory, records):
    corpus = write_jsonl(records, tmp_path_factory.mktemp("corpus") / "records.jsonl")
    out = tmp_path_factory.mktemp("tok")
    assert main(["tokenizer", "train", "--corpus", str(corpus), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def tok(tok_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tok_dir))


def pieces(tok, text):
    return tok.convert_ids_to_tokens(tok.encode(text, add_special_tokens=False))


def test_special_tokens_at_ids_0_to_9(tok):
    assert [tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] == list(range(10))
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, tok.unk_token_id) == (2, 3, 1, 0)
    assert len(tok) <= tk.DEFAULT_VOCAB_SIZE


@pytest.mark.parametrize("template", ["equals {}.", "so c = {}. Define", "x * ({})", "<answer> {} </answer>"])
def test_every_number_up_to_1000_is_one_token(tok, template):
    for n in range(0, 1001):
        assert pieces(tok, template.format(n)).count(str(n)) == 1, (template, n, pieces(tok, template.format(n)))


def test_larger_numbers_round_trip(tok):
    for n in (1001, 4096, 123456789, 10**20):
        text = f"x = {n}."
        assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


def test_frequent_words_are_single_tokens(tok):
    # The reference tokenizer cut "number" into five pieces; ours must not.
    for word in ("number", "adult", "total", "Define", "equals", "times", "sum", "Answer", "the", "of"):
        assert pieces(tok, f" The {word} of") == ["ĠThe", f"Ġ{word}", "Ġof"], word


def test_documents_round_trip_and_specials_are_whole(tok, records):
    for record in records:
        text = format_example(record)
        ids = tok.encode(text, add_special_tokens=False)
        assert tok.decode(ids) == text
        for special in SPECIAL_TOKENS[4:]:
            assert ids.count(tok.convert_tokens_to_ids(special)) == 1


def test_training_is_deterministic(records, tok_dir):
    again = tk.train_tokenizer(format_example(r) for r in records)
    assert json.loads(again.backend_tokenizer.to_str()) == json.loads((tok_dir / "tokenizer.json").read_text())


def test_tokens_by_op_report(tok_dir, records):
    report = json.loads((tok_dir / "interplay_tokenizer.json").read_text())
    by_op = report["tokens_by_op"]
    assert sorted(int(op) for op in by_op) == list(range(2, 11))
    # Harder problems are longer: op 10 documents are longer than op 2 ones on average.
    assert by_op["10"]["mean"] > by_op["2"]["mean"] > 20


def test_bad_input_is_one_line_and_status_2(tmp_path, capsys):
    assert main(["tokenizer", "train", "--corpus", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert "missing.jsonl" in err and "Traceback" not in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "p"}\n')
    assert main(["tokenizer", "train", "--corpus", str(bad), "--out", str(tmp_path / "t")]) == 2
    assert "lacks record field" in capsys.readouterr().err
    assert main(["tokenizer", "train", "--corpus", str(bad), "--out", str(tmp_path / "t"), "--vocab-size", "300"]) == 2


def test_load_tokenizer_rejects_a_foreign_tokenizer(tmp_path, tok):
    from tokenizers import Tokenizer, models

    foreign = Tokenizer(models.BPE())
    foreign.add_special_tokens(["<s>"] + SPECIAL_TOKENS)
    tk.wrap(foreign).save_pretrained(str(tmp_path))
    with pytest.raises(Exception, match="not at id"):
        tk.load_tokenizer(tmp_path)


def test_stats_command_reports_tokens_per_op(tok_dir, records, tmp_path, capsys):
    corpus = write_jsonl(records[:30], tmp_path / "r.jsonl")
    assert main(["tokenizer", "stats", "--tokenizer", str(tok_dir), "--corpus", str(corpus)]) == 0
    table = json.loads(capsys.readouterr().out)
    assert sum(row["documents"] for row in table.values()) == 30
    assert all(row["max"] >= row["mean"] > 0 for row in table.values())
