"""Text: problem sentences, the question, and the solution trace in the reference grammar.

Every step form used here occurs in the reference generator's output (see
`tests/fixtures/reference_samples.jsonl`, a copy of the compatibility fixture, and
tests/test_world_render.py):

    Define <name> as <L>; so <L> = 4.
    Define <name> as <L>; so <L> = <P> = 4.
    Define <name> as <L>; <I> = <A> + <B> = 2 + 3 = 5; so <L> = 2 * <I> = 2 * 5 = 10.
    Define <name> as x; we don't know its value yet but will find it out later.        (reverse)
    ... so <L> = <I> + <B> = x + 4 + 26 = x + 30.                                       (reverse)
    We know <L> = 33, so we have x + 30 = 33 and we solve it through the following steps: ...
"""

from __future__ import annotations

from interplay.world.contexts import Context
from interplay.world.graph import Node

# Trace letters: a-z and A-Z without x and X (x is the unknown of reverse problems).
LETTERS = [c for c in "abcdefghijklmnopqrstuvwyzABCDEFGHIJKLMNOPQRSTUVWYZ"]


def node_name(node: Node, ctx: Context) -> str:
    loc = ctx.locations[node.loc]
    if node.kind == "total":
        return f"total number of {ctx.category} in {loc}"
    return f"{ctx.items[node.item]} in {loc}"


def node_ref(node: Node, ctx: Context) -> str:
    """How a sentence refers to a node."""
    if node.kind == "total":
        return f"the total number of {ctx.category} in {ctx.locations[node.loc]}"
    return f"the number of {ctx.items[node.item]} in {ctx.locations[node.loc]}"


def _listing(refs: list[str]) -> str:
    if len(refs) == 2:
        return f"{refs[0]} and {refs[1]}"
    return ", ".join(refs[:-1]) + f", and {refs[-1]}"


def sentence(node: Node, nodes: list[Node], ctx: Context) -> str:
    """The problem sentence that defines an instance node."""
    subject = "The " + node_ref(node, ctx)[4:]
    if node.hidden:
        return f"{subject} exists, and its number is greater than 0."
    if node.form == "const":
        return f"{subject} equals {node.c}."
    refs = [node_ref(nodes[p], ctx) for p in node.parents]
    if node.form == "copy":
        inner = refs[0]
    elif node.form == "sum":
        inner = f"the sum of {_listing(refs)}"
    else:  # diff
        inner = f"the difference between {refs[0]} and {refs[1]}"
    if node.outer:
        return f"{subject} equals {node.c} {node.outer} {inner}."
    return f"{subject} equals {inner}."


def statement(node: Node, value: int, ctx: Context) -> str:
    """Reverse mode: the sentence stating the known node's value."""
    return f"The {node_ref(node, ctx)[4:]} equals {value}."


def question(node: Node, ctx: Context) -> str:
    if node.kind == "total":
        return f"What is the total number of {ctx.category} in {ctx.locations[node.loc]}?"
    return f"How many {ctx.items[node.item]} does {ctx.locations[node.loc]} have?"


def fmt_linear(a: int, b: int) -> str:
    """a*x + b the way the reference writes it: 'x', '3*x + 2', 'x - 3', '7 - x', '5'."""
    if a == 0:
        return str(b)
    xs = "x" if abs(a) == 1 else f"{abs(a)}*x"
    if a < 0:
        return f"{b} - {xs}" if b > 0 else f"-{xs}" + (f" - {-b}" if b < 0 else "")
    if b > 0:
        return f"{xs} + {b}"
    if b < 0:
        return f"{xs} - {-b}"
    return xs


