"""`interplay corpus build`: shards for every split, in parallel, resumable, byte-reproducible.

The story of a build:
1. parse and validate the whole config (nothing is written if anything is wrong);
2. lay out each split: exact counts per (op, context, mode) cell, scattered over rows by a keyed
   permutation, so row i depends only on (seed, split, i);
3. build shards in worker processes; row i draws candidate problems (seed, index_i_attempt) until
   one hashes into the split's share of the partition, which makes splits disjoint by graph;
4. skip shards already on disk (a resumed build), then write manifest.json with the counts.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import Counter
from pathlib import Path

from interplay import __version__, locks
from interplay.corpus.config import CorpusConfig, SplitSpec
from interplay.corpus.layout import SplitLayout, pilot_tokens_per_problem
from interplay.corpus.shards import shard_name, write_json_atomic, write_shard
from interplay.corpus.tokens import approx_tokens
from interplay.errors import UserError
from interplay.world.rng import derive_seed

MAX_ATTEMPTS_PER_SHARE = 200  # candidates per row, divided by the split's share, before giving up


def config_hash(cfg: CorpusConfig) -> str:
    blob = json.dumps(cfg.raw, sort_keys=True, ensure_ascii=False, default=str).encode()
    return hashlib.blake2b(blob, digest_size=8).hexdigest()


def split_rows(cfg: CorpusConfig, split: SplitSpec) -> int:
    if split.problems is not None:
        return split.problems
    if split.tokens is not None:
        return math.ceil(split.tokens / pilot_tokens_per_problem(cfg, split))
    return 0  # per_cell: the layout knows


def make_row(cfg: CorpusConfig, layout: SplitLayout, row: int, bounds: tuple[float, float], share: float) -> dict:
    from interplay.world import generate

    op, ctx, mode = layout.cell(row)
    lo, hi = bounds
    limit = int(MAX_ATTEMPTS_PER_SHARE / share)
    for attempt in range(limit):
        index = derive_seed("interplay-corpus-row", layout.split, row, attempt)
        record = generate(op, ctx, mode, seed=cfg.seed, index=index, options=cfg.world)
        if lo <= int(record["id"], 16) / 2.0**64 < hi:
            record["split"] = layout.split
            return record
    raise UserError(
        f"split {layout.split!r}: no problem at op {op}, context {ctx}, mode {mode} hashed into its partition share "
        f"in {limit} draws; the world there is too small (raise world.distractors or partition.{layout.split})"
    )


def _build_shard(task) -> dict:
    cfg, split_name, rows_total, shard, out = task
    split = next(s for s in cfg.splits if s.name == split_name)
    layout = SplitLayout(cfg, split, rows_total)
    start = shard * cfg.shard_size
    stop = min(start + cfg.shard_size, layout.rows)
    bounds = cfg.bucket_bounds()[split_name]
    from interplay.text import format_example

    counts: Counter = Counter()
    tokens = 0

    def rows():
        nonlocal tokens
        for row in range(start, stop):
            record = make_row(cfg, layout, row, bounds, cfg.partition[split_name])
            counts[f"{record['op']}|{record['context']}|{record['mode']}"] += 1
            tokens += approx_tokens(format_example(record))
            yield record

    directory = Path(out) / split_name
    write_shard(directory / shard_name(shard, cfg.format), rows(), cfg.format)
    stats = {"rows": stop - start, "approx_tokens": tokens, "counts": dict(sorted(counts.items()))}
    write_json_atomic(directory / (shard_name(shard, cfg.format) + ".stats.json"), stats)
    return stats


def check_output(out: Path, digest: str) -> bool:
    """True when `out` holds a partial build of this same config (resume)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    build_file = out / "build.json"
    if build_file.exists():
        previous = json.loads(build_file.read_text(encoding="utf-8"))
        if previous.get("config_hash") != digest:
            raise UserError(f"--out {out} holds a corpus built from a different config; "
                            "choose another --out or delete it")
        return True
    if out.exists() and any(p.name != locks.FOLDER_LOCK for p in out.iterdir()):
        raise UserError(f"--out {out} is not empty and holds no interplay corpus; choose an empty or new directory")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"--out {out} is not writable (no write permission on {probe})")
    return False


def build_corpus(cfg: CorpusConfig, out: str | Path, workers: int | None = None, progress: bool = True) -> dict:
    out = Path(out)
    digest = config_hash(cfg)
    resuming = check_output(out, digest)
    plans = []
    for split in cfg.splits:
        rows = split_rows(cfg, split)
        layout = SplitLayout(cfg, split, rows)
        n_shards = math.ceil(layout.rows / cfg.shard_size)
        plans.append((split, rows, layout.rows, n_shards))
    out.mkdir(parents=True, exist_ok=True)
    # Two builds into one folder would write the same shards at once.
    locks.hold_for_process(out / locks.FOLDER_LOCK, f"--out {out}")
    if not resuming:
        write_json_atomic(out / "build.json", {"config_hash": digest, "config": cfg.raw, "interplay": __version__})
    tasks, done_stats = [], {}
    for split, rows, n_rows, n_shards in plans:
        (out / split.name).mkdir(exist_ok=True)
        for shard in range(n_shards):
            path = out / split.name / shard_name(shard, cfg.format)
            stats_path = path.with_name(path.name + ".stats.json")
            if path.exists() and stats_path.exists():
                done_stats[(split.name, shard)] = json.loads(stats_path.read_text(encoding="utf-8"))
            else:
                tasks.append((cfg, split.name, rows, shard, str(out)))
    total_rows = sum(p[2] for p in plans)
    done_rows = sum(s["rows"] for s in done_stats.values())
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks) or 1))
    from tqdm import tqdm

    bar = tqdm(total=total_rows, initial=done_rows, unit="problem", desc="corpus", disable=not progress,
               dynamic_ncols=True)
    results = []
    if workers == 1:
        for task in tasks:
            results.append((task[1], task[3], _build_shard(task)))
            bar.update(results[-1][2]["rows"])
    else:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers) as pool:
            for task, stats in zip(tasks, pool.imap(_build_shard, tasks)):
                results.append((task[1], task[3], stats))
                bar.update(stats["rows"])
    bar.close()
    for split_name, shard, stats in results:
        done_stats[(split_name, shard)] = stats
    manifest = _manifest(cfg, digest, plans, done_stats, out)
    write_json_atomic(out / "manifest.json", manifest)
    locks.release_under(out)  # empties the lock file: equal configs give equal folders, byte for byte
    return manifest


def _manifest(cfg: CorpusConfig, digest: str, plans, stats: dict, out: Path) -> dict:
    splits = {}
    for split, _, n_rows, n_shards in plans:
        counts: Counter = Counter()
        tokens = 0
        for shard in range(n_shards):
            s = stats[(split.name, shard)]
            counts.update(s["counts"])
            tokens += s["approx_tokens"]
        by_op: dict = {}
        for key, n in sorted(counts.items(), key=lambda kv: (int(kv[0].split("|")[0]), kv[0])):
            op, ctx, mode = key.split("|")
            by_op.setdefault(op, {}).setdefault(ctx, {})[mode] = n
        splits[split.name] = {
            "rows": n_rows,
            "shards": [shard_name(i, cfg.format) for i in range(n_shards)],
            "approx_tokens": tokens,
            "counts": by_op,
        }
    return {
        "interplay": __version__,
        "config_hash": digest,
        "seed": cfg.seed,
        "format": cfg.format,
        "partition": cfg.partition,
        "world": cfg.world.to_dict(),
        "splits": splits,
        "config": cfg.raw,
    }
