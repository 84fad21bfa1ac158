"""Write a settings document as TOML (the reading side is the standard library's ``tomllib``).

Only what desk settings hold: tables, arrays of tables, strings, numbers,
booleans and lists of those. Pure.
"""

from __future__ import annotations

import json
import re

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE.match(key) else json.dumps(key, ensure_ascii=False)


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a valid TOML basic string (the same escapes).
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _is_tables(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _table(lines: list[str], path: list[str], doc: dict, header: str | None) -> None:
    if header:
        if lines:
            lines.append("")
        lines.append(header)
    for key, value in doc.items():
        if not isinstance(value, dict) and not _is_tables(value):
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in doc.items():
        dotted = ".".join(_key(p) for p in path + [key])
        if isinstance(value, dict):
            _table(lines, path + [key], value, f"[{dotted}]")
        elif _is_tables(value):
            for item in value:
                _table(lines, path + [key], item, f"[[{dotted}]]")


def dumps(doc: dict) -> str:
    lines: list[str] = []
    _table(lines, [], doc, None)
    return "\n".join(lines) + "\n"