class TraceWriter:
    """Writes one step per needed node, drawing fresh letters for intermediate results."""

    def __init__(self, nodes: list[Node], ctx: Context, letters: list[str], unknown: int | None,
                 lin: dict[int, tuple[int, int]] | None, modulus: int | None):
        self.nodes, self.ctx = nodes, ctx
        self.letters = iter(letters)
        self.unknown = unknown
        self.lin = lin
        self.modulus = modulus
        self.letter_of: dict[int, str] = {}

    # Values are shown as numbers, or as linear expressions in x in reverse mode.
    def _show(self, value: int, lin: tuple[int, int] | None) -> str:
        return fmt_linear(*lin) if lin is not None else str(value)

    def _add(self, x: tuple, y: tuple, sign: int = 1):
        value = x[0] + sign * y[0]
        if self.modulus is not None:
            value %= self.modulus
        lin = None if x[1] is None else (x[1][0] + sign * y[1][0], x[1][1] + sign * y[1][1])
        return value, lin

    def step(self, node: Node) -> str:
        letter = "x" if node.idx == self.unknown else next(self.letters)
        self.letter_of[node.idx] = letter
        name = node_name(node, self.ctx)
        if node.idx == self.unknown:
            return f"Define {name} as x; we don't know its value yet but will find it out later."
        reverse = self.lin is not None
        if node.form == "const":
            return f"Define {name} as {letter}; so {letter} = {node.c}."
        ops = [(self.letter_of[p], (self.nodes[p].value, self.lin[p] if reverse else None)) for p in node.parents]
        parts: list[str] = []
        final = None if node.outer else letter  # where the inner result is stored

        def store(expr_letters: str, expr_values: str, result: tuple, into: str | None) -> str:
            target = into if into is not None else next(self.letters)
            prefix = "so " if into == letter else ""
            parts.append(f"{prefix}{target} = {expr_letters} = {expr_values} = {self._show(*result)}")
            return target

        if node.form == "copy" or (node.form == "total" and len(ops) == 1):
            (p_letter, p_val), = ops
            target = final if final is not None else next(self.letters)
            prefix = "so " if target == letter else ""
            parts.append(f"{prefix}{target} = {p_letter} = {self._show(*p_val)}")
            cur = (target, p_val)
        elif node.form == "diff":
            (a_l, a_v), (b_l, b_v) = ops
            result = self._add(a_v, b_v, -1)
            shown = f"({self._show(*a_v)}) - ({self._show(*b_v)})" if reverse else \
                f"{self._show(*a_v)} - {self._show(*b_v)}"
            cur = (store(f"{a_l} - {b_l}", shown, result, final), result)
        else:  # sum or total of two or more: a chain of pairwise sums
            cur_l, cur_v = ops[0]
            for i, (o_l, o_v) in enumerate(ops[1:], start=2):
                result = self._add(cur_v, o_v)
                into = final if i == len(ops) else None
                cur_l = store(f"{cur_l} + {o_l}", f"{self._show(*cur_v)} + {self._show(*o_v)}", result, into)
                cur_v = result
            cur = (cur_l, cur_v)
        if node.outer:
            i_l, i_v = cur
            c = node.c
            if node.outer == "plus":
                result = self._add((c, (0, c) if reverse else None), i_v)
                parts.append(f"so {letter} = {c} + {i_l} = {c} + {self._show(*i_v)} = {self._show(*result)}")
            else:
                value = i_v[0] * c
                if self.modulus is not None:
                    value %= self.modulus
                lin = (i_v[1][0] * c, i_v[1][1] * c) if reverse else None
                shown = f"({c}) * ({self._show(*i_v)})" if reverse else f"{c} * {self._show(*i_v)}"
                parts.append(f"so {letter} = {c} * {i_l} = {shown} = {self._show(value, lin)}")
        return f"Define {name} as {letter}; " + "; ".join(parts) + "."


def equation(letter: str, lin: tuple[int, int], known: int, x_value: int) -> str:
    """The closing steps of a reverse trace, solving a*x + b = known."""
    a, b = lin
    rest = known - b
    return (
        f"We know {letter} = {known}, so we have {fmt_linear(a, b)} = {known} and we solve it through the "
        f"following steps: Simplifying the equation: {fmt_linear(a, b)} = {known}. "
        f"Move all terms to one side: {fmt_linear(a, -rest)} = 0. "
        f"Isolate the term with x: {a}*x = {rest}. Divide both sides by {a}: x = {rest} / {a}. "
        f"Solution: x = {x_value}."
    )
