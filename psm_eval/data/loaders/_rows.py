"""Shared helpers for the row adapters: typed field access with located errors, and stable ids."""

from __future__ import annotations

import hashlib
from typing import Any

from psm_eval.errors import TaskError

__all__ = ["field", "text_list", "content_id", "unique_ids", "user_turns", "passthrough"]


def field(row: dict, i: int, name: str, kind: type | tuple[type, ...], loader: str, required: bool = True) -> Any:
    """`row[name]`, checked to be of `kind`; a missing or mistyped value names loader, row and field."""
    value = row.get(name)
    if value is None:
        if required:
            raise TaskError(f"loader '{loader}': row {i + 1}: field '{name}': missing or empty")
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise TaskError(f"loader '{loader}': row {i + 1}: field '{name}': expected {expected}, "
                        f"got {type(value).__name__}")
    return value


def text_list(value: Any, i: int, name: str, loader: str) -> list[str]:
    """A string or a list of strings, as a list of strings."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise TaskError(f"loader '{loader}': row {i + 1}: field '{name}': expected a string or a non-empty list "
                    f"of strings, got {type(value).__name__}")


def content_id(prefix: str, *parts: str) -> str:
    """A stable id from the row's content (never its position)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]
    return f"{prefix}-{digest}"


def unique_ids(rows: list[dict]) -> list[dict]:
    """Number repeated content ids (`x`, `x-2`, `x-3` …): public sets hold some exact duplicates."""
    seen: dict[str, int] = {}
    for row in rows:
        base = row["id"]
        seen[base] = seen.get(base, 0) + 1
        if seen[base] > 1:
            row["id"] = f"{base}-{seen[base]}"
    return rows


def user_turns(turns: list[str]) -> list[dict[str, str]]:
    """User turns as a `dialogue` column for rollout tasks."""
    return [{"role": "user", "content": t} for t in turns]


def passthrough(row: dict, adapted: dict) -> dict:
    """The adapted columns, plus the raw columns they do not replace (usable as `fields.metadata`)."""
    return {**{k: v for k, v in row.items() if k not in adapted}, **adapted}
