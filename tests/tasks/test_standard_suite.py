"""The shipped standard suite: validates through the CLI, meets the issue's counts, follows the data
conventions its scorers read, and keeps generation settings sane for small models."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from psm_eval.data.task import Task, load_task

REPO = Path(__file__).resolve().parents[2]
TASKS = REPO / "tasks"
STANDARD = ["helpfulness", "helpfulness-multiturn", "accuracy", "accuracy-mc", "persona-self-report", "persona-paraphrase",
            "persona-drift", "frame-bait"]
# names agreed with the scorer registry
SCORERS = {"exact_match", "contains", "regex", "numeric", "choice_accuracy", "reply_signals", "frame_integrity",
           "self_report", "paraphrase_consistency", "drift", "persona_selection", "persona_mixture",
           "rubric_judge", "pairwise_judge", "token_shift"}


@pytest.fixture(scope="module")
def tasks() -> dict[str, Task]:
    return {name: load_task(TASKS / name) for name in STANDARD}


def _psm_eval() -> list[str]:
    script = Path(sys.executable).parent / "psm-eval"
    return [str(script)] if script.exists() else [sys.executable, "-m", "psm_eval.cli"]


def test_cli_validates_every_shipped_task():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run([*_psm_eval(), "tasks", "validate", "tasks/"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for name in STANDARD:
        version = yaml.safe_load((TASKS / name / "task.yaml").read_text())["version"]
        assert f"ok     {name} v{version}" in proc.stdout


def test_standard_suite_lists_all_standard_tasks(monkeypatch):
    from psm_eval.run.config import load_suite

    monkeypatch.chdir(REPO)
    assert load_suite("standard") == STANDARD
    shipped = {p.parent.name for p in TASKS.glob("*/task.yaml") if not p.parent.name.startswith("organism")}
    assert shipped == set(STANDARD)


@pytest.mark.parametrize("name", STANDARD)
def test_task_spec_basics(name: str, tasks: dict[str, Task]):
    task = tasks[name]
    raw = yaml.safe_load((TASKS / name / "task.yaml").read_text())
    assert task.spec.version == raw["version"] >= 1
    assert task.spec.category in {"helpfulness", "accuracy", "persona"}
    assert task.spec.fields.id == "id", "every sample needs an explicit stable id"
    assert task.spec.scorers and {s if isinstance(s, str) else s.name for s in task.spec.scorers} <= SCORERS
    if task.spec.kind == "generate":
        assert 32 <= raw["generation"]["max_gen_toks"] <= 128, "set explicitly, small enough for small models"
        assert task.spec.generation.temperature == 0.0
    readme = (TASKS / name / "README.md").read_text()
    assert "**Size:**" in readme and "**Follows**" in readme and "**Scoring.**" in readme


def test_ids_are_unique_across_the_suite(tasks: dict[str, Task]):
    ids = [s.id for t in tasks.values() for s in t.samples]
    assert len(ids) == len(set(ids))


def test_helpfulness_counts_and_rubrics(tasks: dict[str, Task]):
    single, multi = tasks["helpfulness"], tasks["helpfulness-multiturn"]
    assert single.spec.mode == "gold" and multi.spec.mode == "rollout"
    requests = single.samples + multi.samples
    assert len(requests) >= 80
    categories = collections.Counter(s.metadata["category"] for s in requests)
    assert set(categories) >= {"writing", "reasoning", "math", "coding", "extraction", "stem", "humanities",
                               "advice"}
    assert min(categories.values()) >= 8
    assert all(len(s.turns) == 1 and s.turns[0].role == "user" for s in single.samples)
    assert all(len(s.turns) == 2 and all(t.role == "user" for t in s.turns) for s in multi.samples)
    assert 4 * len(multi.samples) >= len(requests), "a quarter of the requests are two-turn"
    assert {s.metadata["category"] for s in multi.samples} == set(categories)
    for s in multi.samples:
        refs = s.metadata["reference_turns"]
        assert refs is None or (len(refs) == len(s.turns) and any(refs))
    assert sum(1 for s in single.samples if s.references) >= 24
    rubrics = yaml.safe_load((TASKS / "helpfulness" / "rubrics.yaml").read_text())
    assert set(rubrics) == set(categories)
    assert all(isinstance(text, str) and len(text) > 200 for text in rubrics.values())


def test_accuracy_counts_and_references(tasks: dict[str, Task]):
    samples = tasks["accuracy"].samples
    assert len(samples) >= 200
    for s in samples:
        assert s.references and all(r.strip() for r in s.references)
        assert len(set(r.casefold() for r in s.references)) == len(s.references), s.id
    questions = [s.turns[0].content for s in samples]
    assert len(set(questions)) == len(questions)


def test_accuracy_mc_counts_and_answers(tasks: dict[str, Task]):
    samples = tasks["accuracy-mc"].samples
    assert tasks["accuracy-mc"].spec.kind == "multiple_choice"
    assert len(samples) >= 100
    for s in samples:
        assert len(s.choices) == 4 and len(set(s.choices)) == 4
        assert s.gold is not None and 0 <= s.gold < len(s.choices)
    positions = collections.Counter(s.gold for s in samples)
    assert min(positions.values()) >= len(samples) // 4 - 1, "the correct answer is spread over positions"


def test_self_report_traits_and_format(tasks: dict[str, Task]):
    samples = tasks["persona-self-report"].samples
    by_trait = collections.defaultdict(list)
    for s in samples:
        by_trait[s.metadata["trait"]].append(s)
        assert s.gold == 0 and set(s.choices) == {"Yes", "No"}
        assert s.turns[0].content.endswith(f'"{s.metadata["statement"]}"')
        expected = "Yes" if s.metadata["direction"] == "shows_trait" else "No"
        assert s.choices[0] == expected
    assert len(by_trait) >= 12
    for trait, items in by_trait.items():
        assert len(items) >= 20, trait
        yes = sum(1 for s in items if s.choices[0] == "Yes")
        assert yes * 2 == len(items), f"{trait}: matching answer should be Yes for exactly half"
    for trait in ("identifies-as-ai", "claims-emotions", "claims-body", "claims-human-past", "sycophancy",
                  "acknowledges-uncertainty", "power-seeking", "self-preservation"):
        assert trait in by_trait


def test_paraphrase_groups(tasks: dict[str, Task]):
    samples = tasks["persona-paraphrase"].samples
    groups = collections.defaultdict(list)
    for s in samples:
        groups[s.metadata["group"]].append(s)
        assert s.metadata["answer_type"] in {"yes_no", "open"}
    assert len(groups) >= 50
    for group, items in groups.items():
        assert sorted(s.metadata["paraphrase"] for s in items) == [0, 1, 2, 3, 4], group
        assert len({s.turns[0].content for s in items}) == 5, group
        assert len({(s.metadata["topic"], s.metadata["answer_type"]) for s in items}) == 1, group


def test_drift_dialogues_and_probes(tasks: dict[str, Task]):
    task = tasks["persona-drift"]
    assert task.spec.mode == "rollout"
    assert len(task.samples) >= 30
    for s in task.samples:
        n_user = len(s.user_turn_indices())
        assert n_user >= 8
        probes = s.metadata["probe_turns"]
        assert probes and all(0 <= p < n_user for p in probes) and probes == sorted(set(probes))
        assert len(s.metadata["probe_topics"]) == len(probes)
    pressures = collections.Counter(s.metadata["pressure"] for s in task.samples)
    assert set(pressures) == {"small_talk", "emotional", "roleplay", "adversarial"}
    assert len({tuple(s.metadata["probe_turns"]) for s in task.samples}) == 1, "probes sit at fixed turns"


def test_frame_bait_prompts(tasks: dict[str, Task]):
    samples = tasks["frame-bait"].samples
    assert len(samples) >= 50
    baits = collections.Counter(s.metadata["bait"] for s in samples)
    assert set(baits) >= {"speak_as_user", "human_experience", "other_character"}
    assert min(baits.values()) >= 10
    assert all(s.metadata["asks_identity"] == (s.metadata["bait"] == "human_experience") for s in samples)
    assert len({s.turns[0].content for s in samples}) == len(samples)


def test_a_run_yaml_names_a_suite(tmp_path: Path, monkeypatch):
    """`suite:` in a run.yaml adds the suite's tasks after any listed ones (it is not an unknown field)."""
    from psm_eval.run.config import load_run_config

    monkeypatch.chdir(REPO)
    path = tmp_path / "run.yaml"
    path.write_text("suite: standard\ntasks: [organism-facts]\narms:\n"
                    "  - {name: a, model: {type: hf, args: {pretrained: x}}, render: chat}\n")
    config, _ = load_run_config(path)
    assert config.tasks == ["organism-facts", *STANDARD]


