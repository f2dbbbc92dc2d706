"""A report as a list of blocks, written both as Markdown and as a self-contained HTML page."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence


@dataclass
class Document:
    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)
    # (claim, measured, criterion, holds) rows of the paper's findings checked on this run, also kept as
    # data so a summary over seeds can count them (interplay.studies.seeds)
    findings: list[tuple[str, Any, str, bool | None]] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("heading", (level, text)))

    def text(self, text: str) -> None:
        self.blocks.append(("text", text))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.blocks.append(("table", (list(header), [[_cell(v) for v in r] for r in rows])))

    def image(self, path: str, caption: str) -> None:
        self.blocks.append(("image", (path, caption)))

    def code(self, text: str) -> None:
        self.blocks.append(("code", text))

    def markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for kind, value in self.blocks:
            if kind == "heading":
                out += ["#" * value[0] + " " + value[1], ""]
            elif kind == "text":
                out += [value, ""]
            elif kind == "table":
                header, rows = value
                out.append("| " + " | ".join(header) + " |")
                out.append("|" + "---|" * len(header))
                # a bare | inside a cell would end it
                out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
                out.append("")
            elif kind == "image":
                out += [f"![{value[1]}]({value[0]})", ""]
            elif kind == "code":
                out += ["```", value.rstrip("\n"), "```", ""]
        return "\n".join(out)

    def html(self) -> str:
        esc = html.escape
        out = [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>{esc(self.title)}</title><style>body{{font-family:sans-serif;max-width:70em;margin:2em auto}}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}"
            "th{background:#eee}pre{background:#f6f6f6;padding:.5em;overflow-x:auto}img{max-width:100%}</style></head><body>",
            f"<h1>{esc(self.title)}</h1>",
        ]
        for kind, value in self.blocks:
            if kind == "heading":
                out.append(f"<h{value[0]}>{esc(value[1])}</h{value[0]}>")
            elif kind == "text":
                out.append(f"<p>{esc(value)}</p>")
            elif kind == "table":
                header, rows = value
                out.append("<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>")
                out += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows]
                out.append("</table>")
            elif kind == "image":
                out.append(f"<figure><img src='{esc(value[0])}' alt='{esc(value[1])}'><figcaption>{esc(value[1])}"
                           "</figcaption></figure>")
            elif kind == "code":
                out.append(f"<pre>{esc(value)}</pre>")
        out.append("</body></html>")
        return "\n".join(out)

    def write(self, folder: Path, stem: str = "report") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for suffix, text in ((".md", self.markdown()), (".html", self.html())):
            path = folder / (stem + suffix)
            tmp = path.with_suffix(suffix + ".tmp")
            tmp.write_text(text)
            os.replace(tmp, path)


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        return f"{value:.3f}"
    return str(value)
