"""Shard files: one Parquet (or JSONL) file per block of rows, written atomically.

Parquet shards are plain tables that pyarrow and `datasets.load_dataset("parquet", ...)` read;
`graph` is a nested struct column. A shard appears under its final name only once complete
(written to a temporary name, then renamed), so a killed build never leaves half a shard behind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from interplay.errors import UserError


def arrow_schema():
    import pyarrow as pa

    node = pa.struct([("name", pa.string()), ("value", pa.int64()), ("parents", pa.list_(pa.string()))])
    known = pa.struct([("name", pa.string()), ("value", pa.int64())])
    graph = pa.struct([("nodes", pa.list_(node)), ("target", pa.string()), ("known", known)])
    return pa.schema([
        ("id", pa.string()), ("op", pa.int32()), ("context", pa.string()), ("mode", pa.string()),
        ("problem", pa.string()), ("question", pa.string()), ("solution", pa.string()),
        ("answer", pa.int64()), ("graph", graph), ("modulus", pa.int64()), ("split", pa.string()),
    ])


def shard_name(index: int, fmt: str) -> str:
    return f"part-{index:05d}.{fmt}"


ROW_GROUP = 5000  # rows buffered per Parquet row group: bounds a worker's memory, fixes the bytes


def write_shard(path: Path, records: Iterable[dict], fmt: str) -> None:
    """Stream records into a shard file; it appears under `path` only when complete."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = arrow_schema()
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for chunk in _chunks(records, ROW_GROUP):
                rows = [dict(r, graph={**r["graph"], "known": r["graph"].get("known")}) for r in chunk]
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
    else:
        with open(tmp, "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def write_json_atomic(path: Path, data) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def split_files(corpus_dir: str | Path, split: str) -> list[Path]:
    corpus_dir = Path(corpus_dir)
    if not (corpus_dir / "manifest.json").exists() and not (corpus_dir / "build.json").exists():
        raise UserError(f"{corpus_dir} is not an interplay corpus (no manifest.json); build one with `interplay corpus build`")
    files = sorted(p for p in (corpus_dir / split).glob("part-*.*") if p.suffix in (".parquet", ".jsonl"))
    if not files:
        raise UserError(f"corpus {corpus_dir} has no shards for split {split!r}")
    return files


def _clean(record: dict) -> dict:
    graph = record.get("graph")
    if isinstance(graph, dict) and graph.get("known") is None:
        graph.pop("known", None)
    return record


def iter_records(corpus_dir: str | Path, split: str, columns: list[str] | None = None) -> Iterator[dict]:
    """Yield the records of one split, shard by shard, in row order."""
    for path in split_files(corpus_dir, split):
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path, columns=columns)
            for batch in table.to_batches(max_chunksize=4096):
                for record in batch.to_pylist():
                    yield _clean(record)
        else:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    record = _clean(json.loads(line))
                    yield {k: record[k] for k in columns} if columns else record
