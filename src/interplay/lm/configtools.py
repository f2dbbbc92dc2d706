"""Nested dataclass configs from YAML, with `--set section.field=value` overrides.

Every unknown key or wrongly typed value becomes a UserError that names the dotted field.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from interplay.errors import UserError

T = TypeVar("T")
CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def read_yaml(path: str | Path, field: str = "config") -> dict[str, Any]:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{field}: {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"{field}: cannot read {path} ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{field}: {path} must hold a mapping of fields")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b=value` strings (value parsed as YAML: numbers, booleans, null, lists)."""
    import yaml

    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set {item!r}: expected key=value")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string; a number is meant
            try:
                value = float(value) if any(c in value for c in ".eE") else int(value)
            except ValueError:
                pass
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None or isinstance(child, str):  # e.g. `model: tiny` then --set model.hidden_size=…
                child = {} if child is None else {"preset": child}
                node[part] = child
            if not isinstance(child, dict):
                raise UserError(f"--set {key}: {part} is not a section")
            node = child
        node[parts[-1]] = value
    return data


def _check(value: Any, hint: Any, field: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _check(value, option, field)
            except UserError as exc:
                errors.append(str(exc))
        raise UserError(errors[0] if errors else f"{field}: bad value {value!r}")
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise UserError(f"{field}: expected a mapping of fields, got {value!r}")
        return from_mapping(hint, value, field)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{field}: expected a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{field}: expected an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise UserError(f"{field}: expected true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise UserError(f"{field}: expected a string, got {value!r}")
        return str(value)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise UserError(f"{field}: expected a mapping, got {value!r}")
        return dict(value)
    if origin is list:
        if not isinstance(value, list):
            raise UserError(f"{field}: expected a list, got {value!r}")
        (item_hint,) = typing.get_args(hint)
        return [_check(v, item_hint, f"{field}[{i}]") for i, v in enumerate(value)]
    return value


def from_mapping(cls: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    """Build dataclass `cls` from `data`, checking names and types; nested dataclasses recurse."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            where = f"{prefix}.{key}" if prefix else key
            raise UserError(f"{where}: unknown field (known: {', '.join(sorted(names))})")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            where = f"{prefix}.{f.name}" if prefix else f.name
            kwargs[f.name] = _check(data[f.name], hints[f.name], where)
    return cls(**kwargs)


def to_dict(obj: Any) -> Any:
    return dataclasses.asdict(obj)