def _activation_args(mode: str) -> dict:
    """The activation scorer's arguments for the default run's directions files, as the scoring stage makes them."""
    from psm_eval.activations.directions import read_directions
    from psm_eval.run.config import default_config
    from psm_eval.score.scorers.activation import metric_name

    names, kinds = {}, {}
    for label, path in default_config()["activations"]["directions"].items():
        infos = read_directions(path).provenance.directions
        names[label] = sorted(infos, key=lambda n: (infos[n].kind != "axis", n))
        kinds.update({metric_name(n, label): infos[n].kind for n in infos})
    return {"directions": names, "kinds": kinds, "rollout": mode == "rollout"}


@pytest.mark.parametrize("suite", ["organism", "standard"])
def test_shipped_predictions_name_tasks_scorers_and_metrics_the_suite_has(suite: str) -> None:
    """A typo in a declared endpoint would only show as "not evaluated" after a full run: checked here."""
    from psm_eval.run.config import read_suite
    from psm_eval.score.scorers.registry import get_scorer

    declared = read_suite(str(TASKS / "suites" / f"{suite}.yaml"))
    assert {p.id for p in declared.predictions} >= {"P1", "P2", "P4", "P5"}
    for prediction in declared.predictions:
        for e in prediction.endpoints:
            assert e.task in declared.tasks, (prediction.id, e.task)
            spec = load_task(TASKS / e.task).spec
            args = {(r if isinstance(r, str) else r.name): a for r, a in
                    ((s, {} if isinstance(s, str) else s.args) for s in spec.scorers)}
            if e.scorer == "activation":  # a run-level scorer: its metrics come from the default run's directions
                args["activation"] = _activation_args(spec.mode)
            assert e.scorer in args, (prediction.id, e.task, e.scorer)
            info = get_scorer(e.scorer)
            metrics = {m.metric: m for m in info.declarations(info.args.model_validate(args[e.scorer]))}
            assert e.metric in metrics, (prediction.id, e.scorer, e.metric)
            if e.statistic == "slope":
                assert metrics[e.metric].chart == "by_turn" or e.scorer == "drift"
            if e.statistic == "entropy":
                assert metrics[e.metric].chart == "shares", (prediction.id, e.metric)
