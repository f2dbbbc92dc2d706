"""PNG plots of an evaluation: pass@k curves per op range, and per-op bars of pass@1 and pass@k_max."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from interplay.evaluate.report import pass_lookup


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window (and no display needed)
    import matplotlib.pyplot as plt

    return plt


def plot_pass_at_k_curves(table: Sequence[Mapping[str, Any]], ks: Sequence[int], path: Path, title: str = "") -> None:
    """One line per op range (and overall): outcome pass@k solid, process pass@k dashed, k on a log axis."""
    plt = _pyplot()
    look = pass_lookup(table)
    groups = [("overall", "all")] + sorted({(g, k) for (g, k, _, _) in look if g == "op_range"})
    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=120)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (group, key) in enumerate(groups):
        color = "black" if group == "overall" else colors[i % len(colors)]
        label = "overall" if group == "overall" else key
        for metric, style in (("outcome", "-"), ("process", "--")):
            ys = [look.get((group, key, metric, k)) for k in ks]
            if any(y is None for y in ys):
                continue
            ax.plot(ks, ys, style, color=color, marker="o", ms=3,
                    label=f"{label} ({metric})")
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(ks), [str(k) for k in ks])
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("k")
    ax.set_ylabel("pass@k")
    ax.set_title(title or "pass@k by op range (solid: outcome, dashed: process)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_pass_by_op(table: Sequence[Mapping[str, Any]], ks: Sequence[int], path: Path, title: str = "") -> None:
    """Per op: bars of pass@1 and pass@k_max, outcome (top panel) and process (bottom panel)."""
    plt = _pyplot()
    look = pass_lookup(table)
    ops = sorted({int(k) for (g, k, _, _) in look if g == "op"})
    k1, kmax = min(ks), max(ks)
    fig, axes = plt.subplots(2, 1, figsize=(max(6.0, 0.45 * len(ops) + 2), 5.5), dpi=120, sharex=True)
    width = 0.4
    for ax, metric in zip(axes, ("outcome", "process"), strict=True):
        xs = list(range(len(ops)))
        low = [look.get(("op", str(op), metric, k1), 0.0) for op in ops]
        high = [look.get(("op", str(op), metric, kmax), 0.0) for op in ops]
        ax.bar([x - width / 2 for x in xs], low, width, label=f"pass@{k1}")
        ax.bar([x + width / 2 for x in xs], high, width, label=f"pass@{kmax}")
        ax.set_ylim(0, 1.02)
        ax.set_ylabel(f"{metric}")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    axes[-1].set_xticks(list(range(len(ops))), [str(op) for op in ops])
    axes[-1].set_xlabel("op")
    axes[0].set_title(title or f"pass@{k1} and pass@{kmax} per op")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
