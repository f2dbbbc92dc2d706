"""The dependency graph of one problem, sampled so that its op count is exact by construction.

Vocabulary of the reference generator (GSM-Infinite "realistic", as used by the paper):

* an *instance* node is "<item> in <location>"; its sentence defines it as a constant, a copy,
  "c plus/times" something, a sum of up to four nodes, or a difference of two;
* a *total* node "total number of <category> in <location>" is the sum of every instance node of
  its location (it has no sentence of its own);
* op = the number of dependency edges of the nodes the answer needs, a literal constant counting
  as one edge. A total over g instances costs g.

How the op count is hit without retries: nodes are created in topological order while a budget R
of edges is left and u nodes are still "pending" (created but not yet used by any later node).
At the end exactly one node may be pending, the target, and R must be 0 (or, for a total target
over g instances, exactly g pending instances that the total then sums). Reaching that goal from
any state costs at least `min_finish_cost(...)` edges (sums of up to 4 pending nodes, constants),
and any surplus can always be spent one edge at a time by copies, so an action is allowed exactly
when the state it leads to satisfies R' >= min_finish_cost(...). Sampling only allowed actions can
never dead-end.

Values are assigned afterwards, in topological order, choosing among the operators that fit the
structure (e.g. a node with two parents is a sum or a difference) those that keep every value in
range. The structure, and so the op count, never changes when values are re-drawn.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from interplay.world.rng import Rng

MAX_EDGES = 4  # the most edges one sentence carries in the reference: "3 plus the sum of A, B, and C"
MAX_OP = 50  # one letter per trace step at most; 50 letters are available (a-z, A-Z without x, X)

# (number of node parents, has a literal constant) -> sampling weight, shaped after how often each
# sentence form occurs in the reference generator's output.
EXPR_FORMS: dict[tuple[int, bool], float] = {
    (1, False): 2.0,  # copy:                "equals the A"
    (1, True): 2.5,  # c plus / c times A:   "equals 3 plus the A"
    (2, False): 1.6,  # sum or difference:   "equals the sum of A and B"
    (3, False): 0.8,  # sum of three
    (4, False): 0.4,  # sum of four
    (2, True): 1.0,  # c plus/times (A + B) or (A - B)
    (3, True): 0.4,  # c plus/times the sum of three
}
W_CONST = 2.5
W_TOTAL = 1.6
P_SHARE = 0.3  # chance that a parent slot reuses an already-used node (what makes it a DAG, not a tree)


def min_finish_cost(pending_inst: int, pending_tot: int, goal: int, instances_only: bool) -> int:
    """Fewest edges that turn the pending nodes into exactly `goal` pending nodes.

    Folding uses sums of up to MAX_EDGES pending nodes; with `instances_only` (the target will be
    a total over the goal nodes) every pending total must also be used by some later instance node.
    """
    pending = pending_inst + pending_tot
    if pending < goal:
        return (goal - pending) + (pending_tot if instances_only else 0)  # constants (and copies of totals)
    surplus = pending - goal
    fold = surplus + -(-surplus // (MAX_EDGES - 1))  # folds consume `fold` nodes, totals among them
    return max(fold, pending_tot) if instances_only else fold


class Node:
    """One node; `form` is const | copy | sum | diff | total, `outer` is '' | plus | times."""

    __slots__ = (
        "idx", "kind", "parents", "has_const", "needed", "loc", "item",
        "form", "outer", "c", "value", "hidden",
    )

    def __init__(self, idx: int, kind: str, parents: list[int], has_const: bool, needed: bool):
        self.idx = idx
        self.kind = kind  # "const" | "expr" | "total"
        self.parents = parents
        self.has_const = has_const
        self.needed = needed
        self.loc = -1
        self.item = -1  # -1 for totals
        self.form = ""
        self.outer = ""
        self.c = 0
        self.value = 0
        self.hidden = False  # reverse mode: stated only as "exists, and its number is greater than 0"

    @property
    def is_instance(self) -> bool:
        return self.kind != "total"

    @property
    def edges(self) -> int:
        if self.kind == "const":
            return 1
        return len(self.parents) + (1 if self.has_const else 0)


@dataclass
class GraphSpec:
    op: int
    n_locations: int
    n_items: int
    distractors: tuple[int, int]
    want_total_target: bool


def sample_structure(spec: GraphSpec, rng: Rng) -> tuple[list[Node], int]:
    """Needed nodes with exactly `spec.op` edges, ending in the target (returned index).

    For a total target over g instances, the nodes before it use op - g edges and must leave
    exactly g pending instance nodes, which the final total then sums.
    """
    nodes: list[Node] = []
    pending: list[int] = []  # created, not yet used by a later node
    used: list[int] = []  # created and already used
    ungrouped: set[int] = set()  # instance nodes not yet inside a total's location
    closed = 0  # locations whose total exists (no instance may join them any more)
    locations = spec.n_locations
    if spec.want_total_target and spec.op >= 2:
        goal = rng.randint(1, max(1, min(spec.n_items, MAX_EDGES, spec.op // 2)))
        instances_only = True
        locations -= 1  # the target's location is kept for it
    else:
        goal, instances_only = 1, False
    budget = spec.op - (goal if instances_only else 0)

    while budget > 0:
        pend_tot = sum(1 for i in pending if nodes[i].kind == "total")
        actions, weights = _actions(budget, len(pending) - pend_tot, pend_tot, len(used), len(ungrouped), closed,
                                    goal, instances_only, locations, spec.n_items)
        kind, k, m, has_const = actions[rng.weighted(weights)]
        idx = len(nodes)
        if kind == "const":
            node = Node(idx, "const", [], True, True)
        elif kind == "expr":
            ki, kt = divmod(k, 100)
            parents = (rng.sample([i for i in pending if nodes[i].kind != "total"], ki)
                       + rng.sample([i for i in pending if nodes[i].kind == "total"], kt)
                       + rng.sample(used, m - ki - kt))
            rng.shuffle(parents)
            node = Node(idx, "expr", parents, has_const, True)
        else:
            pend_i = [i for i in pending if i in ungrouped]
            used_i = [i for i in used if i in ungrouped]
            members = sorted(rng.sample(pend_i, k) + rng.sample(used_i, m - k))
            node = Node(idx, "total", members, False, True)
            ungrouped.difference_update(members)
            closed += 1
        for p in node.parents:
            if p in pending:
                pending.remove(p)
                used.append(p)
        nodes.append(node)
        pending.append(idx)
        if node.is_instance:
            ungrouped.add(idx)
        budget -= node.edges

    if instances_only:
        node = Node(len(nodes), "total", sorted(pending), False, True)
        nodes.append(node)
        pending = [node.idx]
    assert len(pending) == 1 and sum(n.edges for n in nodes) == spec.op, "op count missed"
    return nodes, pending[0]


@functools.lru_cache(maxsize=1 << 16)
def _actions(budget: int, pend_inst: int, pend_tot: int, n_used: int, n_ungrouped: int, closed: int, goal: int,
             instances_only: bool, locations: int, n_items: int):
    """Every allowed next step from a state, with its sampling weight (a pure function: cached).

    A step is (kind, k, m, has_const): a constant; an expression over m parents of which k are
    pending (k = 100 * pending instances + pending totals); or a total over m instance nodes of
    which k are pending."""

    def allowed(cost: int, inst_after: int, tot_after: int, grouped_now: int, closes: int) -> bool:
        left = budget - cost
        if left < min_finish_cost(inst_after, tot_after, goal, instances_only):
            return False
        if left == 0 and (inst_after + tot_after != goal or (instances_only and tot_after)):
            return False
        # Every instance node needs a (location, item) slot of its own in an open location;
        # `left` more edges can create at most `left` more instance nodes.
        free = (locations - closed - closes) * n_items
        return n_ungrouped - grouped_now + (0 if closes else 1) + left <= free

    actions, weights = [], []
    if allowed(1, pend_inst + 1, pend_tot, 0, 0):
        actions.append(("const", 0, 0, True))
        weights.append(W_CONST)
    for (m, has_const), w_form in EXPR_FORMS.items():
        cost = m + (1 if has_const else 0)
        for ki in range(0, min(m, pend_inst) + 1):
            for kt in range(0, min(m - ki, pend_tot) + 1):
                if m - ki - kt > n_used or not allowed(cost, pend_inst - ki + 1, pend_tot - kt, 0, 0):
                    continue
                k = ki + kt
                actions.append(("expr", ki * 100 + kt, m, has_const))
                weights.append(w_form * (P_SHARE ** (m - k)) * ((1 - P_SHARE) ** k) * math.comb(m, k))
    if closed < locations - 1 and n_ungrouped:
        used_inst = n_ungrouped - pend_inst
        for g in range(1, min(n_items, n_ungrouped) + 1):
            for k in range(max(0, g - used_inst), min(g, pend_inst) + 1):
                if allowed(g, pend_inst - k, pend_tot + 1, g, 1):
                    actions.append(("total", k, g, False))
                    weights.append(W_TOTAL * (P_SHARE ** (g - k)) * ((1 - P_SHARE) ** k) * math.comb(g, k))
    return tuple(actions), tuple(weights)


def place(nodes: list[Node], spec: GraphSpec, rng: Rng) -> tuple[list[list[int]], list[bool]]:
    """Give every needed instance a (location, item) slot; totals get a location each.

    Returns the slot table `occupant[loc][item] -> node idx or -1` as lists, and which locations
    are closed (their total is a node, or will be referenced by distractors).
    """
    occupant = [[-1] * spec.n_items for _ in range(spec.n_locations)]
    closed = [False] * spec.n_locations
    locs = list(range(spec.n_locations))
    rng.shuffle(locs)
    totals = [n for n in nodes if n.kind == "total"]
    grouped = set()
    for node, loc in zip(totals, locs):
        node.loc = loc
        closed[loc] = True
        for member, item in zip(node.parents, rng.sample(range(spec.n_items), len(node.parents))):
            nodes[member].loc = loc
            nodes[member].item = item
            occupant[loc][item] = member
            grouped.add(member)
    free = [(loc, item) for loc in range(spec.n_locations) if not closed[loc] for item in range(spec.n_items)]
    loose = [n for n in nodes if n.is_instance and n.idx not in grouped]
    for node, (loc, item) in zip(loose, rng.sample(free, len(loose))):
        node.loc, node.item = loc, item
        occupant[loc][item] = node.idx
    return occupant, closed


def add_distractors(nodes: list[Node], occupant, closed, spec: GraphSpec, rng: Rng) -> None:
    """Append nodes the answer does not need: instance sentences that only read needed nodes,
    earlier distractors, or totals of locations closed before them (so no cycle can form)."""
    n_loc, n_items = spec.n_locations, spec.n_items
    want = rng.randint(*spec.distractors)
    # Open locations holding needed instances may be closed now: their totals become readable.
    total_nodes: list[int] = [n.idx for n in nodes if n.kind == "total"]
    open_locs = [loc for loc in range(n_loc) if not closed[loc]]
    rng.shuffle(open_locs)
    free_in = {loc: sum(1 for o in occupant[loc] if o < 0) for loc in open_locs}
    capacity = sum(free_in.values())
    for loc in open_locs:
        has_needed = any(o >= 0 for o in occupant[loc])
        if has_needed and rng.random() < 0.5 and capacity - free_in[loc] >= want:
            closed[loc] = True
            capacity -= free_in[loc]
            members = [o for o in occupant[loc] if o >= 0]
            total = Node(len(nodes), "total", members, False, False)
            total.loc = loc
            nodes.append(total)
            total_nodes.append(total.idx)
    slots = [(loc, item) for loc in range(n_loc) if not closed[loc] for item in range(n_items) if occupant[loc][item] < 0]
    readable = [n.idx for n in nodes]
    for loc, item in rng.sample(slots, min(want, len(slots))):
        forms = [((0, True), W_CONST)] + [(f, w) for f, w in EXPR_FORMS.items() if f[0] <= len(readable)]
        (m, has_const), _ = forms[rng.weighted([w for _, w in forms])]
        if m == 0:
            node = Node(len(nodes), "const", [], True, False)
        else:
            node = Node(len(nodes), "expr", rng.sample(readable, m), has_const, False)
        node.loc, node.item = loc, item
        occupant[loc][item] = node.idx
        nodes.append(node)
        readable.append(node.idx)
