"""Token caches and packed batches.

A *token cache* is a corpus split tokenized once into flat arrays (memory-mapped `.npy` files):
every document is `format_example(record)` + [EOS], laid end to end. Batches are then pure functions
of (step, seed), which makes resuming exact and makes the global batch the same whatever the number
of processes.

Two ways to cut training rows (`data.packing`):

* `docs` (default): rows of whole documents, packed best-fit and padded (`DocRows`). No document is
  ever cut from its question, which matters for learning to read the problem.
* `stream`: consecutive windows of the token stream (`TrainRows`); no padding, but a document may
  straddle two rows and its second part is then trained without its beginning.

Either way attention never crosses a document boundary: positions restart at 0 at every document
start (the model turns that into a block-diagonal causal mask), and the target after each [EOS] is
not trained on. Held-out rows hold whole documents only, so held-out loss is exactly the loss of
each document.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from interplay.errors import UserError

IGNORE = -100
CACHE_VERSION = 1


@dataclass
class TokenCache:
    tokens: np.ndarray  # (n_tokens,) uint16/uint32
    doc_starts: np.ndarray  # (n_docs + 1,) int64, last = n_tokens
    doc_ops: np.ndarray  # (n_docs,) int32
    prompt_lens: np.ndarray  # (n_docs,) int32: tokens up to and including <solution>

    @property
    def n_tokens(self) -> int:
        return int(self.doc_starts[-1])

    @property
    def n_docs(self) -> int:
        return len(self.doc_ops)


def source_fingerprint(path: str | Path, split: str, tokenizer_json: str, max_documents: int | str | None) -> str:
    """What the cache depends on: the data (manifest or file bytes), split, tokenizer and limit."""
    path = Path(path)
    h = hashlib.sha256()
    h.update(f"v{CACHE_VERSION}|{split}|{max_documents}|".encode())
    h.update(tokenizer_json.encode())
    if path.is_dir() and (path / "manifest.json").is_file():
        h.update((path / "manifest.json").read_bytes())
    elif path.is_file():
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    else:
        h.update(str(path).encode())
    return h.hexdigest()[:16]


def tokenize_records(tokenizer, records: Iterable[Mapping[str, Any]], chunk: int = 512) -> TokenCache:
    from interplay.text import format_example, format_prompt

    eos = tokenizer.eos_token_id
    pieces: list[np.ndarray] = []
    lengths: list[int] = []
    ops: list[int] = []
    prompt_lens: list[int] = []
    dtype = np.uint16 if len(tokenizer) <= 65535 else np.uint32

    def flush(batch: list[Mapping[str, Any]]) -> None:
        docs = tokenizer([format_example(r) for r in batch], add_special_tokens=False)["input_ids"]
        prompts = tokenizer([format_prompt(r) for r in batch], add_special_tokens=False)["input_ids"]
        for record, ids, prompt in zip(batch, docs, prompts):
            ids.append(eos)
            pieces.append(np.asarray(ids, dtype=dtype))
            lengths.append(len(ids))
            ops.append(int(record["op"]))
            prompt_lens.append(len(prompt))

    batch: list[Mapping[str, Any]] = []
    for record in records:
        batch.append(record)
        if len(batch) == chunk:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    starts = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    tokens = np.concatenate(pieces) if pieces else np.zeros(0, dtype=dtype)
    return TokenCache(tokens, starts, np.asarray(ops, dtype=np.int32), np.asarray(prompt_lens, dtype=np.int32))


def save_cache(cache: TokenCache, out: Path, meta: dict[str, Any]) -> None:
    """Write atomically: a half-built cache is never mistaken for a whole one."""
    tmp = out.with_name(f".tmp-{out.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in ("tokens", "doc_starts", "doc_ops", "prompt_lens"):
        np.save(tmp / f"{name}.npy", getattr(cache, name))
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)


def load_cache(out: Path) -> TokenCache:
    arrays = {name: np.load(out / f"{name}.npy", mmap_mode="r") for name in ("tokens", "doc_starts", "doc_ops", "prompt_lens")}
    return TokenCache(**arrays)


def _in_ops(records: Iterable[Mapping[str, Any]], ops: tuple[int, int], field: str) -> Iterator[Mapping[str, Any]]:
    lo, hi = ops
    for r in records:
        if "op" not in r:
            raise UserError(f"{field}: data.ops is set but a record has no 'op' field (id {r.get('id', '?')})")
        if lo <= int(r["op"]) <= hi:
            yield r


def build_or_load_cache(
    out: Path,
    tokenizer,
    path: str | Path,
    split: str,
    max_documents: int | None,
    field: str,
    spread: bool = False,
    ops: tuple[int, int] | None = None,
) -> TokenCache:
    """The cache for (path, split, tokenizer) in folder `out`, building it if absent or stale.

    `ops` (lo, hi) keeps only problems whose op lies in that range (e.g. mid-training on the edge
    range); `max_documents` then keeps the first N documents, or with `spread` N documents evenly
    spaced over the whole split (held-out sets: a split stored op by op still gives every op its share).
    """
    import itertools

    from interplay.lm.records import iter_records

    limit = f"{max_documents}{'-spread' if spread else ''}"
    if ops is not None:  # only when set, so the fingerprints of existing caches stay valid
        limit += f"-ops{ops[0]}-{ops[1]}"
    fingerprint = source_fingerprint(path, split, tokenizer.backend_tokenizer.to_str(), limit)
    meta_path = out / "meta.json"
    if meta_path.is_file() and json.loads(meta_path.read_text()).get("fingerprint") == fingerprint:
        return load_cache(out)
    records = iter_records(path, split, field=field)
    if ops is not None:
        records = _in_ops(records, ops, field)
    if max_documents is not None and spread:
        everything = list(records)
        step = max(1.0, len(everything) / max_documents)
        records = [everything[int(i * step)] for i in range(min(max_documents, len(everything)))]
    elif max_documents is not None:
        records = itertools.islice(records, max_documents)
    cache = tokenize_records(tokenizer, records)
    if cache.n_docs == 0:
        within = f" with op {ops[0]}-{ops[1]}" if ops is not None else ""
        raise UserError(f"{field}: no documents{within} in {path} (split {split})")
    if cache.tokens.max() >= len(tokenizer):
        raise AssertionError("token id outside the tokenizer's vocabulary")
    meta = {"fingerprint": fingerprint, "path": str(path), "split": split, "documents": cache.n_docs,
            "tokens": cache.n_tokens}
    save_cache(cache, out, meta)
    return load_cache(out)


class TrainRows:
    """Rows of `seq_len` inputs (+1 target) cut from the token stream, shuffled per epoch by seed."""

    def __init__(self, cache: TokenCache, seq_len: int, seed: int, loss_on: str = "all"):
        self.cache = cache
        self.seq_len = seq_len
        self.seed = seed
        self.loss_on = loss_on
        self.n_rows = (cache.n_tokens - 1) // seq_len
        if self.n_rows < 1:
            raise UserError(f"data: {cache.n_tokens} tokens are fewer than one row of seq_len {seq_len}")
        self._perm_epoch = -1
        self._perm = np.zeros(0, dtype=np.int64)

    def _row_index(self, g: int) -> int:
        epoch, i = divmod(g, self.n_rows)
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n_rows)
            self._perm_epoch = epoch
        return int(self._perm[i])

    def rows(self, global_rows: Iterable[int]) -> dict[str, np.ndarray]:
        """inputs, labels and positions (int64 arrays of shape (n, seq_len)) for global row numbers."""
        idx = [self._row_index(g) for g in global_rows]
        return self.window(np.asarray(idx, dtype=np.int64) * self.seq_len)

    def window(self, starts: np.ndarray) -> dict[str, np.ndarray]:
        c, T = self.cache, self.seq_len
        offsets = starts[:, None] + np.arange(T + 1)[None, :]
        tokens = np.asarray(c.tokens[offsets.ravel()], dtype=np.int64).reshape(offsets.shape)
        doc = np.searchsorted(c.doc_starts, offsets, side="right") - 1
        pos = offsets - c.doc_starts[doc]
        labels = tokens[:, 1:].copy()
        # A target in another document than its input (the first token after [EOS]) is not learned.
        labels[doc[:, 1:] != doc[:, :-1]] = IGNORE
        if self.loss_on == "solution":
            labels[pos[:, 1:] < np.asarray(c.prompt_lens)[doc[:, 1:]]] = IGNORE
        return {"input_ids": tokens[:, :-1], "labels": labels, "position_ids": pos[:, :-1]}


def over_length(cache: TokenCache, limit: int, upto: int | None = None) -> tuple[int, int, list[int]]:
    """(how many documents are longer than `limit` tokens (and at most `upto`), the longest document's length,
    their ops)."""
    lengths = np.diff(np.asarray(cache.doc_starts))
    long = (lengths > limit) & (lengths <= upto if upto is not None else True)
    longest = int(lengths.max()) if len(lengths) else 0
    return int(long.sum()), longest, sorted({int(o) for o in np.asarray(cache.doc_ops)[long]})


def describe_ops(ops: list[int]) -> str:
    """'op 8', 'op 8-14' or 'ops 8, 10, 12'."""
    if len(ops) == 1:
        return f"op {ops[0]}"
    if ops == list(range(ops[0], ops[-1] + 1)):
        return f"op {ops[0]}-{ops[-1]}"
    return "ops " + ", ".join(map(str, ops))


class DocRows:
    """Rows of whole documents ("BOS-aligned" packing): no document is cut at a row boundary.

    Each epoch, the documents are taken in a seeded random order and packed best-fit: a row is filled
    with the longest waiting document that still fits, from a window of the next `window` documents,
    and padded when none fits. A document longer than a row is split into row-sized pieces (kept with
    their true positions); one longer than `max_positions` (the model's position table) is left out.
    Padding and the target after each document's last token are not trained on.
    The row layout of an epoch is a pure function of (seed, epoch), so resuming is exact.
    """

    def __init__(self, cache: TokenCache, seq_len: int, seed: int, loss_on: str = "all", pad_id: int = 1,
                 window: int = 256, max_positions: int | None = None):
        self.cache, self.seq_len, self.seed, self.loss_on, self.pad_id, self.window = cache, seq_len, seed, loss_on, pad_id, window
        starts = np.asarray(cache.doc_starts)
        lengths = np.diff(starts)
        n_pieces = -(-lengths // seq_len)
        if max_positions is not None:  # its later pieces' positions would fall off the model's table
            n_pieces[lengths > max_positions] = 0
        self.piece_doc = np.repeat(np.arange(cache.n_docs), n_pieces)
        first = np.repeat(np.cumsum(n_pieces) - n_pieces, n_pieces)
        self.piece_start = (np.arange(len(self.piece_doc)) - first) * seq_len  # offset within the document
        self.piece_len = np.minimum(seq_len, lengths[self.piece_doc] - self.piece_start)
        self._epoch = -1
        self._epoch_first_row = 0  # global row number of the cached epoch's first row
        self._rows_before: dict[int, int] = {0: 0}
        self.n_rows = len(self._layout(0)[0]) - 1  # rows in epoch 0 (others differ by a few)

    def _layout(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(row_ptr, pieces in row order) for one epoch."""
        import bisect

        if epoch == self._epoch:
            return self._cached
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.piece_doc))
        lengths = self.piece_len[order].tolist()
        waiting: list[tuple[int, int]] = []  # (length, position in order), sorted
        next_in = 0
        row_ptr, placed = [0], []
        while next_in < len(order) or waiting:
            while next_in < len(order) and len(waiting) < self.window:
                bisect.insort(waiting, (lengths[next_in], next_in))
                next_in += 1
            space = self.seq_len
            while waiting:
                i = bisect.bisect_right(waiting, (space, len(order))) - 1
                if i < 0:
                    break
                length, pos = waiting.pop(i)
                placed.append(int(order[pos]))
                space -= length
            row_ptr.append(len(placed))
        self._epoch, self._cached = epoch, (np.asarray(row_ptr), np.asarray(placed, dtype=np.int64))
        return self._cached

    def _locate(self, g: int) -> tuple[int, int]:
        """(epoch, row within the epoch) of global row number g."""
        epoch = 0
        while True:
            if epoch + 1 not in self._rows_before:
                self._rows_before[epoch + 1] = self._rows_before[epoch] + len(self._layout(epoch)[0]) - 1
            if g < self._rows_before[epoch + 1]:
                return epoch, g - self._rows_before[epoch]
            epoch += 1

    def rows(self, global_rows: Iterable[int]) -> dict[str, np.ndarray]:
        c, T = self.cache, self.seq_len
        global_rows = list(global_rows)
        n = len(global_rows)
        inputs = np.full((n, T), self.pad_id, dtype=np.int64)
        labels = np.full((n, T), IGNORE, dtype=np.int64)
        positions = np.zeros((n, T), dtype=np.int64)
        for r, g in enumerate(global_rows):
            epoch, i = self._locate(g)
            row_ptr, placed = self._layout(epoch)
            at = 0
            for piece in placed[row_ptr[i] : row_ptr[i + 1]]:
                d, off, length = int(self.piece_doc[piece]), int(self.piece_start[piece]), int(self.piece_len[piece])
                s = int(c.doc_starts[d]) + off
                ids = np.asarray(c.tokens[s : s + length], dtype=np.int64)
                inputs[r, at : at + length] = ids
                labels[r, at : at + length - 1] = ids[1:]
                pos = off + np.arange(length)
                positions[r, at : at + length] = pos
                if self.loss_on == "solution":
                    prompt = int(c.prompt_lens[d])
                    labels[r, at : at + length - 1][pos[1:] < prompt] = IGNORE
                at += length
            positions[r, at:] = np.arange(T - at)  # padding: its own pseudo-document
        return {"input_ids": inputs, "labels": labels, "position_ids": positions}


