"""Where training documents come from: a corpus folder (`interplay corpus build`) or a JSONL file.

A JSONL file of problem records (one JSON object per line) is accepted too, so that small tests and
ad-hoc experiments do not need a corpus build; it has no splits, so `split` is ignored for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from interplay.errors import UserError

REQUIRED_FIELDS = ("problem", "question", "solution", "answer", "op")


def iter_records(path: str | Path, split: str = "pretrain", field: str = "data") -> Iterator[dict[str, Any]]:
    """Yield problem records from `path`; `field` names the config field in error messages."""
    path = Path(path)
    if path.is_dir():
        if not (path / "manifest.json").is_file():
            raise UserError(f"{field}: {path} is not a corpus folder (no manifest.json)")
        try:
            from interplay.corpus import iter_records as corpus_iter_records
        except ImportError as exc:  # the corpus reader is another module of this package
            raise UserError(f"{field}: cannot read corpus folders ({exc})") from exc
        try:
            yield from corpus_iter_records(path, split=split)
        except UserError as exc:
            raise UserError(f"{field}: {exc}") from exc
        return
    if not path.is_file():
        raise UserError(f"{field}: {path} does not exist")
    try:
        with path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UserError(f"{field}: {path}:{lineno} is not JSON ({exc.msg})") from exc
                missing = [k for k in REQUIRED_FIELDS if k not in record]
                if missing:
                    raise UserError(f"{field}: {path}:{lineno} lacks record field(s) {', '.join(missing)}")
                yield record
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{field}: cannot read {path} ({exc})") from exc
