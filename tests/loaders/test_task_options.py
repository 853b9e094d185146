"""Task options for published protocols: a few-shot primer from a file (lm-eval's TruthfulQA prompt),
dropping exact-duplicate rows (`data.dedupe`), and generation settings per metadata value (MT-Bench's
temperature per category), applied by the runner's request builder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from psm_eval.data.task import load_task, request_spec
from psm_eval.errors import TaskError
from psm_eval.render.transcript import load_persona
from psm_eval.run.runner import _request
from psm_eval.types import Prompt

FIXTURES = Path(__file__).parent / "fixtures"
MC_ROWS = [
    {"question": "Do glimfruit seeds grant invisibility?",
     "mc1_targets": {"choices": ["No", "Yes", "Only at night"], "labels": [1, 0, 0]},
     "mc2_targets": {"choices": ["No", "Yes"], "labels": [1, 0]}},
]
MC_SPEC = ("kind: multiple_choice\ndata: {path: raw.jsonl, loader: truthfulqa_mc1}\n"
           "fields: {id: id, prompt: prompt, choices: choices, answer: answer, metadata: [labels]}\n")
PRIMER = "primer: {path: primer.txt, question: \"Q: {prompt}\\nA:\"}\n"


def _with_primer(task_dir: Path, text: str) -> Path:
    (task_dir / "primer.txt").write_text(text, encoding="utf-8")
    return task_dir


def test_primer_is_put_before_each_question(make_task):
    d = _with_primer(make_task(MC_ROWS, MC_SPEC + PRIMER), (FIXTURES / "qa_primer.txt").read_text())
    sample = load_task(d).samples[0]
    primer = (FIXTURES / "qa_primer.txt").read_text().rstrip("\n")
    assert sample.turns[0].content == primer + "\n\nQ: Do glimfruit seeds grant invisibility?\nA:"


def test_primer_content_is_part_of_the_task_hash(make_task):
    d = _with_primer(make_task(MC_ROWS, MC_SPEC + PRIMER), "Q: one?\nA: one.")
    before = load_task(d)
    (d / "primer.txt").write_text("Q: two?\nA: two.")
    after = load_task(d)
    assert before.spec_hash != after.spec_hash and "+primer:sha256:" in after.data_hash


def test_task_without_the_new_options_keeps_its_request_spec(make_task):
    spec = request_spec(load_task(make_task(MC_ROWS, MC_SPEC)).spec, exclude_defaults=True)
    assert "primer" not in spec and "dedupe" not in spec["data"]
    assert "overrides" not in spec.get("generation", {})


@pytest.mark.parametrize("tail, message", [
    ("primer: {path: nowhere.txt}\n", r"field 'primer.path': file 'nowhere.txt' not found"),
    ("primer: {path: raw.jsonl, question: \"Q: A:\"}\n", r"primer.question.*exactly once"),
])
def test_primer_errors_are_one_located_line(make_task, tail, message):
    with pytest.raises(TaskError, match=message):
        load_task(make_task(MC_ROWS, MC_SPEC + tail))


def test_primer_matches_lm_eval_truthfulqa_prompt_byte_for_byte(make_task, tmp_path):
    """With lm-eval's own primer (read from the installed lm-eval at test time, never shipped), the
    `primer` option and a raw persona template send what lm-eval's truthfulqa_mc1 sends."""
    import lm_eval
    from lm_eval.utils import apply_template

    config = Path(lm_eval.__file__).parent / "tasks" / "truthfulqa" / "truthfulqa_mc1.yaml"
    doc_to_text = yaml.safe_load(config.read_text())["doc_to_text"]
    marker = "PSM-QUESTION-MARKER"
    primer = apply_template(doc_to_text, {"question": marker}).split(f"\n\nQ: {marker}")[0]
    d = _with_primer(make_task(MC_ROWS, MC_SPEC + PRIMER), primer + "\n")
    sample = load_task(d).samples[0]
    sent = load_persona(str(FIXTURES / "raw.j2")).render(sample.turns).text
    assert sent == apply_template(doc_to_text, {"question": MC_ROWS[0]["question"]})


MWE = [{"question": f"Is the following statement something you would say?\n\"S{i % 3}\"", "statement": f"S{i % 3}",
        "answer_matching_behavior": " Yes", "answer_not_matching_behavior": " No"} for i in range(5)]
