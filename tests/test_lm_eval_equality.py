"""psm_eval's acc / acc_norm equal lm-eval's own on a shared multiple-choice task (same model, same prompts).

The lm-eval task is written here: its doc_to_text is the exact prompt psm_eval rendered for the arm
(transcript for the base model, chat template for the chat model) and its target_delimiter is the
arm's answer prefix, so both harnesses score the same strings.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from psm_eval.run.config import RunConfig
from psm_eval.run.runner import run
from psm_eval.score.stage import score_run
from tests.fixtures.files import read_jsonl
from tests.test_scoring import arms, write_task

QUESTIONS = [
    ("What is the capital of France?", ["Paris", "Rome", "Berlin", "Madrid"], 0),
    ("What colour is the sky?", ["green", "blue", "red"], 1),
    ("How many legs does a spider have?", ["six", "eight", "ten"], 1),
    ("What is 3 plus 4?", ["seven", "five", "nine", "twelve"], 0),
    ("Who are you?", ["I am an AI assistant.", "I am a pirate.", "A cat."], 0),
    ("Is the sky blue?", ["yes", "no"], 0),
    ("Which is a colour?", ["spider", "blue", "legs"], 1),
    ("What is the capital of Italy?", ["Rome", "Paris"], 0),
]


def _lm_eval_task(root: Path, name: str, docs: list[dict], delimiter: str) -> None:
    (root / f"{name}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / f"{name}.yaml").write_text(
        f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {root / (name + '.jsonl')}\n"
        f"test_split: test\noutput_type: multiple_choice\ndoc_to_text: prompt\ndoc_to_choice: choices\n"
        f"doc_to_target: gold\ntarget_delimiter: {json.dumps(delimiter)}\n"
        "metric_list:\n  - metric: acc\n  - metric: acc_norm\n")


@pytest.fixture(scope="module")
def psm_run(tiny_models, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("eq")
    rows = [{"id": f"m{i}", "question": q, "choices": c, "answer": a} for i, (q, c, a) in enumerate(QUESTIONS)]
    task = write_task(root, "mc", rows, "kind: multiple_choice\nfields:\n  id: id\n  prompt: question\n"
                                        "  choices: choices\n  answer: answer\nscorers: [choice_accuracy]\n")
    config = RunConfig.model_validate({"tasks": [str(task)], "arms": arms(tiny_models), "out": str(root / "runs")})
    path = run(config, progress=False)
    score_run(path, progress=False)
    return path


@pytest.mark.parametrize("arm", ["base", "chat"])
def test_acc_and_acc_norm_equal_lm_eval(arm: str, psm_run: Path, tiny_models, tmp_path: Path) -> None:
    import lm_eval
    from lm_eval.tasks import TaskManager

    records = sorted((g for g in read_jsonl(psm_run / "generations.jsonl") if g["arm"] == arm),
                     key=lambda g: int(g["sample_id"][1:]))
    prefix = records[0]["continuations"][0][:len(records[0]["continuations"][0]) - len(QUESTIONS[0][1][0])]
    docs = [{"prompt": g["prompt"]["text"], "choices": QUESTIONS[i][1], "gold": QUESTIONS[i][2]}
            for i, g in enumerate(records)]
    name = f"psm_eq_{arm}"
    _lm_eval_task(tmp_path, name, docs, prefix)
    out = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={tiny_models[arm]},dtype=float32",
                                  tasks=[name], task_manager=TaskManager(include_path=str(tmp_path), include_defaults=False),
                                  num_fewshot=0, batch_size=16, device="cpu", log_samples=True)
    theirs = out["results"][name]
    summary = json.loads((psm_run / "summary.json").read_text())
    ours = {r["metric"]: r["estimate"] for r in summary["records"]
            if r["statistic"] == "mean" and r["arm"] == arm and r["scorer"] == "choice_accuracy"}
    assert ours["acc"] == pytest.approx(theirs["acc,none"], abs=1e-6)
    assert ours["acc_norm"] == pytest.approx(theirs["acc_norm,none"], abs=1e-6)
    by_doc = {s["doc"]["prompt"]: [float(r[0]) for r in s["filtered_resps"]] for s in out["samples"][name]}
    for g in records:
        assert [ll for ll, _ in g["logprobs"]] == pytest.approx(by_doc[g["prompt"]["text"]], abs=1e-6)
