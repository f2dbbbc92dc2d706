"""The one text format for training and prompting (compatible with the reference project).

    <question> {problem} {question} </question> <solution> {trace} </solution> <answer> {answer} </answer>

followed by the tokenizer's end-of-sequence token (added by the tokenizer pipeline, not here).
A prompt for sampling ends right after `<solution>`; a completion is everything the model writes after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SPECIAL_TOKENS = [
    "[UNK]",
    "[PAD]",
    "[BOS]",
    "[EOS]",
    "<question>",
    "</question>",
    "<solution>",
    "</solution>",
    "<answer>",
    "</answer>",
]


def format_prompt(record: Mapping[str, Any]) -> str:
    """The text a model is conditioned on: question block and the opening solution tag."""
    return f"<question> {record['problem']} {record['question']} </question> <solution>"


def format_completion(record: Mapping[str, Any]) -> str:
    """The gold continuation of `format_prompt` (what a perfect model writes)."""
    return f" {record['solution']} </solution> <answer> {record['answer']} </answer>"


def format_example(record: Mapping[str, Any]) -> str:
    """A whole training document (without the end-of-sequence token)."""
    return format_prompt(record) + format_completion(record)
