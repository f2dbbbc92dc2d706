"""Read a solution trace (gold or model-written) into a predicted dependency graph.

The grammar is the reference generator's (see `/work/shared/compat/reference_samples.jsonl`):

    [The question is difficult, so we use equations to solve it.]
    Define <name> as <L>; [<M> = <expr> = ... ;]* so <L> = <expr> = ... = <result>.
    Define <name> as x; we don't know its value yet but will find it out later.      (reverse only)
    We know <L> = N, so we have ... Solution: x = N.                                   (reverse only)
    Answer: N.

For each `Define` step the node's parents are the earlier-defined nodes named in the *first*
expression of its defining chain (`so L = a + b = 3 + 4 = 7` -> parents of a and b), where an
intermediate letter (`C = q + O = 2 + 2 = 4; so t = 4 + C`) stands for the nodes it was computed
from. The node's value is the *last* expression of the chain. Letters are looked up in the
order they were bound, so a reused letter means whatever it was bound to last.

Deliberate differences from the reference parser (`utils/solution_dependency_graph.py`):
- Only the step's own sentence (up to its first period) is read, and only statements that are
  well-formed arithmetic (single letters, integers, + - * / and parentheses) contribute. English
  narration never yields dependencies, so "we" or "the" cannot smuggle in the letters w or h.
- No "last number in the text" fallback: a value that cannot be read is None (a value error).
- Reverse mode: a value is a linear expression in the unknown (the node defined with "we don't
  know its value yet") until `Solution: x = N` fixes the unknown; then it is evaluated exactly.
  Without a solution line such values stay unknown (None).

`parse_completion` never raises: whatever the input, a failed parse is reported in the result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# A name is anything without ; . = or newline (the world's context files forbid those in names).
_HEAD = re.compile(r"([^;.=\n]+?) as ([A-Za-z]);")
_SOLUTION = re.compile(r"Solution:\s*([A-Za-z])\s*=\s*(-?[0-9]+)")
_ANSWER_LINE = re.compile(r"Answer:\s*(-?[0-9]+)")
_ANSWER_TAG_BODY = re.compile(r"\s*([-+]?[0-9]+)\s*\.?\s*")
_BAD_NAME = re.compile(r"[;.=\n]")
# One assignment "[so ]L = e1 = ... = ek": group 1 = L, 2 = e1 (read for parents), 3 = ek (the value).
_SEG = r"[0-9A-Za-z+\-*/() ]*"
_STMT = re.compile(rf" *(?:so )?([A-Za-z]) *=({_SEG})(?:=({_SEG}))*")
_AFFINE = re.compile(r"(?:([0-9]{1,9})\*)?([A-Za-z])(?: ([-+]) ([0-9]{1,9}))?")
_WORD = re.compile(r"[A-Za-z]{2}")  # a word inside a chain means it is narration, not arithmetic
_LETTERS = re.compile(r"[A-Za-z]")
_TOKENS = re.compile(r"[0-9]+|[A-Za-z]|[-+*/()]")
_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

# Values beyond this are treated as unreadable rather than carried around as huge integers.
_MAX_DIGITS = 60
_MAX_TOKENS = 200  # no real step comes close; bounds the work spent on one garbage expression


def undefined_parent(letter: str) -> str:
    """The parent recorded for a letter used before any binding (it can never match a gold name)."""
    return f"<undefined {letter}>"


@dataclass(slots=True)
class Node:
    """One `Define` step as written: `parents` is None when no defining statement could be read."""

    name: str
    letter: str
    parents: frozenset[str] | None
    value: int | None
    unknown: bool = False  # the reverse-mode unknown ("we don't know its value yet")


@dataclass(slots=True)
class Parsed:
    """A trace read into nodes (in the order written), plus the final answer."""

    nodes: list[Node]
    answer: int | None
    issues: list[str] = field(default_factory=list)  # what could not be read, for humans

    @property
    def parse_ok(self) -> bool:
        return bool(self.nodes)

    def to_graph(self) -> dict:
        """The graph in the record contract's shape (parents sorted; unreadable parents as [])."""
        return {
            "nodes": [
                {"name": n.name, "value": n.value, "parents": sorted(n.parents or ())} for n in self.nodes
            ],
            "answer": self.answer,
        }


class _Lin:
    """a*u + b for one unknown u (a node index). Arithmetic mixing two unknowns gives None."""

    __slots__ = ("a", "b", "u")

    def __init__(self, a: int, b: int, u: int):
        self.a, self.b, self.u = a, b, u

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"{self.a}*u{self.u} + {self.b}"


def _norm(v):
    return v.b if type(v) is _Lin and v.a == 0 else v


