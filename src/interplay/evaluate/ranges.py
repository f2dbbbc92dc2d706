"""Op ranges (ID / OOD-edge / OOD-hard): from a flag string or from a YAML file `interplay ladder` wrote.

    "ID=2-10,OOD-edge=11-14,OOD-hard=15-20"       (flag form)
    op_ranges: {ID: [2, 10], OOD-edge: [11, 14], OOD-hard: [15, 20]}    (YAML form, key `op_ranges`)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from interplay.errors import UserError
from interplay.verify.passk import DEFAULT_OP_RANGES

OpRanges = dict[str, tuple[int, int]]
_ITEM = re.compile(r"\s*([A-Za-z][\w-]*)\s*=\s*(\d+)\s*(?:-\s*(\d+))?\s*")


def default_op_ranges() -> OpRanges:
    return dict(DEFAULT_OP_RANGES)


def check_op_ranges(ranges: Mapping[str, Any], field: str = "op_ranges") -> OpRanges:
    """Validate {name: [lo, hi]}: integer bounds, lo <= hi, ranges pairwise disjoint."""
    if not isinstance(ranges, Mapping) or not ranges:
        raise UserError(f"{field}: expected a non-empty mapping name -> [lo, hi]")
    out: OpRanges = {}
    for name, bounds in ranges.items():
        if not isinstance(bounds, list | tuple) or len(bounds) != 2 or not all(
            isinstance(b, int) and not isinstance(b, bool) for b in bounds
        ):
            raise UserError(f"{field}.{name}: expected [lo, hi] with integer ops, got {bounds!r}")
        lo, hi = bounds
        if lo > hi:
            raise UserError(f"{field}.{name}: lo {lo} is above hi {hi}")
        out[str(name)] = (lo, hi)
    spans = sorted((lo, hi, name) for name, (lo, hi) in out.items())
    for (lo1, hi1, n1), (lo2, hi2, n2) in zip(spans, spans[1:]):
        if lo2 <= hi1:
            raise UserError(f"{field}: ranges {n1} [{lo1}, {hi1}] and {n2} [{lo2}, {hi2}] overlap")
    return out


def parse_op_ranges(text: str | None, field: str = "--op-ranges") -> OpRanges:
    """A flag value: "NAME=LO-HI,..." or the path of a YAML file with an `op_ranges` mapping."""
    if text is None or text == "":
        return default_op_ranges()
    path = Path(text)
    if path.suffix in (".yaml", ".yml", ".json") or path.is_file():
        if not path.is_file():
            raise UserError(f"{field}: no such file {text}")
        import yaml

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise UserError(f"{field}: {text} is not YAML ({exc})") from None
        if not isinstance(data, Mapping) or "op_ranges" not in data:
            raise UserError(f"{field}: {text} has no `op_ranges` mapping")
        return check_op_ranges(data["op_ranges"], f"{text}: op_ranges")
    ranges: dict[str, list[int]] = {}
    for part in text.split(","):
        m = _ITEM.fullmatch(part)
        if not m:
            raise UserError(f"{field}: expected NAME=LO-HI items separated by commas, got {part.strip()!r}")
        lo = int(m.group(2))
        ranges[m.group(1)] = [lo, int(m.group(3)) if m.group(3) else lo]
    return check_op_ranges(ranges, field)


