"""Row adapters for public datasets: each maps a dataset's raw rows to psm_eval task columns.

A task names one with `data.loader: NAME`; its `fields` then refer to the adapter's output columns.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from psm_eval.errors import TaskError

__all__ = ["LOADERS", "adapt_rows", "register_loader"]

RowAdapter = Callable[[list[dict]], list[dict]]
LOADERS: dict[str, RowAdapter] = {}


def register_loader(name: str) -> Callable[[RowAdapter], RowAdapter]:
    def add(fn: RowAdapter) -> RowAdapter:
        LOADERS[name] = fn
        return fn

    return add


def adapt_rows(name: str, rows: list[dict], where: str) -> list[dict]:
    """Apply the named adapter; unknown names get a "did you mean"."""
    if name not in LOADERS:
        close = difflib.get_close_matches(name, list(LOADERS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(sorted(LOADERS)) or 'none'}"
        raise TaskError(f"{where}: unknown loader '{name}'{hint}")
    try:
        return LOADERS[name](rows)
    except TaskError as exc:  # adapters name loader, row and field; add the file
        raise TaskError(f"{where}: {exc}") from None

# The shipped adapters register themselves on import (kept last: they import register_loader).
from psm_eval.data.loaders import anthropic_mwe, ifeval, just_eval, mt_bench, truthfulqa  # noqa: E402,F401
