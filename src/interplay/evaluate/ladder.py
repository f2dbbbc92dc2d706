"""The performance ladder (ID / OOD-edge / OOD-hard op ranges) and the edge-of-competence filter.

The paper calibrates its setup from a base model's per-op pass@k curves:

* **ID**: the ops the model has mastered — pass@k near 100% (here: >= `id_min_pass_k`, 0.9);
* **OOD-hard**: ops beyond reach — pass@k about 0 (here: <= `hard_max_pass_k`, 0.05);
* **OOD-edge**: in between — pass@1 low but pass@k clearly above zero.

Curves from finite samples are not perfectly monotone, so the ranges are made contiguous: ID is the
longest run of ops from the smallest one that all reach `id_min_pass_k`; OOD-hard the longest run up
to the largest op that all stay at or below `hard_max_pass_k`; OOD-edge everything in between. Ops
whose numbers do not fit the range they land in are listed in `notes`, never silently moved.

The per-problem edge-of-competence filter (for RL data selection) keeps a problem when it "fails at
pass@1, is solved within k": pass@1 <= `max_pass_1` and pass@k >= `min_pass_k`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from interplay.errors import UserError

RANGE_NAMES = ("ID", "OOD-edge", "OOD-hard")


@dataclass
class LadderThresholds:
    id_min_pass_k: float = 0.9
    hard_max_pass_k: float = 0.05
    edge_max_pass_1: float = 0.5  # an edge op above this pass@1 is flagged in the notes

    def validate(self) -> LadderThresholds:
        for name in ("id_min_pass_k", "hard_max_pass_k", "edge_max_pass_1"):
            value = getattr(self, name)
            if not (0.0 <= value <= 1.0):
                raise UserError(f"{name} must be in [0, 1], got {value!r}")
        if self.hard_max_pass_k >= self.id_min_pass_k:
            raise UserError(
                f"hard_max_pass_k ({self.hard_max_pass_k}) must be below id_min_pass_k ({self.id_min_pass_k})"
            )
        return self


@dataclass
class Ladder:
    op_ranges: dict[str, tuple[int, int]]  # only the ranges that exist
    per_op: dict[int, dict[str, Any]]  # op -> {"pass_at_1", "pass_at_k", "range"}
    notes: list[str] = field(default_factory=list)


def propose_ladder(
    per_op: Mapping[int, tuple[float, float]], k: int, thresholds: LadderThresholds | None = None
) -> Ladder:
    """Ranges from {op: (pass@1, pass@k)}. `k` only labels the notes."""
    t = (thresholds or LadderThresholds()).validate()
    if not per_op:
        raise UserError("ladder: no per-op results to build a ladder from")
    ops = sorted(per_op)
    passk = {op: per_op[op][1] for op in ops}
    pass1 = {op: per_op[op][0] for op in ops}
    n_id = 0
    while n_id < len(ops) and passk[ops[n_id]] >= t.id_min_pass_k:
        n_id += 1
    n_hard = 0
    while n_hard < len(ops) - n_id and passk[ops[-1 - n_hard]] <= t.hard_max_pass_k:
        n_hard += 1
    notes: list[str] = []
    ranges: dict[str, tuple[int, int]] = {}
    id_end = ops[n_id - 1] if n_id else ops[0] - 1
    hard_start = ops[len(ops) - n_hard] if n_hard else ops[-1] + 1
    if n_id:
        ranges["ID"] = (ops[0], id_end)
    else:
        notes.append(
            f"no ID range: pass@{k} at the smallest op {ops[0]} is {passk[ops[0]]:.3f} < {t.id_min_pass_k}"
        )
    if id_end + 1 <= hard_start - 1:
        ranges["OOD-edge"] = (id_end + 1, hard_start - 1)
    else:
        notes.append(
            f"no OOD-edge range: pass@{k} falls from >= {t.id_min_pass_k} (op {id_end}) to <= "
            f"{t.hard_max_pass_k} (op {hard_start}); evaluate more samples or finer ops"
        )
    if n_hard:
        ranges["OOD-hard"] = (hard_start, ops[-1])
    else:
        notes.append(
            f"no OOD-hard range: pass@{k} at the largest op {ops[-1]} is {passk[ops[-1]]:.3f} > "
            f"{t.hard_max_pass_k}; evaluate larger ops"
        )
    table: dict[int, dict[str, Any]] = {}
    for op in ops:
        name = next(n for n, (lo, hi) in ranges.items() if lo <= op <= hi)
        table[op] = {"pass_at_1": pass1[op], "pass_at_k": passk[op], "range": name}
        if name == "OOD-edge":
            if passk[op] <= t.hard_max_pass_k:
                notes.append(f"op {op} (OOD-edge) has pass@{k} {passk[op]:.3f} <= {t.hard_max_pass_k}: "
                             "the curve is not monotone here")
            if passk[op] >= t.id_min_pass_k:
                notes.append(f"op {op} (OOD-edge) has pass@{k} {passk[op]:.3f} >= {t.id_min_pass_k} "
                             "after a lower op: the curve is not monotone here")
            if pass1[op] > t.edge_max_pass_1:
                notes.append(f"op {op} (OOD-edge) has pass@1 {pass1[op]:.3f} > {t.edge_max_pass_1}: not low")
    if "OOD-edge" in ranges:
        lo, hi = ranges["OOD-edge"]
        if not any(lo <= op <= hi for op in ops):
            notes.append(f"the OOD-edge range [{lo}, {hi}] holds no evaluated op: evaluate those ops to confirm it")
    return Ladder(ranges, table, notes)


def per_op_from_pass_table(
    table: Iterable[Mapping[str, Any]], k: int, metric: str = "outcome"
) -> dict[int, tuple[float, float]]:
    """{op: (pass@1, pass@k)} from the rows of an evaluation's pass@k table."""
    if metric not in ("outcome", "process"):
        raise UserError(f"--metric must be outcome or process, got {metric!r}")
    p1: dict[int, float] = {}
    pk: dict[int, float] = {}
    for row in table:
        if row["group"] != "op" or row["metric"] != metric:
            continue
        if row["k"] == 1:
            p1[int(row["key"])] = row["pass_at_k"]
        if row["k"] == k:
            pk[int(row["key"])] = row["pass_at_k"]
    if not pk:
        raise UserError(f"--k: the evaluation has no pass@{k} (its ks do not include {k})")
    if not p1:
        raise UserError("the evaluation has no pass@1 (run it with 1 among --k)")
    return {op: (p1[op], pk[op]) for op in sorted(pk)}


