"""Corpora: mixtures over ops and contexts, hash-partitioned splits, Parquet shards.

    from interplay.corpus import iter_records
    for record in iter_records("data/demo", split="pretrain"): ...
"""

from interplay.corpus.shards import iter_records, split_files

__all__ = ["iter_records", "split_files"]
