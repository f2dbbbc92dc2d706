"""Process verification: a parsed completion against its gold graph, and the error taxonomy.

A gold node is *right* when the completion defines a node of the same name whose parent set and
value both equal the gold ones. Then, per sample:

- outcome_correct: the final answer equals the gold answer;
- process_accuracy: right gold nodes / gold nodes (the paper's dense process reward);
- process_correct: every gold node right and the answer right (extra nodes are allowed);
- errors, each a list of node names: missing (gold node never defined), dependency (defined
  with another parent set, or with no readable defining statement), value (defined with another
  or an unreadable value), extra (defined but not in gold; a name defined again after its first
  definition is listed again). A node can be both a dependency and a value error.
- wrong_answer: the answer is absent or differs; unparseable: no Define step could be read.

When a node is defined more than once, its first definition is the one judged: later ones are
extra steps (the error "defining a node twice" that small models make).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from interplay.verify.gold import Gold, load_gold
from interplay.verify.parse import Parsed, parse_completion


@dataclass(slots=True)
class Errors:
    missing: list[str] = field(default_factory=list)
    dependency: list[str] = field(default_factory=list)
    value: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[str]]:
        return {"missing": self.missing, "dependency": self.dependency, "value": self.value, "extra": self.extra}


@dataclass(slots=True)
class Verdict:
    parse_ok: bool
    answer: int | None
    outcome_correct: bool
    process_correct: bool
    process_accuracy: float
    errors: Errors
    n_gold: int  # gold node count (the denominator of process_accuracy)

    @property
    def wrong_answer(self) -> bool:
        return not self.outcome_correct

    @property
    def unparseable(self) -> bool:
        return not self.parse_ok

    def to_dict(self) -> dict[str, Any]:
        """The fields of one `interplay verify` output line (without the id)."""
        return {
            "parse_ok": self.parse_ok,
            "answer": self.answer,
            "outcome_correct": self.outcome_correct,
            "process_correct": self.process_correct,
            "process_accuracy": self.process_accuracy,
            "errors": self.errors.to_dict(),
        }


def compare(parsed: Parsed, gold: Gold) -> Verdict:
    """Judge a parsed completion against a gold graph."""
    first: dict[str, Any] = {}
    errors = Errors()
    for node in parsed.nodes:
        if node.name in first:
            errors.extra.append(node.name)  # defined again: only the first definition counts
        else:
            first[node.name] = node
    n_right = 0
    gold_names = set()
    # gold values are residues already in modular worlds; the parser reduces what it reads
    for g in gold.nodes:
        gold_names.add(g.name)
        p = first.get(g.name)
        if p is None:
            errors.missing.append(g.name)
            continue
        ok = True
        if p.parents != g.parents:  # None (unreadable) never equals a frozenset
            errors.dependency.append(g.name)
            ok = False
        if p.value != g.value:
            errors.value.append(g.name)
            ok = False
        n_right += ok
    n_gold = len(gold.nodes)
    if len(first) > n_gold - len(errors.missing):  # some first definitions are not gold nodes
        extra_first = [name for name in first if name not in gold_names]
        errors.extra = extra_first + errors.extra if errors.extra else extra_first
    outcome = parsed.answer is not None and parsed.answer == gold.answer
    return Verdict(
        parse_ok=bool(parsed.nodes),
        answer=parsed.answer,
        outcome_correct=outcome,
        process_correct=outcome and n_right == n_gold,
        process_accuracy=n_right / n_gold,
        errors=errors,
        n_gold=n_gold,
    )


def verify(record: Mapping[str, Any] | Gold, completion: str) -> Verdict:
    """Parse `completion` and judge it against the record's gold graph.

    `record` is a problem record (our format or the reference format) or a `Gold` from
    `load_gold(record)`; pass the latter when scoring many completions of one problem.
    """
    gold = record if isinstance(record, Gold) else load_gold(record)
    return compare(parse_completion(completion, gold.modulus), gold)
