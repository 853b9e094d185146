"""The scoring stage end to end on a real (tiny) run: files, typed records, merging, errors, the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from psm_eval.cli import main
from psm_eval.run.config import RunConfig
from psm_eval.run.runner import run
from psm_eval.score.scorers.registry import ScoringError
from psm_eval.score.stage import score_run
from tests.fixtures.files import read_jsonl
from psm_eval.backends import ModelSpec
from tests.scorers.fakes import ScriptedBackend, scripted_judge

SCORE_KEYS = {"task", "task_version", "sample_id", "arm", "other_arm", "turn", "repeat", "cluster", "scorer",
              "scorer_version", "metric", "stratum", "value", "unscored", "binary", "judge", "detail"}


def write_task(root: Path, name: str, rows: list[dict], yaml_tail: str) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "task.yaml").write_text(f"name: {name}\nversion: 1\ndescription: test task\ndata:\n  path: data.jsonl\n"
                                 + yaml_tail)
    return d


def arms(tiny_models: dict[str, Path]) -> list[dict]:
    return [{"name": "base", "model": {"type": "hf", "args": {"pretrained": str(tiny_models["base"]), "dtype": "float32"}},
             "render": "transcript:plain"},
            {"name": "chat", "model": {"type": "hf", "args": {"pretrained": str(tiny_models["chat"]), "dtype": "float32"}},
             "render": "chat"}]


@pytest.fixture(scope="module")
def tasks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tasks")
    qa = [{"id": f"q{i}", "question": q, "answer": a} for i, (q, a) in enumerate(
        [("What is the capital of France?", "Paris"), ("What colour is the sky?", "blue"),
         ("How many legs does a spider have?", "eight"), ("What is 3 plus 4?", "7")])]
    qa.append({"id": "long", "question": "sky " * 400, "answer": "blue"})  # too long for the tiny model
    mc = [{"id": f"m{i}", "question": q, "choices": c, "answer": a} for i, (q, c, a) in enumerate(
        [("Capital of France?", ["Paris", "Rome", "Berlin"], 0), ("Colour of the sky?", ["green", "blue"], 1),
         ("Legs of a spider?", ["six", "eight", "ten"], 1)])]
    return {
        "qa": write_task(root, "qa", qa, "fields:\n  id: id\n  prompt: question\n  references: answer\n"
                                         "generation:\n  max_gen_toks: 6\nscorers:\n  - contains\n  - reply_signals\n"
                                         "  - name: frame_integrity\n    args: {generic_labels: true}\n  - rubric_judge\n"),
        "mc": write_task(root, "mc", mc, "kind: multiple_choice\nfields:\n  id: id\n  prompt: question\n"
                                         "  choices: choices\n  answer: answer\nscorers: [choice_accuracy]\n"),
    }


@pytest.fixture(scope="module")
def generated(tasks, tiny_models, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    pirate = {**arms(tiny_models)[0], "name": "pirate", "render": "transcript:pirate"}  # non-empty noise replies
    config = RunConfig.model_validate({"tasks": [str(tasks["qa"]), str(tasks["mc"])],
                                       "arms": arms(tiny_models) + [pirate], "out": str(out),
                                       "max_error_rate": None})  # one failure is part of the fixture
    return run(config, progress=False)


@pytest.fixture()
def run_dir(generated: Path, tmp_path: Path) -> Path:
    """A fresh copy of the generated run for each test (scoring writes into it)."""
    return Path(shutil.copytree(generated, tmp_path / generated.name))


def test_scores_are_typed_records_and_failures_are_unscored(run_dir: Path) -> None:
    paths = score_run(run_dir, progress=False)
    assert paths.scores == run_dir / "scores.jsonl" and paths.summary == run_dir / "summary.json"
    scores = list(read_jsonl(paths.scores))
    assert scores and all(set(s) == SCORE_KEYS for s in scores)
    assert all((s["value"] is None) == (s["unscored"] is not None) for s in scores)
    long = [s for s in scores if s["sample_id"] == "long" and s["scorer"] == "contains"]
    assert {s["arm"] for s in long} == {"base", "chat", "pirate"} and all(s["unscored"] == "generation failed" for s in long)
    assert all("context_too_long" in s["detail"]["error"] for s in long)
    gens = [g for g in read_jsonl(run_dir / "generations.jsonl") if g["task"] == "qa"]
    assert {(g["sample_id"], g["arm"]) for g in gens} == {(s["sample_id"], s["arm"]) for s in scores if s["scorer"] == "contains"}
    mc = [s for s in scores if s["task"] == "mc"]
    assert {s["metric"] for s in mc} == {"acc", "acc_norm"} and len(mc) == 2 * 3 * 3
    summary = json.loads(paths.summary.read_text())
    assert summary["skipped"] == [{"task": "qa", "scorer": "rubric_judge", "reason": "needs a judge: pass --judge SPEC"}]
    assert paths.skipped == ("qa/rubric_judge: needs a judge: pass --judge SPEC",)
    contains = [r for r in summary["records"] if r["scorer"] == "contains" and r["statistic"] == "mean"]
    assert {r["arm"] for r in contains} == {"base", "chat", "pirate"} and all(r["n"] == 4 and r["n_unscored"] == 1 for r in contains)
    diff = [r for r in summary["records"] if r["scorer"] == "choice_accuracy" and r["statistic"] == "difference"]
    assert {r["metric"] for r in diff} == {"acc", "acc_norm"}
    assert {tuple(r["arm_pair"]) for r in diff} == {("chat", "base"), ("pirate", "base"), ("pirate", "chat")}
    assert {"generation failed"} <= {u["reason"] for u in summary["unscored"]}


def test_rescoring_one_scorer_keeps_the_others(run_dir: Path) -> None:
    score_run(run_dir, progress=False)
    before = [s for s in read_jsonl(run_dir / "scores.jsonl") if s["scorer"] != "contains"]
    judge = scripted_judge([("Paris", "Rating: [[8]]")], default="Rating: [[2]]")
    score_run(run_dir, scorers=["rubric_judge", "contains"], judge=judge, progress=False)
    after = list(read_jsonl(run_dir / "scores.jsonl"))
    assert [s for s in after if s["scorer"] not in ("contains", "rubric_judge")] == \
           [s for s in before if s["scorer"] != "rubric_judge"]
    rated = [s for s in after if s["scorer"] == "rubric_judge"]
    assert {s["value"] for s in rated if s["value"] is not None} <= {2.0, 8.0} and len(rated) == 15
    judged = [s for s in rated if s["value"] is not None]
    assert judged and all(s["judge"][0]["spec"] == judge.spec and s["judge"][0]["reply"] and
                          "[The Start of the Assistant's Answer" in s["judge"][0]["prompt"]["text"] for s in judged)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["judge"] == judge.spec and not summary["skipped"]
    assert {r["scorer"] for r in summary["records"]} >= {"rubric_judge", "contains", "choice_accuracy", "reply_signals"}


def test_errors_are_one_line_and_name_the_problem(run_dir: Path, tasks: dict[str, Path]) -> None:
    with pytest.raises(ScoringError, match="did you mean 'contains'"):
        score_run(run_dir, scorers=["contain"], progress=False)
    with pytest.raises(ScoringError, match="needs a judge"):
        score_run(run_dir, scorers=["rubric_judge"], progress=False)
    data = tasks["mc"] / "data.jsonl"
    original = data.read_text()
    try:
        data.write_text(original.replace("Rome", "Milan"))
        with pytest.raises(ScoringError, match="task 'mc' .* changed since the run"):
            score_run(run_dir, progress=False)
    finally:
        data.write_text(original)
    spec = tasks["mc"] / "task.yaml"
    yaml_text = spec.read_text()
    try:  # the same version and data, another request: a system prompt added
        spec.write_text(yaml_text.replace("fields: {", "fields: {system: sys, ") if "fields: {" in yaml_text
                        else yaml_text + "generation: {until: ['STOP']}\n")
        with pytest.raises(ScoringError, match="task 'mc' .* changed since the run"):
            score_run(run_dir, progress=False)
    finally:
        spec.write_text(yaml_text)
    assert not (run_dir / "scores.jsonl").exists()


def test_cli_score_and_run_scoring_by_default(run_dir: Path, tasks, tiny_models, tmp_path: Path, capsys) -> None:
    assert main(["score", str(run_dir), "--scorer", "contains", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"scores written to {run_dir / 'scores.jsonl'}" in out and "summary written to" in out
    assert main(["score", str(run_dir), "--scorer", "rubric_judge"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("psm-eval: error: scorer 'rubric_judge' needs a judge") and err.count("\n") == 1
    arm_flags = [f"{a['name']}=hf:pretrained={a['model']['args']['pretrained']},dtype=float32,render={a['render']}"
                 for a in arms(tiny_models)]
    argv = ["run", "--task", str(tasks["mc"]), "--out", str(tmp_path / "cli"), "--no-progress"]
    argv += [x for flag in arm_flags for x in ("--arm", flag)]
    assert main(argv + ["--no-score"]) == 0
    assert "scores written" not in capsys.readouterr().out
    assert main(argv) == 0
    out = capsys.readouterr().out
    scored = Path(out.split("scores written to ")[1].split("\n")[0])
    assert scored.is_file() and (scored.parent / "summary.json").is_file()


def test_token_shift_end_to_end_on_real_models(run_dir: Path) -> None:
    paths = score_run(run_dir, scorers=["token_shift"], progress=False)
    scores = [s for s in read_jsonl(paths.scores) if s["scorer"] == "token_shift"]
    overall = [s for s in scores if s["stratum"] is None and s["value"] is not None]
    assert overall and all(s["arm"] in ("chat", "pirate") and s["other_arm"] == "base" for s in scores)
    shares = [s for s in scores if s["metric"].rsplit("_", 1)[0] in ("unshifted", "marginal", "shifted")]
    assert {s["unscored"] for s in shares if s["arm"] == "chat"} <= {"empty reply", "generation failed"}  # tiny chat
    by_reply: dict[tuple, float] = {}
    for s in overall:
        if s in shares:
            by_reply[(s["arm"], s["sample_id"], s["turn"])] = by_reply.get((s["arm"], s["sample_id"], s["turn"]),
                                                                           0.0) + s["value"]
    assert by_reply and all(v == pytest.approx(1.0) for v in by_reply.values())
    # both models run in-process: the distributions are compared at every position
    kl = [s for s in overall if s["metric"] == "kl_aligntds"]
    assert kl and all(s["value"] >= 0 for s in kl)
    shifted = [s for s in overall if s["metric"] == "shifted_aligntds"]
    assert all(len(s["detail"]["tokens"]) == len(s["detail"]["ranks"]) > 0 for s in shifted)
    summary = json.loads(paths.summary.read_text())
    means = [r for r in summary["records"] if r["scorer"] == "token_shift" and r["statistic"] == "mean"]
    assert {r["arm_pair"][1] for r in means} == {"base"} and any(r["stratum"] == {"by": "token_position", "value": "1"} for r in means)
    pooled = [r for r in summary["records"] if r["scorer"] == "token_shift" and r["statistic"] == "pooled"]
    assert {r["metric"] for r in pooled} == {f"pooled_{c}_aligntds" for c in ("unshifted", "marginal", "shifted")}
    tokens = [row for t in summary["tables"] if t["name"] == "shifted_tokens" for row in t["rows"]]
    assert tokens and all(t["base_arm"] == "base" for t in tokens)


def test_a_judge_spec_is_loaded_only_when_a_scorer_can_use_it(run_dir: Path) -> None:
    made: list[ModelSpec] = []

    def factory(spec: ModelSpec) -> ScriptedBackend:
        made.append(spec)
        return ScriptedBackend([], default="Rating: [[5]]")

    spec = "scripted:render=transcript:plain,max_gen_toks=16"
    score_run(run_dir, scorers=["contains"], judge=spec, progress=False, model_factory=factory)
    assert made == []
    score_run(run_dir, scorers=["rubric_judge"], judge=spec, tasks=["qa"], progress=False, model_factory=factory)
    assert made == [ModelSpec("scripted")]
    rated = [s for s in read_jsonl(run_dir / "scores.jsonl") if s["scorer"] == "rubric_judge"]
    assert {s["value"] for s in rated} == {5.0, None} and {s["unscored"] for s in rated} == {None, "generation failed"}
    assert json.loads((run_dir / "summary.json").read_text())["judge"] == "scripted render=transcript:plain"
    with pytest.raises(ScoringError, match="task 'q' is not part of this run; did you mean 'qa'"):
        score_run(run_dir, tasks=["q"], progress=False)
