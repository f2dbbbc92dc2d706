"""The gold graph a completion is judged against.

Two sources, one result (`Gold`):
- our records: the generator's exported `graph` ({"nodes": [{"name", "value", "parents"}], "target"});
- records in the reference project's format (problem, question, solution, op, template, mode) with
  no graph: the gold graph is parsed from the gold `solution` with the same parser that reads
  model output, so datasets made by the paper's code can be scored too.

A graph whose nodes carry "dependencies" instead of "parents" (the compat fixture's
`generator_graph`) is read the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from interplay.errors import UserError
from interplay.verify.parse import parse_completion

# Reference-format field values -> our record's values.
REFERENCE_MODES = {"normalforward": "forward", "forwardreverse": "reverse"}
REFERENCE_CONTEXTS = {
    "crazy_zootopia": "zoo",
    "teachers_in_school": "school",
    "movie_festival_awards": "movies",
}


@dataclass(frozen=True, slots=True)
class GoldNode:
    name: str
    parents: frozenset[str]
    value: int


@dataclass(frozen=True, slots=True)
class Gold:
    """Gold nodes in trace order, the gold answer, and the arithmetic modulus (None = integers)."""

    nodes: tuple[GoldNode, ...]
    answer: int
    modulus: int | None = None


def to_int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise UserError(f"{where} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip().rstrip("."))
        except ValueError:
            pass
    raise UserError(f"{where} must be an integer, got {value!r}")


def _graph_nodes(graph: Any, where: str) -> tuple[GoldNode, ...]:
    if isinstance(graph, str):
        try:
            graph = json.loads(graph)
        except json.JSONDecodeError as exc:
            raise UserError(f"{where} is a string but not JSON: {exc.msg}") from None
    if not isinstance(graph, Mapping) or "nodes" not in graph:
        raise UserError(f"{where} must be an object with a 'nodes' list")
    raw_nodes = graph["nodes"]
    if not isinstance(raw_nodes, (list, tuple)) or not raw_nodes:
        raise UserError(f"{where}.nodes must be a non-empty list")
    nodes = []
    for i, node in enumerate(raw_nodes):
        if not isinstance(node, Mapping) or not isinstance(node.get("name"), str):
            raise UserError(f"{where}.nodes[{i}] needs a string 'name'")
        parents = node.get("parents", node.get("dependencies"))
        if parents is None or isinstance(parents, str):
            raise UserError(f"{where}.nodes[{i}] needs a 'parents' list")
        name = " ".join(node["name"].split())
        nodes.append(
            GoldNode(
                name=name,
                parents=frozenset(" ".join(str(p).split()) for p in parents),
                value=to_int(node.get("value"), f"{where}.nodes[{i}].value"),
            )
        )
    _check_unique(nodes, where)
    return tuple(nodes)


def _check_unique(nodes, where: str) -> None:
    seen: set[str] = set()
    for node in nodes:
        if node.name in seen:
            raise UserError(f"{where} defines the node {node.name!r} twice")
        seen.add(node.name)


def load_gold(record: Mapping[str, Any]) -> Gold:
    """The gold graph of one problem record (our format or the reference format).

    Raises UserError naming the field when the record cannot give a gold graph.
    """
    if isinstance(record, Gold):
        return record
    if not isinstance(record, Mapping):
        raise UserError(f"a problem record must be a JSON object, got {type(record).__name__}")
    modulus = record.get("modulus")
    if modulus is not None:
        modulus = to_int(modulus, "modulus")
        if modulus < 2:
            raise UserError(f"modulus must be null or an integer >= 2, got {modulus}")
    graph = record.get("graph")
    if graph is not None:
        nodes = _graph_nodes(graph, "graph")
        if record.get("answer") is not None:
            answer = to_int(record["answer"], "answer")
        elif isinstance(graph, Mapping) and graph.get("answer") is not None:
            answer = to_int(graph["answer"], "graph.answer")
        else:
            raise UserError("the record has a 'graph' but no 'answer'")
        return Gold(nodes, answer, modulus)
    solution = record.get("solution")
    if not isinstance(solution, str) or not solution.strip():
        raise UserError("the record has neither a 'graph' nor a gold 'solution' to parse one from")
    parsed = parse_completion(solution, modulus)
    if not parsed.nodes:
        raise UserError("the gold 'solution' has no readable Define steps")
    bad = [n.name for n in parsed.nodes if n.parents is None or n.value is None]
    if bad:
        raise UserError(f"the gold 'solution' has unreadable steps: {bad[:3]}")
    if record.get("answer") is not None:
        answer = to_int(record["answer"], "answer")
    elif parsed.answer is not None:
        answer = parsed.answer
    else:
        raise UserError("the record has no 'answer' and its 'solution' has no 'Answer: N'")
    nodes = tuple(GoldNode(n.name, n.parents, n.value) for n in parsed.nodes)  # type: ignore[arg-type]
    _check_unique(nodes, "the gold 'solution'")
    return Gold(nodes, answer, modulus)
