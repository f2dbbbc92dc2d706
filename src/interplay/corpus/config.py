"""Corpus configs: which problems go in which split, validated before anything is written.

    seed: 0
    format: parquet            # or jsonl
    shard_size: 10000          # rows per shard file
    world: {distractors: [0, 12], letters: random}      # interplay.world.WorldOptions
    partition: {pretrain: 0.80, midtrain: 0.08, rl: 0.06, eval: 0.06}
    splits:
      pretrain:
        problems: 100000       # or  tokens: 10B  (approximate tokens, see corpus.tokens)
        contexts: {zoo: 1.0}   # defaults for the components below
        modes: {forward: 1.0}
        mixture:
          - {ops: [2, 4], weight: 0.2}
          - {ops: [5, 7], weight: 0.3}
          - {ops: [8, 10], weight: 0.5, contexts: {zoo: 0.99, school: 0.01}}
      eval:
        per_cell: 200          # problems per (op, context, mode) cell
        ops: [2, 20]
        contexts: {zoo: 1.0}

`partition` splits the space of canonical graph hashes between split names: a problem belongs to
the split its id hashes into, whatever config built it, so splits are disjoint by construction —
also across corpora built by different configs with the same partition.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from interplay.errors import UserError
from interplay.world import WorldOptions, get_context, normalize_mode
from interplay.world.generate import check_request

DEFAULT_PARTITION = {"pretrain": 0.80, "midtrain": 0.08, "rl": 0.06, "eval": 0.06}
FORMATS = ("parquet", "jsonl")
_SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}


def parse_count(value, where: str) -> int:
    """100000, '100k', '10M', '4.2B' -> int (>= 0)."""
    if isinstance(value, bool):
        raise UserError(f"{where} must be a number, got {value!r}")
    if isinstance(value, int):
        n = value
    elif isinstance(value, float) and value.is_integer():
        n = int(value)
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMbBtT]?)\s*", value)
        if not m:
            raise UserError(f"{where} must be a count like 100000, '50k', '10M' or '4.2B', got {value!r}")
        n = int(round(float(m.group(1)) * _SUFFIX[m.group(2).upper()]))
    else:
        raise UserError(f"{where} must be a count like 100000 or '10M', got {value!r}")
    if n < 0:
        raise UserError(f"{where} must not be negative, got {value!r}")
    return n


def _ratios(value, where: str, normalize) -> dict[str, float]:
    if not isinstance(value, dict) or not value:
        raise UserError(f"{where} must be a non-empty mapping of name: share")
    out = {}
    for k, v in value.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or not math.isfinite(v):
            raise UserError(f"{where}.{k} must be a non-negative number, got {v!r}")
        out[normalize(str(k), f"{where}.{k}")] = float(v)
    total = sum(out.values())
    if abs(total - 1.0) > 1e-6:
        raise UserError(f"{where} shares must sum to 1, they sum to {total:g}")
    return out


def _context_name(name: str, where: str) -> str:
    try:
        return get_context(name).name
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None


def _mode_name(name: str, where: str) -> str:
    try:
        return normalize_mode(name)
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None


def _ops(value, where: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise UserError(f"{where} must be [first, last] op, got {value!r}")
    if value[0] > value[1]:
        raise UserError(f"{where} must be [first, last] with first <= last, got {value}")
    return value[0], value[1]


def _keys(data: dict, allowed: set, where: str) -> None:
    if not isinstance(data, dict):
        raise UserError(f"{where} must be a mapping")
    unknown = sorted(set(map(str, data)) - allowed)
    if unknown:
        raise UserError(f"{where}: unknown field(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")


@dataclass(frozen=True)
class Component:
    ops: tuple[int, int]
    weight: float
    contexts: dict[str, float]
    modes: dict[str, float]


@dataclass(frozen=True)
class SplitSpec:
    name: str
    components: tuple[Component, ...]
    problems: int | None = None  # exact row count, or
    tokens: int | None = None  # an approximate token budget, or
    per_cell: int | None = None  # rows per (op, context, mode)


@dataclass(frozen=True)
class CorpusConfig:
    seed: int
    world: WorldOptions
    partition: dict[str, float]
    splits: tuple[SplitSpec, ...]
    format: str = "parquet"
    shard_size: int = 10000
    raw: dict = field(default_factory=dict, compare=False)

    def bucket_bounds(self) -> dict[str, tuple[float, float]]:
        bounds, lo = {}, 0.0
        for name, share in self.partition.items():
            bounds[name] = (lo, lo + share)
            lo += share
        return bounds


def parse_config(data, source: str = "config") -> CorpusConfig:
    if not isinstance(data, dict):
        raise UserError(f"{source}: a corpus config must be a YAML mapping")
    _keys(data, {"seed", "world", "partition", "splits", "format", "shard_size", "description"}, source)
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise UserError(f"seed must be a non-negative integer, got {seed!r}")
    world = WorldOptions.from_dict(data.get("world"), where="world")
    fmt = data.get("format", "parquet")
    if fmt not in FORMATS:
        raise UserError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    shard_size = data.get("shard_size", 10000)
    if not isinstance(shard_size, int) or isinstance(shard_size, bool) or shard_size < 1:
        raise UserError(f"shard_size must be a positive integer, got {shard_size!r}")
    partition = _ratios(data.get("partition", DEFAULT_PARTITION), "partition", lambda k, w: k)
    splits_raw = data.get("splits")
    if not isinstance(splits_raw, dict) or not splits_raw:
        raise UserError("splits must be a non-empty mapping of split name: spec")
    splits = []
    for name, spec in splits_raw.items():
        name = str(name)
        where = f"splits.{name}"
        if name not in partition:
            raise UserError(f"{where}: split {name!r} has no share in partition ({', '.join(partition)})")
        if partition[name] <= 0:
            raise UserError(f"{where}: partition.{name} is 0, so no problem could ever belong to it")
        splits.append(_parse_split(name, spec, where, world))
    return CorpusConfig(seed, world, partition, tuple(splits), fmt, shard_size, raw=data)


def _parse_split(name: str, spec, where: str, world: WorldOptions) -> SplitSpec:
    _keys(spec, {"problems", "tokens", "per_cell", "mixture", "ops", "contexts", "modes"}, where)
    sizes = [k for k in ("problems", "tokens", "per_cell") if k in spec]
    if len(sizes) != 1:
        raise UserError(f"{where}: give exactly one of problems, tokens or per_cell")
    size = parse_count(spec[sizes[0]], f"{where}.{sizes[0]}")
    contexts = _ratios(spec.get("contexts", {"zoo": 1.0}), f"{where}.contexts", _context_name)
    modes = _ratios(spec.get("modes", {"forward": 1.0}), f"{where}.modes", _mode_name)
    if "mixture" in spec and "ops" in spec:
        raise UserError(f"{where}: give either ops or mixture, not both")
    if "mixture" in spec:
        mix = spec["mixture"]
        if not isinstance(mix, list) or not mix:
            raise UserError(f"{where}.mixture must be a non-empty list of components")
        components = []
        for i, comp in enumerate(mix):
            cw = f"{where}.mixture[{i}]"
            _keys(comp, {"ops", "weight", "contexts", "modes"}, cw)
            weight = comp.get("weight", None)
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
                raise UserError(f"{cw}.weight must be a non-negative number, got {weight!r}")
            components.append(Component(
                _ops(comp.get("ops"), f"{cw}.ops"), float(weight),
                _ratios(comp["contexts"], f"{cw}.contexts", _context_name) if "contexts" in comp else contexts,
                _ratios(comp["modes"], f"{cw}.modes", _mode_name) if "modes" in comp else modes,
            ))
        total = sum(c.weight for c in components)
        if abs(total - 1.0) > 1e-6:
            raise UserError(f"{where}.mixture weights must sum to 1, they sum to {total:g}")
    elif "ops" in spec:
        components = [Component(_ops(spec["ops"], f"{where}.ops"), 1.0, contexts, modes)]
    else:
        raise UserError(f"{where}: give ops or a mixture")
    if sizes[0] == "per_cell" and len(components) != 1:
        raise UserError(f"{where}: per_cell needs a single ops range, not a mixture")
    for i, comp in enumerate(components):
        cw = f"{where}.mixture[{i}]" if "mixture" in spec else where
        for ctx_name, share in comp.contexts.items():
            for mode, mshare in comp.modes.items():
                if share == 0 or mshare == 0:
                    continue
                for op in (comp.ops[0], comp.ops[1]):
                    try:
                        check_request(op, get_context(ctx_name), mode, world)
                    except UserError as exc:
                        raise UserError(f"{cw}.ops: {exc}") from None
    kwargs = {sizes[0]: size}
    return SplitSpec(name, tuple(components), **kwargs)


def load_config(path) -> CorpusConfig:
    import yaml
    from pathlib import Path

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read config {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"config {path} is not valid YAML: {exc}") from None
    return parse_config(data, str(path))
