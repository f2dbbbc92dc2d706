"""Values: operators chosen to fit each node's structure while keeping every value in range.

Rules (as in the reference generator): constants 1-4, "c plus" with c in 1-4, "c times" with c
in 2-4, no negative values, no zero for instance nodes, no value above `max_value` (1000).
With a modulus (e.g. 23, forward mode only) every value is reduced mod p instead and any residue
is allowed.

Reverse mode needs the linear form a*x + b of each node in the unknown x; `linear_forms` gives it.
"""

from __future__ import annotations

from dataclasses import dataclass

from interplay.world.graph import Node
from interplay.world.rng import Rng

CONST_RANGE = (1, 4)
PLUS_RANGE = (1, 4)
TIMES_RANGE = (2, 4)


@dataclass(frozen=True)
class Arithmetic:
    max_value: int = 1000
    modulus: int | None = None

    def fits(self, v: int) -> bool:
        return self.modulus is not None or 1 <= v <= self.max_value

    def reduce(self, v: int) -> int:
        return v % self.modulus if self.modulus is not None else v


def assign_values(nodes: list[Node], rng: Rng, arith: Arithmetic) -> bool:
    """Choose operators and constants in topological order. False if a needed node cannot be
    given an in-range value (the caller re-draws values; the structure is kept)."""
    for node in nodes:
        if node.kind == "const":
            _make_const(node, rng)
        elif node.kind == "total":
            node.form = "total"
            value = sum(nodes[p].value for p in node.parents)
            if arith.modulus is None and value > arith.max_value:
                return False  # totals may not be re-shaped: all of the location is summed
            node.value = arith.reduce(value)
        elif not _assign_expr(node, nodes, rng, arith):
            if node.needed:
                return False
            # A distractor only has to exist: when its operators cannot fit, it becomes a constant.
            node.kind, node.parents, node.has_const = "const", [], True
            _make_const(node, rng)
    return True


def _make_const(node: Node, rng: Rng) -> None:
    node.form, node.outer = "const", ""
    node.c = node.value = rng.randint(*CONST_RANGE)


def _assign_expr(node: Node, nodes: list[Node], rng: Rng, arith: Arithmetic) -> bool:
    values = [nodes[p].value for p in node.parents]
    inners: list[tuple[str, int, list[int]]] = []  # (form, value, parent order)
    if len(values) == 1:
        inners.append(("copy", values[0], node.parents))
    else:
        total = sum(values)
        if arith.modulus is not None or total <= arith.max_value:
            inners.append(("sum", arith.reduce(total), node.parents))
        if len(values) == 2:
            a, b = values
            if arith.modulus is not None:
                inners.append(("diff", arith.reduce(a - b), node.parents))
            elif a != b:  # larger first, so the difference is positive
                order = node.parents if a > b else node.parents[::-1]
                inners.append(("diff", abs(a - b), order))
    rng.shuffle(inners)
    for form, inner_value, order in inners:
        if not node.has_const:
            if arith.fits(inner_value):
                node.form, node.outer, node.c, node.value, node.parents = form, "", 0, inner_value, order
                return True
            continue
        outers = [("plus", c, inner_value + c) for c in range(PLUS_RANGE[0], PLUS_RANGE[1] + 1)]
        outers += [("times", c, inner_value * c) for c in range(TIMES_RANGE[0], TIMES_RANGE[1] + 1)]
        fitting = [(o, c, arith.reduce(v)) for o, c, v in outers if arith.fits(v)]
        if not fitting:
            continue
        # Pick plus/times first (evenly), then the constant: this keeps both forms common.
        kinds = sorted({o for o, _, _ in fitting})
        want = rng.choice(kinds)
        outer, c, value = rng.choice([f for f in fitting if f[0] == want])
        node.form, node.outer, node.c, node.value, node.parents = form, outer, c, value, order
        return True
    return False


def gradients(nodes: list[Node], target: int) -> dict[int, int]:
    """d(target)/d(node) for the needed nodes: the coefficient each leaf would get as x."""
    grad = {target: 1}
    for node in reversed(nodes[: target + 1]):
        g = grad.get(node.idx, 0)
        if g == 0 or node.kind == "const":
            continue
        scale = node.c if node.outer == "times" else 1
        for pos, p in enumerate(node.parents):
            sign = -1 if (node.form == "diff" and pos == 1) else 1
            grad[p] = grad.get(p, 0) + sign * scale * g
    return grad


def linear_forms(nodes: list[Node], unknown: int, upto: int) -> dict[int, tuple[int, int]]:
    """(a, b) with value = a*x + b for every node up to `upto`, x being node `unknown`."""
    lin: dict[int, tuple[int, int]] = {}
    for node in nodes[: upto + 1]:
        if node.idx == unknown:
            lin[node.idx] = (1, 0)
        elif node.kind == "const":
            lin[node.idx] = (0, node.value)
        else:
            parts = [lin[p] for p in node.parents]
            if node.form == "diff":
                a, b = parts[0][0] - parts[1][0], parts[0][1] - parts[1][1]
            else:  # copy, sum, total
                a, b = sum(p[0] for p in parts), sum(p[1] for p in parts)
            if node.outer == "plus":
                b += node.c
            elif node.outer == "times":
                a, b = a * node.c, b * node.c
            lin[node.idx] = (a, b)
    return lin