def eval_rows(cache: TokenCache, seq_len: int, pad_id: int, loss_on: str = "all") -> dict[str, np.ndarray]:
    """Whole held-out documents packed first-fit in order into rows; each target carries its op and
    whether it is a solution token (after `<solution>`: what a prompted model has to write).

    Documents longer than `seq_len` are cut to it (their tail is not scored).
    """
    rows: list[list[int]] = []
    fill: list[int] = []
    for d in range(cache.n_docs):
        n = min(int(cache.doc_starts[d + 1] - cache.doc_starts[d]), seq_len)
        if not fill or fill[-1] + n > seq_len:
            rows.append([])
            fill.append(0)
        rows[-1].append(d)
        fill[-1] += n
    R = len(rows)
    inputs = np.full((R, seq_len), pad_id, dtype=np.int64)
    labels = np.full((R, seq_len), IGNORE, dtype=np.int64)
    positions = np.zeros((R, seq_len), dtype=np.int64)
    ops = np.full((R, seq_len), -1, dtype=np.int64)
    solution = np.zeros((R, seq_len), dtype=bool)
    for r, docs in enumerate(rows):
        at = 0
        for d in docs:
            s = int(cache.doc_starts[d])
            n = min(int(cache.doc_starts[d + 1]) - s, seq_len)
            ids = np.asarray(cache.tokens[s : s + n], dtype=np.int64)
            inputs[r, at : at + n] = ids
            labels[r, at : at + n - 1] = ids[1:]
            if loss_on == "solution":
                labels[r, at : at + min(int(cache.prompt_lens[d]), n) - 1] = IGNORE
            positions[r, at : at + n] = np.arange(n)
            ops[r, at : at + n] = cache.doc_ops[d]
            solution[r, at : at + n - 1] = np.arange(1, n) >= int(cache.prompt_lens[d])
            at += n
        # Padding continues as its own pseudo-document, so it never joins the last real one.
        positions[r, at:] = np.arange(seq_len - at)
    return {"input_ids": inputs, "labels": labels, "position_ids": positions, "ops": ops, "solution": solution}
