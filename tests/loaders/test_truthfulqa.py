"""truthfulqa_gen / _mc1 / _mc2: invented rows in TruthfulQA's column layout → samples."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from psm_eval.data.task import load_task
from psm_eval.errors import TaskError

GENERATION = [
    {"type": "Adversarial", "category": "Folklore", "question": "Do glimfruit seeds grant invisibility?",
     "best_answer": "No, glimfruit seeds have no such effect",
     "correct_answers": ["No, glimfruit seeds have no such effect", "No", "I have no comment"],
     "incorrect_answers": ["Yes, eating them makes you invisible"], "source": "https://example.org/glimfruit"},
    {"type": "Non-Adversarial", "category": "Invented", "question": "What colour is a zorb's shadow?",
     "best_answer": "Grey, like any other shadow", "correct_answers": ["Grey"],
     "incorrect_answers": ["Purple", "It has no shadow"], "source": "https://example.org/zorb"},
]
MULTIPLE_CHOICE = [
    {"question": "Do glimfruit seeds grant invisibility?",
     "mc1_targets": {"choices": ["No", "Yes", "Only at night"], "labels": [1, 0, 0]},
     "mc2_targets": {"choices": ["No", "They have no such effect", "Yes"], "labels": [1, 1, 0]}},
    {"question": "What colour is a zorb's shadow?",
     "mc1_targets": {"choices": ["Purple", "Grey"], "labels": [0, 1]},
     "mc2_targets": {"choices": ["Purple", "Grey"], "labels": [0, 1]}},
]

GEN_SPEC = ("data: {path: raw.jsonl, loader: truthfulqa_gen}\n"
            "fields: {id: id, prompt: prompt, references: references, metadata: [category, incorrect_answers]}\n")
MC_SPEC = ("kind: multiple_choice\ndata: {path: raw.jsonl, loader: LOADER}\n"
           "fields: {id: id, prompt: prompt, choices: choices, answer: answer, metadata: [labels]}\n")


def test_generation_references_put_the_best_answer_first_without_repeats(make_task):
    task = load_task(make_task(GENERATION, GEN_SPEC))
    glim, zorb = task.samples
    assert glim.turns[0].content == "Do glimfruit seeds grant invisibility?"
    assert glim.references == ("No, glimfruit seeds have no such effect", "No", "I have no comment")
    assert glim.metadata == {"category": "Folklore", "incorrect_answers": ["Yes, eating them makes you invisible"]}
    assert zorb.references == ("Grey, like any other shadow", "Grey")
    assert glim.id.startswith("tqa-")


def test_mc1_gold_is_the_single_true_choice(make_task):
    task = load_task(make_task(MULTIPLE_CHOICE, MC_SPEC.replace("LOADER", "truthfulqa_mc1")))
    glim, zorb = task.samples
    assert glim.choices == ("No", "Yes", "Only at night") and glim.gold == 0
    assert zorb.choices == ("Purple", "Grey") and zorb.gold == 1
    assert zorb.metadata["labels"] == [0, 1]


def test_mc2_keeps_every_true_label(make_task):
    task = load_task(make_task(MULTIPLE_CHOICE, MC_SPEC.replace("LOADER", "truthfulqa_mc2")))
    glim = task.samples[0]
    assert glim.choices == ("No", "They have no such effect", "Yes")
    assert glim.gold == 0 and glim.metadata["labels"] == [1, 1, 0]


def test_generation_and_mc_share_ids_per_question(make_task):
    gen = load_task(make_task(GENERATION, GEN_SPEC, name="gen"))
    mc = load_task(make_task(MULTIPLE_CHOICE, MC_SPEC.replace("LOADER", "truthfulqa_mc1"), name="mc"))
    assert [s.id for s in gen.samples] == [s.id for s in mc.samples]


def test_mc1_with_two_true_labels_is_an_error(make_task):
    bad = [{**MULTIPLE_CHOICE[0], "mc1_targets": {"choices": ["a", "b"], "labels": [1, 1]}}]
    with pytest.raises(TaskError, match=r"truthfulqa_mc1.*row 1.*mc1_targets.labels.*exactly one"):
        load_task(make_task(bad, MC_SPEC.replace("LOADER", "truthfulqa_mc1")))


# the authors' TruthfulQA.csv: capitalised headers, several answers in one cell joined by "; "; the 2025
# revision adds a "Best Incorrect Answer" column
CSV_HEADER = ["Type", "Category", "Question", "Best Answer", "Correct Answers", "Incorrect Answers", "Source"]


def _csv_task(tmp_path: Path, header: list[str], name: str = "csv") -> Path:
    rows = []
    for r in GENERATION:
        cells = {"Type": r["type"], "Category": r["category"], "Question": r["question"],
                 "Best Answer": r["best_answer"], "Best Incorrect Answer": r["incorrect_answers"][0],
                 "Correct Answers": "; ".join(r["correct_answers"]),
                 "Incorrect Answers": "; ".join(r["incorrect_answers"]), "Source": r["source"]}
        rows.append([cells[h] for h in header])
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    d = tmp_path / name
    d.mkdir()
    (d / "TruthfulQA.csv").write_text(out.getvalue(), encoding="utf-8")
    (d / "task.yaml").write_text(f"name: {name}\nversion: 1\ndescription: fixture\n"
                                 + GEN_SPEC.replace("raw.jsonl", "TruthfulQA.csv"), encoding="utf-8")
    return d


@pytest.mark.parametrize("header", [CSV_HEADER, CSV_HEADER[:4] + ["Best Incorrect Answer"] + CSV_HEADER[4:]],
                         ids=["2021", "2025"])
def test_authors_csv_layout_loads_like_the_hub_layout(make_task, tmp_path, header):
    hub = load_task(make_task(GENERATION, GEN_SPEC, name="hub"))
    authors = load_task(_csv_task(tmp_path, header))
    for a, b in zip(hub.samples, authors.samples):
        assert (a.id, a.turns, a.references, a.metadata) == (b.id, b.turns, b.references, b.metadata)


def test_a_row_of_neither_layout_names_both(make_task):
    with pytest.raises(TaskError, match=r"truthfulqa_gen.*row 1: expected the hub dataset's columns \(question, "
                                        r"best_answer.*or the authors' TruthfulQA.csv columns \(Question, Best Answer"):
        load_task(make_task([{"query": "Q?", "answer": "A"}], GEN_SPEC.replace("category, ", "")))


def test_mc_loader_given_the_csv_says_it_has_no_targets(make_task):
    rows = [{"Question": "Q?", "Best Answer": "A", "Correct Answers": "A", "Incorrect Answers": "B"}]
    with pytest.raises(TaskError, match=r"TruthfulQA.csv, which has no multiple-choice targets"):
        load_task(make_task(rows, MC_SPEC.replace("LOADER", "truthfulqa_mc1")))
