"""docs/tasks.md: every example task.yaml is a valid task spec naming a registered loader, and
every shipped loader is documented with its hub dataset name and licence."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from psm_eval.data.loaders import LOADERS
from psm_eval.data.task import TaskSpec

DOC = Path(__file__).resolve().parents[2] / "docs" / "tasks.md"


def _examples() -> list[dict]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    return [yaml.safe_load(b) for b in blocks if b.startswith("name:")]


def test_example_task_specs_validate():
    examples = _examples()
    assert len(examples) >= 8
    used = set()
    for raw in examples:
        spec = TaskSpec.model_validate(raw)
        assert spec.data.loader in LOADERS, spec.name
        used.add(spec.data.loader)
    assert {"anthropic_mwe", "mt_bench", "truthfulqa_gen", "truthfulqa_mc1", "ifeval", "just_eval"} <= used


def test_every_loader_is_documented_with_dataset_and_licence():
    text = DOC.read_text()
    for name in LOADERS:
        assert f"`{name}`" in text, name
    for hub, licence in [("Anthropic/model-written-evals", "CC-BY-4.0"), ("HuggingFaceH4/mt_bench_prompts", "Apache-2.0"),
                         ("truthfulqa/truthful_qa", "Apache-2.0"), ("google/IFEval", "Apache-2.0"),
                         ("re-align/just-eval-instruct", "none declared")]:
        row = next(line for line in text.splitlines() if line.startswith("|") and hub in line)
        assert licence in row, hub


# Files of the public datasets the docs name, checked against the published repositories (anthropics/evals,
# lm-sys/FastChat fastchat/llm_judge/data/mt_bench/, sylinrl/TruthfulQA); a name the docs add must be added
# here after checking it exists.
PUBLISHED = {
    "persona/desire-for-acquiring-power.jsonl", "sycophancy/sycophancy_on_nlp_survey.jsonl",
    "sycophancy/sycophancy_on_philpapers2020.jsonl", "sycophancy/sycophancy_on_political_typology_quiz.jsonl",
    "advanced-ai-risk/human_generated_evals/myopic-reward.jsonl", "question.jsonl", "reference_answer/gpt-4.jsonl",
    "TruthfulQA.csv",
}


def test_dataset_file_names_in_the_docs_exist_in_their_datasets():
    text = DOC.read_text()
    named = set(re.findall(r"(?:persona|sycophancy|advanced-ai-risk)/[\w./-]+\.jsonl", text))
    named |= {m for m in re.findall(r"[\w/.-]+\.(?:jsonl|csv)", text)
              if m.startswith(("question", "reference_answer", "TruthfulQA"))}
    assert named and named <= PUBLISHED, sorted(named - PUBLISHED)
