"""Approximate token counts, for token budgets before a tokenizer exists.

Counts a tag like <solution> as one token, every number as one (our tokenizer keeps 0..1000
whole), every word as one, every other non-space character as one. The trained tokenizer's real
counts per op are reported by `interplay tokenizer train`.
"""

import re

_PIECE = re.compile(r"</?[a-z]+>|\d+|[^\W\d_]+|\S")


def approx_tokens(text: str) -> int:
    return len(_PIECE.findall(text))
