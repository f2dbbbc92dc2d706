"""One problem from (op, context, mode, seed, index): structure, values, text, gold graph, id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields

from interplay.errors import UserError
from interplay.world.arithmetic import Arithmetic, assign_values, gradients, linear_forms
from interplay.world.contexts import Context, get_context
from interplay.world.graph import MAX_OP, GraphSpec, Node, add_distractors, place, sample_structure
from interplay.world.render import LETTERS, TraceWriter, equation, node_name, question, sentence, statement
from interplay.world.rng import Rng

MODES = ("forward", "reverse")
MODE_ALIASES = {"normalforward": "forward", "forwardreverse": "reverse"}
VALUE_ATTEMPTS = 64  # re-draws of the values (never of the structure) before the safe fallback


@dataclass(frozen=True)
class WorldOptions:
    """Generator settings that are not part of a problem's identity (op, context, mode, seed, index).

    distractors: [min, max] instance sentences the answer does not need (capped by free slots).
    letters: "random" (the reference: any letter per step) or "ordered" (a, b, c, ... in trace
        order; easier for small models, whose greedy traces otherwise reuse one letter).
    modulus: None for ordinary integers, or a prime such as 23 (forward mode only).
    max_value: the largest value any node may take (the reference keeps values <= 1000).
    total_target: chance that the graph is built to end in a total (about 85% of problems then ask
        for a total, as in the reference).
    hidden_distractors: reverse mode only, chance that a constant distractor is stated only as
        "exists, and its number is greater than 0" like the unknown (the reference does this).
    """

    distractors: tuple[int, int] = (0, 12)
    letters: str = "random"
    modulus: int | None = None
    max_value: int = 1000
    total_target: float = 0.75
    hidden_distractors: float = 0.2

    def validate(self, where: str = "world") -> "WorldOptions":
        d = self.distractors
        if not (isinstance(d, (list, tuple)) and len(d) == 2 and all(isinstance(v, int) for v in d)):
            raise UserError(f"{where}.distractors must be [min, max] integers, got {d!r}")
        if d[0] < 0 or d[1] < d[0]:
            raise UserError(f"{where}.distractors must satisfy 0 <= min <= max, got {list(d)}")
        if self.letters not in ("random", "ordered"):
            raise UserError(f"{where}.letters must be 'random' or 'ordered', got {self.letters!r}")
        if self.modulus is not None and (not isinstance(self.modulus, int) or self.modulus < 5):
            raise UserError(f"{where}.modulus must be null or an integer >= 5, got {self.modulus!r}")
        if not isinstance(self.max_value, int) or self.max_value < 100:
            raise UserError(f"{where}.max_value must be an integer >= 100, got {self.max_value!r}")
        for name in ("total_target", "hidden_distractors"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise UserError(f"{where}.{name} must be a probability in [0, 1], got {v!r}")
        return self

    @classmethod
    def from_dict(cls, data: dict | None, where: str = "world") -> "WorldOptions":
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"{where}: unknown field(s) {', '.join(unknown)} (allowed: {', '.join(sorted(known))})")
        if "distractors" in data:
            d = data["distractors"]
            data["distractors"] = tuple(d) if isinstance(d, (list, tuple)) else d
        return cls(**data).validate(where)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["distractors"] = list(self.distractors)
        return out


def normalize_mode(mode: str) -> str:
    mode = MODE_ALIASES.get(mode, mode)
    if mode not in MODES:
        raise UserError(f"unknown mode {mode!r} (use forward or reverse)")
    return mode


def check_request(op: int, ctx: Context, mode: str, options: WorldOptions) -> None:
    if not isinstance(op, int) or isinstance(op, bool):
        raise UserError(f"op must be an integer, got {op!r}")
    upper = min(MAX_OP, ctx.n_slots - 1)
    if not 2 <= op <= upper:
        raise UserError(f"op {op} is out of range: the generator reaches op 2..{upper} for context {ctx.name!r}")
    if mode == "reverse" and options.modulus is not None:
        raise UserError("modular arithmetic is available in forward mode only (a modular equation has no unique solution)")


def generate(op: int, context: str | Context = "zoo", mode: str = "forward", seed: int = 0, index: int = 0,
             options: WorldOptions | None = None) -> dict:
    """The problem record for (op, context, mode, seed, index): the same inputs give the same bytes."""
    ctx = context if isinstance(context, Context) else get_context(context)
    mode = normalize_mode(mode)
    options = options or WorldOptions()
    check_request(op, ctx, mode, options)
    key = ("interplay-world-v1", seed, index, op, ctx.name, mode)
    arith = Arithmetic(options.max_value, options.modulus)
    rng = Rng(*key, "structure")
    spec = GraphSpec(op, len(ctx.locations), len(ctx.items), options.distractors,
                     want_total_target=rng.random() < options.total_target)
    nodes, target = sample_structure(spec, rng)
    occupant, closed = place(nodes, spec, rng)
    add_distractors(nodes, occupant, closed, spec, rng)
    shapes = [(n.kind, list(n.parents), n.has_const) for n in nodes]

    unknown = None
    for attempt in range(VALUE_ATTEMPTS + 1):
        if attempt:
            for n, (kind, parents, has_const) in zip(nodes, shapes):
                n.kind, n.parents, n.has_const = kind, list(parents), has_const
        vrng = Rng(*key, "values", attempt)
        if attempt == VALUE_ATTEMPTS:
            _smallest_values(nodes, differences=mode == "forward")
            if options.modulus is None and max(n.value for n in nodes) > options.max_value:
                raise RuntimeError(f"no in-range values for op={op} context={ctx.name} mode={mode} "
                                   f"seed={seed} index={index}")  # never hand out a rule-breaking problem
        elif not assign_values(nodes, vrng, arith):
            continue
        if mode == "forward":
            break
        # x must have a positive coefficient, and the equation a*x + b = known a constant b >= 0:
        # the reference only ever writes "a*x + b = known" (never "x - 3 = 5").
        # The target is linear in each leaf: with that leaf as x, b = value(target) - a * value(leaf).
        grad = gradients(nodes, target)
        known_value = nodes[target].value
        leaves = [n.idx for n in nodes[: target + 1] if n.kind == "const" and grad.get(n.idx, 0) >= 1
                  and known_value - grad[n.idx] * n.value >= 0]
        if leaves:
            unknown = vrng.choice(leaves)
            break
    else:  # unreachable: the smallest values give every constant a positive coefficient
        raise RuntimeError(f"no valid values for op={op} context={ctx.name} mode={mode} seed={seed} index={index}")
    return _render(nodes, target, unknown, ctx, mode, op, options, Rng(*key, "text"))


def _smallest_values(nodes: list[Node], differences: bool) -> None:
    """Last resort after VALUE_ATTEMPTS draws: every constant 1 and every operator the smallest.

    Without differences (reverse mode) every leaf has a positive coefficient in the known node,
    so any constant can be the unknown. Values stay far below the cap at every op the tests
    cover (2-30): sums alone grow at most like Fibonacci numbers, about 1.27x per edge."""
    for node in nodes:
        if node.kind == "const":
            node.form, node.outer, node.c, node.value = "const", "", 1, 1
            continue
        vals = [nodes[p].value for p in node.parents]
        if node.kind == "total":
            node.form, node.value = "total", sum(vals)
            continue
        if differences and len(vals) == 2 and vals[0] != vals[1]:
            node.form = "diff"
            if vals[0] < vals[1]:
                node.parents = node.parents[::-1]
            inner = abs(vals[0] - vals[1])
        else:
            node.form = "copy" if len(vals) == 1 else "sum"
            inner = sum(vals)
        node.outer, node.c, node.value = ("plus", 1, inner + 1) if node.has_const else ("", 0, inner)


def _render(nodes: list[Node], target: int, unknown: int | None, ctx: Context, mode: str, op: int,
            options: WorldOptions, rng: Rng) -> dict:
    reverse = mode == "reverse"
    if reverse:
        nodes[unknown].hidden = True
        for n in nodes[target + 1:]:
            if n.kind == "const" and rng.random() < options.hidden_distractors:
                n.hidden = True

    # Trace order: depth-first from the target, parents in the order the sentence names them.
    order: list[int] = []
    seen: set[int] = set()
    stack = [(target, False)]
    while stack:
        idx, expanded = stack.pop()
        if expanded:
            order.append(idx)
            continue
        if idx in seen:
            continue
        seen.add(idx)
        stack.append((idx, True))
        for p in reversed(nodes[idx].parents):
            if p not in seen:
                stack.append((p, False))

    letters = list(LETTERS) if options.letters == "ordered" else rng.sample(LETTERS, len(LETTERS))
    lin = linear_forms(nodes, unknown, target) if reverse else None
    writer = TraceWriter(nodes, ctx, letters, unknown, lin, options.modulus)
    steps = [writer.step(nodes[i]) for i in order]
    known = nodes[target]
    if reverse:
        x_value = nodes[unknown].value
        steps.insert(0, "The question is difficult, so we use equations to solve it.")
        steps.append(equation(writer.letter_of[target], lin[target], known.value, x_value))
        answer, asked = x_value, nodes[unknown]
    else:
        answer, asked = known.value, known
    steps.append(f"Answer: {answer}.")

    sentences = [sentence(n, nodes, ctx) for n in nodes if n.kind != "total"]
    if reverse:
        sentences.append(statement(known, known.value, ctx))
    rng.shuffle(sentences)
    if options.modulus is not None:
        sentences.insert(0, f"All numbers are computed modulo {options.modulus}.")

    names = {n.idx: node_name(n, ctx) for n in nodes}
    graph = {
        "nodes": [
            {"name": names[i], "value": nodes[i].value, "parents": _unique([names[p] for p in nodes[i].parents])}
            for i in order
        ],
        "target": names[asked.idx],
    }
    if reverse:
        graph["known"] = {"name": names[target], "value": known.value}
    return {
        "id": canonical_id(nodes, names, target, unknown, ctx, mode, options.modulus),
        "op": op,
        "context": ctx.name,
        "mode": mode,
        "problem": " ".join(sentences),
        "question": question(asked, ctx),
        "solution": " ".join(steps),
        "answer": answer,
        "graph": graph,
        "modulus": options.modulus,
    }


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def canonical_id(nodes: list[Node], names: dict[int, str], target: int, unknown: int | None, ctx: Context,
                 mode: str, modulus: int | None) -> str:
    """A hash of the world itself: every node's definition and value, the question, the mode.
    Sentence order and trace letters are not part of it; sums are order-free."""
    defs = []
    for n in nodes:
        parents = [names[p] for p in n.parents]
        if n.form in ("sum", "total"):
            parents.sort()
        defs.append([names[n.idx], n.form, n.outer, n.c, parents, n.value, n.hidden])
    defs.sort()
    payload = [ctx.name, mode, modulus, names[target], names[unknown] if unknown is not None else None, defs]
    blob = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.blake2b(blob, digest_size=8).hexdigest()
