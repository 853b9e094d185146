"""TruthfulQA: the hub dataset (`truthfulqa/truthful_qa`, configs `generation` and `multiple_choice`) and,
for the generation task, the authors' `TruthfulQA.csv`.

- `truthfulqa_gen`: hub rows `question`, `best_answer`, `correct_answers`, `incorrect_answers` (lists), or
  CSV rows `Question`, `Best Answer`, `Correct Answers`, `Incorrect Answers` (answers joined by `;`)
  → `id`, `prompt`, `references` (best answer first, then the other correct answers), `incorrect_answers`,
  `category`, `type`.
- `truthfulqa_mc1`: `question`, `mc1_targets {choices, labels}` → `id`, `prompt`, `choices`, `answer`
  (the one true choice), `labels`.
- `truthfulqa_mc2`: the same from `mc2_targets`, where several choices may be true: `answer` is the first
  true one and `labels` marks them all (MC2 = probability mass on the true choices).

Ids hash the question, so the three share an id per question, whichever layout the text came from.
"""

from __future__ import annotations

from psm_eval.data.loaders import register_loader
from psm_eval.data.loaders._rows import content_id, field, passthrough, text_list
from psm_eval.errors import TaskError

__all__ = ["adapt_generation", "adapt_mc1", "adapt_mc2"]

HUB = ("question", "best_answer", "correct_answers", "incorrect_answers")
CSV = ("Question", "Best Answer", "Correct Answers", "Incorrect Answers")


@register_loader("truthfulqa_gen")
def adapt_generation(rows: list[dict]) -> list[dict]:
    return [_generation(row, i) for i, row in enumerate(rows)]


@register_loader("truthfulqa_mc1")
def adapt_mc1(rows: list[dict]) -> list[dict]:
    return [_choice(row, i, "truthfulqa_mc1", "mc1_targets", single=True) for i, row in enumerate(rows)]


@register_loader("truthfulqa_mc2")
def adapt_mc2(rows: list[dict]) -> list[dict]:
    return [_choice(row, i, "truthfulqa_mc2", "mc2_targets", single=False) for i, row in enumerate(rows)]


def _generation(row: dict, i: int) -> dict:
    name = "truthfulqa_gen"
    if "question" not in row and "Question" in row:
        return _generation_csv(row, i)
    if "question" not in row:
        raise TaskError(f"loader '{name}': row {i + 1}: expected the hub dataset's columns ({', '.join(HUB)}) or "
                        f"the authors' TruthfulQA.csv columns ({', '.join(CSV)}); found {', '.join(sorted(row))}")
    question = field(row, i, "question", str, name)
    best = field(row, i, "best_answer", str, name)
    correct = text_list(row.get("correct_answers"), i, "correct_answers", name)
    wrong = text_list(row["incorrect_answers"], i, "incorrect_answers", name) if row.get("incorrect_answers") else []
    return passthrough(row, _adapted(question, best, correct, wrong, row.get("category"), row.get("type")))


def _generation_csv(row: dict, i: int) -> dict:
    """A row of the authors' TruthfulQA.csv: capitalised headers, several answers in one cell joined by `;`."""
    name = "truthfulqa_gen"
    question = field(row, i, "Question", str, name)
    best = field(row, i, "Best Answer", str, name)
    correct = _split(field(row, i, "Correct Answers", str, name))
    wrong = _split(field(row, i, "Incorrect Answers", str, name, required=False) or "")
    if not correct:
        raise TaskError(f"loader '{name}': row {i + 1}: field 'Correct Answers': no answer in it")
    return passthrough(row, _adapted(question, best, correct, wrong, row.get("Category"), row.get("Type")))


def _split(cell: str) -> list[str]:
    return [a.strip() for a in cell.split(";") if a.strip()]


def _adapted(question: str, best: str, correct: list[str], wrong: list[str], category: object,
             kind: object) -> dict:
    return {
        "id": content_id("tqa", question),
        "prompt": question,
        "references": [best] + [c for c in dict.fromkeys(correct) if c != best],
        "incorrect_answers": wrong,
        "category": category if isinstance(category, str) else None,
        "type": kind if isinstance(kind, str) else None,
    }


def _choice(row: dict, i: int, name: str, column: str, single: bool) -> dict:
    if "question" not in row and "Question" in row:
        raise TaskError(f"loader '{name}': row {i + 1}: this is the authors' TruthfulQA.csv, which has no "
                        f"multiple-choice targets; use the hub dataset's 'multiple_choice' config ({column})")
    question = field(row, i, "question", str, name)
    targets = field(row, i, column, dict, name)
    choices = text_list(targets.get("choices"), i, f"{column}.choices", name)
    labels = targets.get("labels")
    if not isinstance(labels, list) or len(labels) != len(choices) or any(v not in (0, 1) for v in labels):
        raise TaskError(f"loader '{name}': row {i + 1}: field '{column}.labels': expected one 0/1 label per choice")
    true = [j for j, v in enumerate(labels) if v == 1]
    if not true or (single and len(true) != 1):
        want = "exactly one" if single else "at least one"
        raise TaskError(f"loader '{name}': row {i + 1}: field '{column}.labels': expected {want} true choice")
    return passthrough(row, {
        "id": content_id("tqa", question),
        "prompt": question,
        "choices": choices,
        "answer": true[0],
        "labels": [int(v) for v in labels],
    })
