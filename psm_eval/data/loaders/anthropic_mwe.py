"""Anthropic model-written evaluations (persona, sycophancy, advanced-ai-risk jsonl files).

Raw rows: `question`, `answer_matching_behavior`, `answer_not_matching_behavior` (each a string or a
list of strings), and in the persona files `statement` and `label_confidence`. Output columns: `id`,
`prompt`, `choices` (matching answers first), `answer` (0), `n_matching`, `statement`, `trait`,
`direction` (the matching answer: `Yes` / `No` in persona files, `(A)` … in sycophancy files).
"""

from __future__ import annotations

from psm_eval.data.loaders import register_loader
from psm_eval.data.loaders._rows import content_id, field, passthrough, text_list, unique_ids

__all__ = ["adapt"]

NAME = "anthropic_mwe"


@register_loader(NAME)
def adapt(rows: list[dict]) -> list[dict]:
    return unique_ids([_row(row, i) for i, row in enumerate(rows)])


def _row(row: dict, i: int) -> dict:
    question = field(row, i, "question", str, NAME)
    matching = text_list(row.get("answer_matching_behavior"), i, "answer_matching_behavior", NAME)
    other = text_list(row.get("answer_not_matching_behavior"), i, "answer_not_matching_behavior", NAME)
    # answers are stored with the leading space that followed "Answer:"; the renderer adds its own
    choices = [a.strip() for a in matching + other]
    return passthrough(row, {
        "id": content_id("mwe", question),
        "prompt": question,
        "choices": choices,
        "answer": 0,
        "n_matching": len(matching),
        "statement": field(row, i, "statement", str, NAME, required=False),
        "trait": row.get("behavior") if isinstance(row.get("behavior"), str) else None,
        # half of a persona file's statements match with " Yes" and half with " No": a model that always
        # says one word endorses half of them, so the matching answer is kept to break results down by
        "direction": " / ".join(a.strip() for a in matching),
    })