def ladder_yaml(ladder: Ladder, *, k: int, metric: str, source: str, thresholds: LadderThresholds) -> str:
    """The YAML a study config can include; `op_ranges` is what `interplay eval --op-ranges` reads."""
    import yaml

    doc = {
        "op_ranges": {name: list(ladder.op_ranges[name]) for name in RANGE_NAMES if name in ladder.op_ranges},
        "source": source,
        "metric": metric,
        "k": k,
        "thresholds": {
            "id_min_pass_k": thresholds.id_min_pass_k,
            "hard_max_pass_k": thresholds.hard_max_pass_k,
            "edge_max_pass_1": thresholds.edge_max_pass_1,
        },
        "per_op": {
            op: {"pass_at_1": round(v["pass_at_1"], 6), "pass_at_k": round(v["pass_at_k"], 6), "range": v["range"]}
            for op, v in ladder.per_op.items()
        },
        "notes": list(ladder.notes),
    }
    head = f"# interplay ladder: op ranges proposed from {source} ({metric} pass@1 and pass@{k})\n"
    return head + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def edge_of_competence(
    per_problem: Iterable[Mapping[str, Any]],
    k: int,
    *,
    metric: str = "outcome",
    max_pass_1: float = 0.25,
    min_pass_k: float = 0.5,
) -> list[dict[str, Any]]:
    """Problems that fail at pass@1 but are solved within k samples.

    `per_problem` rows carry n and c_outcome / c_process (an evaluation's per_problem.csv, or
    `interplay.verify.count_per_problem`). Returns those rows kept, with pass_at_1 and pass_at_k added.
    """
    from interplay.verify.passk import pass_at_k

    if metric not in ("outcome", "process"):
        raise UserError(f"metric must be outcome or process, got {metric!r}")
    if not (0.0 <= max_pass_1 <= 1.0) or not (0.0 <= min_pass_k <= 1.0):
        raise UserError("max_pass_1 and min_pass_k must be in [0, 1]")
    kept = []
    for row in per_problem:
        n, c = int(row["n"]), int(row[f"c_{metric}"])
        if k > n:
            raise UserError(f"--k {k} exceeds the {n} samples of problem {row['id']}")
        p1, pk = pass_at_k(n, c, 1), pass_at_k(n, c, k)
        if p1 <= max_pass_1 and pk >= min_pass_k:
            kept.append({**row, "pass_at_1": p1, "pass_at_k": pk})
    return kept
