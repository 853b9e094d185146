"""IFEval-style prompts (`google/IFEval`): verifiable formatting instructions.

Raw rows: `key`, `prompt`, `instruction_id_list`, `kwargs` (one dict per instruction; the Arrow
table pads every dict with every argument name as null). Output columns: `id` (the key), `prompt`,
`instruction_id_list`, `kwargs` (the nulls dropped, so each dict holds only its instruction's
arguments).
"""

from __future__ import annotations

from psm_eval.data.loaders import register_loader
from psm_eval.data.loaders._rows import field, passthrough
from psm_eval.errors import TaskError

__all__ = ["adapt"]

NAME = "ifeval"


@register_loader(NAME)
def adapt(rows: list[dict]) -> list[dict]:
    return [_row(row, i) for i, row in enumerate(rows)]


def _row(row: dict, i: int) -> dict:
    ids = field(row, i, "instruction_id_list", list, NAME)
    kwargs = row.get("kwargs") or [{} for _ in ids]
    if not isinstance(kwargs, list) or len(kwargs) != len(ids) or not all(isinstance(k, dict) for k in kwargs):
        raise TaskError(f"loader '{NAME}': row {i + 1}: field 'kwargs': expected one mapping per instruction "
                        f"({len(ids)})")
    return passthrough(row, {
        "id": str(field(row, i, "key", (int, str), NAME)),
        "prompt": field(row, i, "prompt", str, NAME),
        "instruction_id_list": [str(x) for x in ids],
        "kwargs": [{k: v for k, v in kw.items() if v is not None} for kw in kwargs],
    })
