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
