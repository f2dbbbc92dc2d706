"""Contexts: the surface vocabulary of a world, as data files.

A context is two layers of names: locations (zoos, cities, festivals) and item types (animals,
schools, genres). An instance node is "<item> in <location>"; an abstract node
"total number of <category> in <location>" sums the instance nodes of its location.

Adding a context is adding one YAML file to `interplay/world/contexts/` (or passing its path
wherever a context name is accepted). Files are validated on load with a clear error.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from interplay.errors import UserError

CONTEXT_DIR = Path(__file__).parent / "contexts"

# Characters that would make a trace or a problem sentence ambiguous to parse.
_FORBIDDEN = re.compile(r"[;=.,\n\r\t0-9?]| and ")


@dataclass(frozen=True)
class Context:
    name: str
    aliases: tuple[str, ...]
    description: str
    category: str  # plural noun used by totals: "total number of <category> in <location>"
    locations: tuple[str, ...]
    items: tuple[str, ...]

    @property
    def n_slots(self) -> int:
        return len(self.locations) * len(self.items)


def _check_names(source: str, field: str, values, minimum: int) -> tuple[str, ...]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise UserError(f"{source}: field '{field}' must be a list of strings")
    cleaned = tuple(v.strip() for v in values)
    if len(cleaned) < minimum:
        raise UserError(f"{source}: field '{field}' needs at least {minimum} entries, got {len(cleaned)}")
    for v in cleaned:
        if not v or _FORBIDDEN.search(v) or "  " in v:
            raise UserError(
                f"{source}: field '{field}' has an unusable name {v!r} "
                "(empty, double space, digits, the word 'and' or one of ; = . , ? are not allowed)"
            )
    if len(set(cleaned)) != len(cleaned):
        raise UserError(f"{source}: field '{field}' has duplicate names")
    return cleaned


def parse_context(data, source: str) -> Context:
    """Build a Context from the mapping in a context file, validating every field."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: a context file must be a YAML mapping")
    allowed = {"name", "aliases", "description", "category", "locations", "items"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise UserError(f"{source}: unknown field(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
    for field in ("name", "category"):
        if not isinstance(data.get(field), str) or not data[field].strip():
            raise UserError(f"{source}: field '{field}' must be a non-empty string")
    aliases = data.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise UserError(f"{source}: field 'aliases' must be a list of strings")
    category = _check_names(source, "category", [data["category"]], 1)[0]
    return Context(
        name=data["name"].strip(),
        aliases=tuple(a.strip() for a in aliases),
        description=str(data.get("description", data["name"])).strip(),
        category=category,
        # Two locations at least: a reverse problem or a distractor needs somewhere else to live.
        locations=_check_names(source, "locations", data.get("locations"), 2),
        items=_check_names(source, "items", data.get("items"), 1),
    )


def load_context_file(path: str | Path) -> Context:
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"cannot read context file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"context file {path} is not valid YAML: {exc}") from None
    return parse_context(data, str(path))


@functools.lru_cache(maxsize=None)
def builtin_contexts() -> dict[str, Context]:
    """Every context shipped with interplay, by canonical name."""
    found = {}
    for path in sorted(CONTEXT_DIR.glob("*.yaml")):
        ctx = load_context_file(path)
        found[ctx.name] = ctx
    return found


@functools.lru_cache(maxsize=None)
def get_context(name_or_path: str) -> Context:
    """Look up a context by name, alias (e.g. the reference's `crazy_zootopia`) or YAML path."""
    contexts = builtin_contexts()
    if name_or_path in contexts:
        return contexts[name_or_path]
    for ctx in contexts.values():
        if name_or_path in ctx.aliases:
            return ctx
    if name_or_path.endswith((".yaml", ".yml")):
        return load_context_file(name_or_path)
    known = ", ".join(sorted(contexts))
    raise UserError(f"unknown context {name_or_path!r} (known: {known}; or give a path to a context .yaml file)")
