"""mt_bench: FastChat question.jsonl (+ reference answers) and the H4 layout (invented rows) → samples."""

from __future__ import annotations

import pytest

from psm_eval.errors import TaskError
from psm_eval.data.task import load_task

QUESTIONS = [
    {"question_id": 901, "category": "writing",
     "turns": ["Write a two-line poem about a kettle.", "Now make the second line rhyme with 'steam'."]},
    {"question_id": 902, "category": "math", "turns": ["What is 17 + 25?", "Now multiply your answer by 3."],
     "reference": ["42", "126"]},
    {"question_id": 903, "category": "reasoning",
     "turns": ["If Mo is older than Li and Li is older than Jo, who is youngest?", "Who is oldest?"]},
]
REFERENCE_ANSWERS = [
    {"question_id": 903, "answer_id": "ra903", "model_id": "gpt-4",
     "choices": [{"index": 0, "turns": ["Jo is the youngest.", "Mo is the oldest."]}], "tstamp": 1700000000.0},
]
H4 = [
    {"prompt": ["Explain what a lever is.", "Give an everyday example."], "prompt_id": 31415926,
     "category": "stem", "reference": []},
    {"prompt": ["What is 9 squared?", "And its square root?"], "prompt_id": 27182818, "category": "math",
     "reference": ["81", "9"]},
]

ROLLOUT = ("mode: rollout\ndata: {path: raw.jsonl, loader: mt_bench}\n"
           "fields: {id: id, dialogue: dialogue, metadata: [category, reference_turns]}\n"
           "generation: {max_gen_toks: 32}\n")
FIRST_TURN = ("data: {path: raw.jsonl, loader: mt_bench}\n"
              "fields: {id: id, prompt: prompt, references: reference, metadata: [category]}\n")


def test_questions_become_two_turn_rollout_dialogues(make_task):
    task = load_task(make_task(QUESTIONS + REFERENCE_ANSWERS, ROLLOUT))
    by_id = {s.id: s for s in task.samples}
    assert sorted(by_id) == ["901", "902", "903"]
    s = by_id["901"]
    assert [t.role for t in s.turns] == ["user", "user"]
    assert s.turns[1].content == "Now make the second line rhyme with 'steam'."
    assert s.metadata == {"category": "writing", "reference_turns": None}
    assert by_id["902"].metadata["reference_turns"] == ["42", "126"]
    assert by_id["903"].metadata["reference_turns"] == ["Jo is the youngest.", "Mo is the oldest."]


def test_first_turn_only_with_reference(make_task):
    task = load_task(make_task(QUESTIONS + REFERENCE_ANSWERS, FIRST_TURN))
    by_id = {s.id: s for s in task.samples}
    assert len(by_id["902"].turns) == 1 and by_id["902"].turns[0].content == "What is 17 + 25?"
    assert by_id["902"].references == ("42",)
    assert by_id["903"].references == ("Jo is the youngest.",)
    assert by_id["901"].references == ()


def test_h4_layout(make_task):
    task = load_task(make_task(H4, ROLLOUT))
    lever, square = task.samples
    assert lever.id == "31415926" and len(lever.turns) == 2 and lever.metadata["reference_turns"] is None
    assert square.metadata == {"category": "math", "reference_turns": ["81", "9"]}


def test_reference_answer_for_an_unknown_question_is_an_error(make_task):
    orphan = [{**REFERENCE_ANSWERS[0], "question_id": 999}]
    with pytest.raises(TaskError, match=r"mt_bench.*unknown question ids: 999"):
        load_task(make_task(QUESTIONS + orphan, ROLLOUT))
