"""The tokenizer: byte-level BPE trained on our corpus, with every number 0..1000 a single token.

Design (why it is not a stock GPT-2 byte-level BPE):

* Numbers are whole tokens wherever they appear ("= 12", "(12)", "12."), so the model never has to
  assemble a value from digit pieces. A stock GPT-2 split keeps the space in front of a number
  (" 12"), which would need a second set of number tokens for "(12". Here the split instead hands
  the space in front of a number to the *preceding* piece ("Ġequals Ġ" + "12"): words keep GPT-2's
  leading-space convention, and numbers are always bare digit runs.
* The 1001 number tokens are not left to chance: the word merges are learned by the `tokenizers` BPE
  trainer on corpus text whose digit runs are masked (so it spends no merges on digits), and the
  number merges ("1"+"2" -> "12", "12"+"3" -> "123", "100"+"0" -> "1000") are appended by
  construction. Numbers above 1000 still encode losslessly, as two or more pieces.
* Special tokens sit at ids 0-9 in the order of `interplay.text.SPECIAL_TOKENS`.

The result is saved as a standard Hugging Face tokenizer folder (`AutoTokenizer.from_pretrained`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interplay.errors import UserError
from interplay.text import SPECIAL_TOKENS, format_example

if TYPE_CHECKING:  # heavy imports stay out of module import time
    from transformers import PreTrainedTokenizerFast

DEFAULT_VOCAB_SIZE = 2240  # "about 2.2k" as in the paper; a multiple of 64 keeps GPU matmuls aligned
MAX_SINGLE_TOKEN_NUMBER = 1000

# Pieces: a digit run; a word or a punctuation run, each with an optional leading space and, when a
# number follows, the space in front of that number as a trailing space; whitespace runs as GPT-2.
SPLIT_PATTERN = r"\p{N}+| ?\p{L}+(?: (?=\p{N}))?| ?[^\s\p{L}\p{N}]+(?: (?=\p{N}))?|\s+(?!\S)|\s+"

BOS, EOS, PAD, UNK = "[BOS]", "[EOS]", "[PAD]", "[UNK]"
_DIGIT_RUN = re.compile(r"\d+")


def number_merges() -> list[tuple[str, str]]:
    """Merges that make every number 0..1000 one token, lowest rank first.

    Two-digit numbers merge from two digits, ranked by value. BPE applies the lowest-ranked adjacent
    pair first, so a three-digit number "abc" first becomes "ab"+"c" when "ab" ranks at or below "bc" (ties go leftmost; or "bc"
    is no number, b = 0), else "a"+"bc"; its final merge must join exactly those two pieces.
    1000 goes 1,0,0,0 -> 10,0,0 -> 100,0 -> 1000. Digits 0-9 are already in the byte alphabet.
    """
    merges = [(str(n)[0], str(n)[1]) for n in range(10, 100)]
    for n in range(100, 1000):
        a, b, c = str(n)
        merges.append((a + b, c) if b == "0" or int(a + b) <= int(b + c) else (a, b + c))
    merges.append(("100", "0"))
    return merges


def _mask_digits(text: str) -> str:
    # Each digit run becomes one digit: the split (and its look-ahead for "space before a number")
    # sees the same pieces, but a one-character piece gives the trainer no digit pairs to merge.
    return _DIGIT_RUN.sub("0", text)


def _pre_tokenizer():
    from tokenizers import Regex, pre_tokenizers

    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )


def train_tokenizer(texts: Iterable[str], vocab_size: int = DEFAULT_VOCAB_SIZE) -> PreTrainedTokenizerFast:
    """Train on `texts` (documents in the training format) and return a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    n_number_tokens = len(number_merges())  # 991 new tokens: 10..1000
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    min_vocab = len(SPECIAL_TOKENS) + len(alphabet) + n_number_tokens + 1
    if vocab_size < min_vocab:
        raise UserError(f"vocab_size {vocab_size} is too small: specials, bytes and numbers 0..1000 need {min_vocab}")

    special_re = re.compile("|".join(re.escape(t) for t in SPECIAL_TOKENS))

    def word_texts():
        for text in texts:
            # Specials are matched before the split at encode time, so train on the text between them.
            yield _mask_digits(special_re.sub("\n", text))

    words = Tokenizer(models.BPE())
    words.pre_tokenizer = _pre_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - n_number_tokens,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=alphabet,
        min_frequency=2,
        show_progress=False,
    )
    words.train_from_iterator(word_texts(), trainer=trainer)
    model = json.loads(words.to_str())["model"]
    vocab: dict[str, int] = dict(model["vocab"])
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    for i, token in enumerate(SPECIAL_TOKENS):
        if vocab.get(token) != i:
            raise AssertionError(f"special token {token} did not land at id {i}")
    for left, right in number_merges():
        vocab.setdefault(left + right, len(vocab))
    # Word merges never touch digits (masked above), so the two merge lists cannot interfere.
    merges = number_merges() + [m for m in merges if not any(ch.isdigit() for ch in "".join(m))]

    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = _pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    return wrap(tok)


def wrap(tok) -> PreTrainedTokenizerFast:
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=SPECIAL_TOKENS[4:],
        model_max_length=1_000_000,
        clean_up_tokenization_spaces=False,
    )


def save_tokenizer(tokenizer, folder: str | Path) -> None:
    """`save_pretrained`, naming the class that every transformers version (4.x and 5.x) can load."""
    folder = Path(folder)
    tokenizer.save_pretrained(str(folder))
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    for key in ("is_local", "local_files_only"):  # loading details, not tokenizer settings
        config.pop(key, None)
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerFast:
    """Load a tokenizer folder (or a checkpoint folder) and check it is one of ours (specials at 0-9).

    Not `AutoTokenizer`: in transformers 5, a folder whose config.json says model_type "qwen2" (every
    checkpoint of ours) makes AutoTokenizer build a Qwen2Tokenizer, which keeps our vocabulary but
    replaces the stored pre-tokenizer with Qwen2's (digits one by one), so the same text encodes to
    other ids. `PreTrainedTokenizerFast.from_pretrained` uses tokenizer.json exactly as stored.
    """
    from transformers import PreTrainedTokenizerFast

    path = Path(path)
    if not (path / "tokenizer.json").is_file():
        raise UserError(f"tokenizer: no tokenizer.json in {path}")
    try:
        tok = PreTrainedTokenizerFast.from_pretrained(str(path))
    except (OSError, ValueError) as exc:
        raise UserError(f"tokenizer: cannot load {path} ({exc})") from exc
    for i, token in enumerate(SPECIAL_TOKENS):
        if tok.convert_tokens_to_ids(token) != i:
            raise UserError(f"tokenizer {path}: special token {token} is not at id {i}; not an interplay tokenizer")
    return tok


def encode_document(tokenizer, record: Mapping[str, Any]) -> list[int]:
    """Token ids of one training document: the formatted example followed by [EOS]."""
    return tokenizer.encode(format_example(record), add_special_tokens=False) + [tokenizer.eos_token_id]


def tokens_by_op(tokenizer, records: Iterable[Mapping[str, Any]]) -> dict[int, dict[str, float]]:
    """Per op: number of documents and mean / max tokens per document (with [EOS])."""
    stats: dict[int, list[int]] = {}
    for record in records:
        stats.setdefault(int(record["op"]), []).append(len(encode_document(tokenizer, record)))
    return {
        op: {"documents": len(v), "mean": sum(v) / len(v), "max": max(v)} for op, v in sorted(stats.items())
    }
