"""just-eval-instruct (`re-align/just-eval-instruct`, the URIAL paper's evaluation set).

Raw rows: `id`, `instruction`, `source_id`, `dataset`, `category` [, `output`, `generator`,
`datasplit`, tags …]. Output columns: `id`, `prompt` (the instruction), `dataset`, `source_id`,
`category`, `model_output` (the stored `output`, or null); other raw columns pass through.

The stored `output` is one model's reply (the model the `generator` column names), not a gold answer,
so it is not offered as a reference.
"""

from __future__ import annotations

from psm_eval.data.loaders import register_loader
from psm_eval.data.loaders._rows import field, passthrough

__all__ = ["adapt"]

NAME = "just_eval"


@register_loader(NAME)
def adapt(rows: list[dict]) -> list[dict]:
    return [_row(row, i) for i, row in enumerate(rows)]


def _row(row: dict, i: int) -> dict:
    return passthrough(row, {
        "id": str(field(row, i, "id", (int, str), NAME)),
        "prompt": field(row, i, "instruction", str, NAME),
        "dataset": field(row, i, "dataset", str, NAME, required=False),
        "source_id": _text_or_none(row.get("source_id")),
        "category": row.get("category"),
        "model_output": field(row, i, "output", str, NAME, required=False),
    })


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)