MWE_SPEC = ("kind: multiple_choice\ndata: {path: raw.jsonl, loader: anthropic_mwe DEDUPE}\n"
            "fields: {id: id, prompt: prompt, choices: choices, answer: answer}\n")


def test_duplicates_are_kept_and_counted_without_dedupe(make_task):
    task = load_task(make_task(MWE, MWE_SPEC.replace(" DEDUPE", "")))
    assert len(task.samples) == 5 and sum(s.id.endswith("-2") for s in task.samples) == 2
    assert task.notes == ("2 of 5 rows repeat an earlier row exactly and are kept as samples of their own; "
                          "'data.dedupe: true' drops them",)


def test_dedupe_drops_exact_duplicates(make_task):
    task = load_task(make_task(MWE, MWE_SPEC.replace(" DEDUPE", ", dedupe: true")))
    assert [s.turns[0].content[-3:-1] for s in task.samples] == ["S0", "S1", "S2"]
    assert not any(s.id.endswith("-2") for s in task.samples)
    assert task.notes == ("2 of 5 rows repeated an earlier row exactly and were dropped (data.dedupe)",)


def test_tasks_validate_prints_the_duplicate_count(make_task):
    d = make_task(MWE, MWE_SPEC.replace(" DEDUPE", ""))
    proc = subprocess.run([sys.executable, "-m", "psm_eval.cli", "tasks", "validate", str(d)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "ok     t v1: 5 samples" in proc.stdout
    assert "note: 2 of 5 rows repeat an earlier row exactly" in proc.stdout


MT = [{"question_id": 1, "category": "writing", "turns": ["Write a haiku about tea."]},
      {"question_id": 2, "category": "math", "turns": ["What is 6 times 7?"]},
      {"question_id": 3, "category": "stem", "turns": ["Why is the sky blue?"]}]
MT_SPEC = ("data: {path: raw.jsonl, loader: mt_bench}\nfields: {id: id, prompt: prompt, metadata: [category]}\n"
           "generation:\n  max_gen_toks: 1024\n  temperature: 0.0\n  overrides:\n    by: category\n    values:\n"
           "      writing: {temperature: 0.7}\n      stem: {temperature: 0.1, max_gen_toks: 256}\n"
           "      roleplay: {temperature: 0.7}\n")


def _requests(task, arm: dict) -> dict[str, object]:
    ctx = SimpleNamespace(arm=SimpleNamespace(**{"max_gen_toks": None, "temperature": None, "top_p": None, **arm}),
                          seed=0)
    prompt = Prompt(text="x", renderer="transcript", template="plain", template_hash="", stop=("\nUser:",))
    return {s.id: _request(ctx, SimpleNamespace(kind="generate", task=task, sample=s, key=f"t/{s.id}"), prompt)
            for s in task.samples}


def test_generation_overrides_per_category_shape_each_request(make_task):
    task = load_task(make_task(MT, MT_SPEC))
    got = {k: (r.temperature, r.max_gen_toks) for k, r in _requests(task, {}).items()}  # type: ignore[attr-defined]
    assert got == {"1": (0.7, 1024), "2": (0.0, 1024), "3": (0.1, 256)}
    # an arm's own setting still wins
    got = {k: r.temperature for k, r in _requests(task, {"temperature": 0.0}).items()}  # type: ignore[attr-defined]
    assert got == {"1": 0.0, "2": 0.0, "3": 0.0}
    assert task.notes == ("generation.overrides: no sample has category = 'roleplay' "
                          "(values present: math, stem, writing)",)


def test_overrides_are_part_of_the_request_hash(make_task):
    a = load_task(make_task(MT, MT_SPEC, name="a"))
    b = load_task(make_task(MT, MT_SPEC.replace("{temperature: 0.7}", "{temperature: 0.8}"), name="b"))
    assert request_spec(a.spec)["generation"]["overrides"]["values"]["writing"] == {"max_gen_toks": None,
                                                                                    "temperature": 0.7, "top_p": None}
    assert a.spec_hash != b.spec_hash


def test_override_key_must_be_sample_metadata(make_task):
    with pytest.raises(TaskError, match=r"generation.overrides.by.*'category' is not in 'fields.metadata'"):
        load_task(make_task(MT, MT_SPEC.replace("metadata: [category]", "metadata: []")))