def _add(x, y, sign: int):
    if x is None or y is None:
        return None
    tx, ty = type(x) is _Lin, type(y) is _Lin
    if not tx and not ty:
        return x + sign * y
    if tx and ty:
        if x.u != y.u:
            return None
        return _norm(_Lin(x.a + sign * y.a, x.b + sign * y.b, x.u))
    if tx:
        return _Lin(x.a, x.b + sign * y, x.u)
    return _norm(_Lin(sign * y.a, x + sign * y.b, y.u))


def _mul(x, y):
    if x is None or y is None:
        return None
    tx, ty = type(x) is _Lin, type(y) is _Lin
    if not tx and not ty:
        return x * y
    if tx and ty:
        return None  # not linear
    if tx:
        x, y = y, x
    return _norm(_Lin(x * y.a, x * y.b, y.u))


def _div(x, y):
    if x is None or y is None or type(y) is _Lin or y == 0:
        return None
    if type(x) is _Lin:
        if x.a % y or x.b % y:
            return None
        return _norm(_Lin(x.a // y, x.b // y, x.u))
    return x // y if x % y == 0 else None


class _Expr:
    """Recursive-descent evaluator over integer / letter tokens; unknown letters give None."""

    __slots__ = ("toks", "i", "env", "ok")

    def __init__(self, toks: list[str], env: dict):
        self.toks, self.i, self.env, self.ok = toks, 0, env, True

    def run(self):
        v = self.sum()
        if self.i != len(self.toks):
            self.ok = False
        return v

    def sum(self):
        v = self.product()
        toks = self.toks
        while self.i < len(toks) and toks[self.i] in "+-":
            sign = 1 if toks[self.i] == "+" else -1
            self.i += 1
            v = _add(v, self.product(), sign)
        return v

    def product(self):
        v = self.atom()
        toks = self.toks
        while self.i < len(toks) and toks[self.i] in "*/":
            op = toks[self.i]
            self.i += 1
            w = self.atom()
            v = _mul(v, w) if op == "*" else _div(v, w)
        return v

    def atom(self):
        toks = self.toks
        if self.i >= len(toks):
            self.ok = False
            return None
        t = toks[self.i]
        self.i += 1
        if t == "(":
            v = self.sum()
            if self.i < len(toks) and toks[self.i] == ")":
                self.i += 1
            else:
                self.ok = False
            return v
        if t == "-":
            return _mul(-1, self.atom())
        if t == "+":
            return self.atom()
        if t[0] in "0123456789":
            return int(t) if len(t) <= _MAX_DIGITS else None
        if t in _ASCII_LETTERS:
            entry = self.env.get(t)
            return None if entry is None else entry[1]
        self.ok = False  # a stray ")" or "*"
        return None


def _evaluate(expr: str, env: dict):
    """Value of an arithmetic expression, int or _Lin; None if unreadable or not computable."""
    s = expr.strip()
    if s.isdigit() and s.isascii():  # the common forward-mode case: a plain number
        return int(s) if len(s) <= _MAX_DIGITS else None
    toks = _TOKENS.findall(s)
    if len(toks) > _MAX_TOKENS:
        return None
    ev = _Expr(toks, env)
    try:
        v = ev.run()
    except RecursionError:  # absurdly nested parentheses: unreadable, like any other garbage
        return None
    return v if ev.ok else None


def extract_answer(text: str) -> tuple[int | None, int]:
    """(answer, where the trace ends). `<answer>` tags first, then the first `Answer: N`."""
    tag = text.find("<answer>")
    if tag >= 0:
        start = tag + len("<answer>")
        close = text.find("</answer>", start)
        if close >= 0:
            body = text[start:close]
        else:
            # Unclosed tag: only a completion cut right after the number counts. Reading "up to the
            # next tag" let an RL policy write `<answer> 3` and babble on to the length cap for reward.
            body = text[start:]
        m = _ANSWER_TAG_BODY.fullmatch(body)
        return (int(m.group(1)) if m and len(m.group(1)) <= _MAX_DIGITS else None), tag
    m = _ANSWER_LINE.search(text)
    if m and len(m.group(1)) <= _MAX_DIGITS:
        return int(m.group(1)), len(text)
    return None, len(text)


def parse_completion(text: str, modulus: int | None = None) -> Parsed:
    """Parse a completion (trace, optionally `</solution> <answer> n </answer>`) or a bare trace.

    With a modulus (modular-arithmetic worlds) every value read is reduced modulo it, so
    `so a = b + c` means (b + c) mod p, as the generator's traces do.

    Never raises: non-string input, garbage, or an internal failure all give a Parsed with
    no nodes (parse_ok False) and a note in `issues`.
    """
    try:
        if not isinstance(text, str):
            return Parsed([], None, [f"not a string: {type(text).__name__}"])
        if modulus is not None and (type(modulus) is not int or modulus < 2):
            return Parsed([], None, [f"unusable modulus {modulus!r}"])
        return _parse(text, modulus)
    except Exception as exc:  # the contract is "never raises"; a failure is a verdict
        return Parsed([], None, [f"parser failure: {type(exc).__name__}"])


def _parse(text: str, modulus: int | None) -> Parsed:
    answer, tag_at = extract_answer(text)
    end = text.find("</solution>")
    if end < 0 or end > tag_at:
        end = tag_at
    trace = text[:end]

    issues: list[str] = []
    nodes: list[Node] = []
    raw_values: list[object] = []
    # letter -> (parent-name set it stands for, value); Define'd letters stand for their own node.
    env: dict[str, tuple[frozenset[str], object]] = {}
    unknown_of_letter: dict[str, int] = {}  # letter -> index of the unknown node it names
    solved: dict[int, int] = {}
    empty: frozenset[str] = frozenset()

    for chunk in trace.split("Define ")[1:]:
        # Head "<name> as <L>;": str.find first (the common case), the regex when that fails.
        i = chunk.find(" as ")
        if (
            i > 0
            and chunk[i + 5 : i + 6] == ";"
            and chunk[i + 4] in _ASCII_LETTERS
            and not _BAD_NAME.search(chunk, 0, i)
        ):
            name, letter, rest = chunk[:i], chunk[i + 4], chunk[i + 6 :]
        else:
            m = _HEAD.match(chunk)
            if m is None:
                issues.append("unreadable Define step")
                continue
            name, letter, rest = m.group(1), m.group(2), chunk[m.end() :]
        if "  " in name or name[0] == " " or name[-1] == " " or "\t" in name:
            name = " ".join(name.split())
        dot = rest.find(".")
        body = rest if dot < 0 else rest[:dot]
        parents: frozenset[str] | None = None
        value: object = None
        is_unknown = False
        for stmt in body.split(";"):
            m = _STMT.fullmatch(stmt)
            if m is None or _WORD.search(stmt, m.end(1)):
                if "don't know" in stmt or "do not know" in stmt:
                    is_unknown = True
                elif stmt and not stmt.isspace():
                    issues.append(f"{name}: unreadable statement")
                continue
            lhs, first, last = m.group(1, 2, 3)
            letters = _LETTERS.findall(first)
            if len(letters) == 1:
                entry = env.get(letters[0])
                deps = entry[0] if entry is not None else frozenset((undefined_parent(letters[0]),))
            elif not letters:
                deps = empty
            else:
                acc: set[str] = set()
                for ch in letters:
                    entry = env.get(ch)
                    if entry is None:
                        acc.add(undefined_parent(ch))
                    else:
                        acc.update(entry[0])
                deps = frozenset(acc)
            last = (first if last is None else last).strip()
            if last.isdigit() and last.isascii() and len(last) <= _MAX_DIGITS:
                stmt_value: object = int(last)
            elif (am := _AFFINE.fullmatch(last)) is not None:  # "x", "3*x + 2", "t - 4": common in reverse
                a_s, ch, sign, b_s = am.groups()
                entry = env.get(ch)
                v = None if entry is None else entry[1]
                if v is not None and a_s is not None:
                    v = _mul(int(a_s), v)
                if v is not None and b_s is not None:
                    v = _add(v, int(b_s), 1 if sign == "+" else -1)
                stmt_value = v
            else:
                stmt_value = _evaluate(last, env)
            if modulus is not None and type(stmt_value) is int:
                stmt_value %= modulus
            if lhs == letter:  # the node's own defining chain (the last one wins)
                parents, value, is_unknown = deps, stmt_value, False
            # Every assignment binds its letter from here on (intermediates included).
            env[lhs] = (deps, stmt_value)
            if unknown_of_letter:
                unknown_of_letter.pop(lhs, None)
        idx = len(nodes)
        if is_unknown:
            parents, value = empty, _Lin(1, 0, idx)
            unknown_of_letter[letter] = idx
        elif unknown_of_letter:
            unknown_of_letter.pop(letter, None)
        env[letter] = (frozenset((name,)), value)
        nodes.append(Node(name, letter, parents, None, is_unknown))
        raw_values.append(value)
        if dot >= 0 and "Solution:" in rest:
            for sm in _SOLUTION.finditer(rest, dot):
                u = unknown_of_letter.get(sm.group(1))
                if u is not None and len(sm.group(2)) <= _MAX_DIGITS:
                    solved[u] = int(sm.group(2))

    for node, v in zip(nodes, raw_values):
        if type(v) is _Lin:
            sv = solved.get(v.u)
            v = None if sv is None else v.a * sv + v.b
        node.value = v
    if not nodes and trace.strip():
        issues.append("no Define step found")
    if modulus is not None and answer is not None:
        answer %= modulus
    return Parsed(nodes, answer, issues)
