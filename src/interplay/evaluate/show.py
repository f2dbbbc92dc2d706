"""Drawing a problem's dependency graph, gold beside predicted, with the verifier's findings marked.

Layout: an arc diagram — one node per line in trace (topological) order, each edge an arc on the
right from parent to child, longer edges further out. The predicted panel keeps the gold order for
nodes of the same name, so the two panels line up; extra predicted nodes follow at the bottom.

Marks in the predicted panel: green = right (same parents and value), orange = wrong value,
red = wrong parents (edges to parents gold does not have are red, gold parents left out are dotted
red), both = dark red, grey dashed = gold node never defined (missing), purple = extra node.
The queried node has a thick black border; in reverse mode the node whose value is stated is blue-edged.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

GREEN, ORANGE, RED, DARK_RED, GREY, PURPLE, WHITE = (
    "#b7e4b0", "#ffd08a", "#f4a3a3", "#d0453f", "#eeeeee", "#d7b8f3", "#ffffff",
)


def _target_and_known(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    graph = record.get("graph")
    if isinstance(graph, str):
        import json

        graph = json.loads(graph)
    if isinstance(graph, Mapping) and graph.get("target"):
        known = graph.get("known") or {}
        return " ".join(str(graph["target"]).split()), (" ".join(known["name"].split()) if known.get("name") else None)
    # Reference-format records: the target is the reverse-mode unknown, else the last node.
    from interplay.verify import parse_completion

    parsed = parse_completion(record.get("solution") or "", None)
    if not parsed.nodes:
        return None, None
    unknown = [n.name for n in parsed.nodes if n.unknown]
    if unknown:
        return unknown[0], parsed.nodes[-1].name
    return parsed.nodes[-1].name, None


def _label(name: str, value: Any, extra: str = "") -> str:
    text = f"{name} = {value if value is not None else '?'}"
    return text + (f"  {extra}" if extra else "")


def _draw(ax, nodes, row, styles, edges, title: str) -> None:
    """Arc diagram: one node per row (trace order), boxes right-aligned at x=0, edges as arcs to the right."""
    from matplotlib.patches import FancyArrowPatch

    for (src, dst), (color, line) in edges.items():
        if src not in row or dst not in row:
            continue
        # Arcs bulge to the right, as far as they are long: edges meet only at their nodes.
        sign = -1.0 if row[dst] > row[src] else 1.0
        ax.add_patch(
            FancyArrowPatch((0.02, -row[src]), (0.02, -row[dst]), arrowstyle="-|>", mutation_scale=9, color=color,
                            linestyle=line, lw=1.1, zorder=1, shrinkA=2, shrinkB=2,
                            connectionstyle=f"arc3,rad={0.6 * sign}")
        )
    for name, label in nodes:
        face, edge, width, style = styles[name]
        ax.text(0.0, -row[name], label, ha="right", va="center", fontsize=7, zorder=2,
                bbox={"boxstyle": "round,pad=0.3", "fc": face, "ec": edge, "lw": width, "ls": style})
    ax.set_xlim(-1.0, 1.0)
    ax.set_ylim(-(max(row.values(), default=0) + 0.8), 0.8)
    ax.set_title(title, fontsize=9, loc="left")
    ax.axis("off")


def draw_comparison(record: Mapping[str, Any], completion: str | None, path: str | Path) -> dict[str, Any]:
    """Draw gold (and, given a completion, predicted) graph to a PNG. Returns the verdict dict (or {})."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from interplay.verify import load_gold, parse_completion, verify

    gold = load_gold(record)
    target, known = _target_and_known(record)
    row = {n.name: i for i, n in enumerate(gold.nodes)}

    def border(name: str) -> tuple[str, float]:
        if name == target:
            return "black", 2.6
        if name == known:
            return "#2b6cb0", 2.0
        return "#555555", 0.8

    parsed = parse_completion(completion, gold.modulus) if completion is not None else None
    first: dict[str, Any] = {}
    for node in parsed.nodes if parsed else ():
        first.setdefault(node.name, node)
    extras = [name for name in first if name not in row]
    rows_shown = len(row) + len(extras)
    panels = 1 if completion is None else 2
    fig, axes = plt.subplots(1, panels, figsize=(7.5 * panels, 0.32 * rows_shown + 1.0), dpi=110, squeeze=False)
    styles = {n.name: (WHITE, *border(n.name), "solid") for n in gold.nodes}
    edges = {(p, n.name): ("#333333", "solid") for n in gold.nodes for p in n.parents}
    title = f"gold — problem {record.get('id', '?')}, op {record.get('op')}, answer {gold.answer}"
    _draw(axes[0][0], [(n.name, _label(n.name, n.value)) for n in gold.nodes], row, styles, edges, title)
    verdict: dict[str, Any] = {}
    if completion is not None:
        v = verify(gold, completion)
        verdict = v.to_dict()
        prow = dict(row)
        for i, name in enumerate(extras):
            prow[name] = len(row) + i
        pstyles: dict[str, tuple[str, str, float, str]] = {}
        labels = []
        pedges: dict[tuple[str, str], tuple[str, str]] = {}
        for g in gold.nodes:
            p = first.get(g.name)
            if p is None:
                pstyles[g.name] = (GREY, "#999999", 1.0, "dashed")
                labels.append((g.name, _label(g.name, g.value, "(missing)")))
                continue
            wrong_parents = p.parents != g.parents
            wrong_value = p.value != g.value
            face = DARK_RED if wrong_parents and wrong_value else RED if wrong_parents else ORANGE if wrong_value else GREEN
            pstyles[g.name] = (face, *border(g.name), "solid")
            note = f"(gold {g.value})" if wrong_value else ""
            labels.append((g.name, _label(g.name, p.value, note)))
            for parent in p.parents or ():
                pedges[(parent, g.name)] = ("#333333", "solid") if parent in g.parents else (DARK_RED, "solid")
            for parent in g.parents - (p.parents or frozenset()):
                pedges[(parent, g.name)] = (DARK_RED, "dotted")
        for name in extras:
            p = first[name]
            pstyles[name] = (PURPLE, "#555555", 0.8, "solid")
            labels.append((name, _label(name, p.value, "(extra)")))
            for parent in p.parents or ():
                pedges[(parent, name)] = ("#7b4bb3", "solid")
        status = "process-correct" if v.process_correct else ("right answer, wrong process" if v.outcome_correct else "wrong answer")
        _draw(axes[0][1], labels, prow, pstyles, pedges, f"predicted — answer {v.answer} ({status})")
        fig.text(0.5, 0.005, "green right · orange wrong value · red wrong parents · dark red both · grey dashed "
                 "missing · purple extra · dotted red arrow: a gold parent left out · thick border: queried node",
                 ha="center", va="bottom", fontsize=7, color="#444444")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return verdict
