"""MT-Bench questions (FastChat `question.jsonl` or the `HuggingFaceH4/mt_bench_prompts` layout),
optionally with FastChat reference answers (`reference_answer/gpt-4.jsonl`) in the same file.

Question rows: `question_id`, `category`, `turns` [, `reference`] (FastChat) or `prompt_id`,
`category`, `prompt`, `reference` (H4). Reference-answer rows: `question_id`, `model_id`,
`choices: [{index, turns}]`; they are merged into their question by `question_id` and win over an
inline `reference`. Output columns: `id`, `category`, `prompt` (first turn), `dialogue` (all user
turns), `reference` (first turn's reference or null), `reference_turns` (list or null).
"""

from __future__ import annotations

from psm_eval.data.loaders import register_loader
from psm_eval.data.loaders._rows import field, passthrough, text_list, user_turns
from psm_eval.errors import TaskError

__all__ = ["adapt"]

NAME = "mt_bench"


@register_loader(NAME)
def adapt(rows: list[dict]) -> list[dict]:
    questions: list[tuple[int, dict]] = []
    answers: dict[str, list[str]] = {}
    for i, row in enumerate(rows):
        if row.get("turns") is not None or row.get("prompt") is not None:
            questions.append((i, row))
        elif row.get("choices") is not None:
            qid = str(field(row, i, "question_id", (int, str), NAME))
            answers[qid] = _answer_turns(row, i)
        else:
            raise TaskError(f"loader '{NAME}': row {i + 1}: neither a question (turns/prompt) nor a reference "
                            "answer (choices)")
    out = [_question(row, i, answers) for i, row in questions]
    unmatched = sorted(set(answers) - {r["id"] for r in out})
    if unmatched:
        raise TaskError(f"loader '{NAME}': reference answers for unknown question ids: {', '.join(unmatched[:5])}")
    return out


def _answer_turns(row: dict, i: int) -> list[str]:
    choices = field(row, i, "choices", list, NAME)
    if not choices or not isinstance(choices[0], dict):
        raise TaskError(f"loader '{NAME}': row {i + 1}: field 'choices': expected a list of {{index, turns}}")
    return text_list(choices[0].get("turns"), i, "choices[0].turns", NAME)


def _question(row: dict, i: int, answers: dict[str, list[str]]) -> dict:
    key = "turns" if row.get("turns") is not None else "prompt"
    turns = text_list(row.get(key), i, key, NAME)
    id_key = "question_id" if row.get("question_id") is not None else "prompt_id"
    qid = str(field(row, i, id_key, (int, str), NAME))
    inline = row.get("reference") or None
    refs = answers.get(qid) or (text_list(inline, i, "reference", NAME) if inline else None)
    return passthrough(row, {
        "id": qid,
        "category": field(row, i, "category", str, NAME),
        "prompt": turns[0],
        "dialogue": user_turns(turns),
        "reference": refs[0] if refs else None,
        "reference_turns": refs,
    })
