"""Judge checks in the scoring stage: a judge that is one of the evaluated arms is refused (or, allowed,
flagged in the summary, the console and the report), and every judged (task, scorer) gets a quality record:
parse failures, and for pairwise judgements the position-swap agreement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from psm_eval.cli import main
from psm_eval.records import read_summary
from psm_eval.score.scorers.registry import ScoringError
from psm_eval.score.stage import score_run
from tests.scorers.fakes import ScriptedBackend, scripted_judge
from tests.test_scoring import generated, run_dir, tasks  # noqa: F401  (fixtures)


def test_a_judge_that_is_an_arm_is_refused(run_dir: Path, tiny_models: dict) -> None:  # noqa: F811
    refused = "the judge is the evaluated arm chat .*self-preference.*--allow-self-judge"
    with pytest.raises(ScoringError, match=refused):
        score_run(run_dir, scorers=["rubric_judge"], judge="arm:chat", tasks=["qa"], progress=False)
    same_model = f"hf:pretrained={tiny_models['chat']},render=chat,max_gen_toks=8"  # the arm's model, other settings
    with pytest.raises(ScoringError, match="evaluated arm chat"):
        score_run(run_dir, scorers=["rubric_judge"], judge=same_model, tasks=["qa"], progress=False)
    assert not (run_dir / "scores.jsonl").exists()


def test_the_cli_refuses_a_self_judge_in_one_line(run_dir: Path, capsys: pytest.CaptureFixture) -> None:  # noqa: F811
    assert main(["score", str(run_dir), "--scorer", "rubric_judge", "--judge", "arm:chat", "--task", "qa"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("psm-eval: error: --judge arm:chat: the judge is the evaluated arm chat")
    assert err.count("\n") == 1


def test_an_allowed_self_judge_is_flagged(run_dir: Path, capsys: pytest.CaptureFixture) -> None:  # noqa: F811
    def factory(spec):
        return ScriptedBackend([], default="Rating: [[5]]")

    assert main(["score", str(run_dir), "--scorer", "rubric_judge", "--judge", "arm:chat", "--task", "qa",
                 "--allow-self-judge", "--no-progress"]) == 0  # the tiny chat model judges (badly: unparseable)
    assert "psm-eval: warning: the judge is the evaluated arm chat (--allow-self-judge)" in capsys.readouterr().err
    paths = score_run(run_dir, scorers=["rubric_judge"], judge="arm:chat", tasks=["qa"], progress=False,
                      model_factory=factory, allow_self_judge=True)
    summary = read_summary(run_dir)
    assert summary.judge_arms == ["chat"]
    (quality,) = summary.judge_quality
    assert quality.self_judge_arms == ["chat"] and quality.scorer == "rubric_judge" and quality.unit == "reply"
    assert quality.parse_failures == 0 and quality.judged >= 4
    assert any("the judge is the evaluated arm chat" in w for w in paths.warnings)
    # re-scoring another scorer without a judge keeps the judged scores, their quality and the flag
    score_run(run_dir, scorers=["contains"], progress=False)
    again = read_summary(run_dir)
    assert again.judge_arms == ["chat"] and [q.scorer for q in again.judge_quality] == ["rubric_judge"]


def test_position_bias_and_parse_failures_are_measured(run_dir: Path) -> None:  # noqa: F811
    biased = scripted_judge([], default="The first one. [[A]]")
    score_run(run_dir, scorers=["pairwise_judge"], judge=biased, tasks=["qa"], progress=False)
    (q,) = read_summary(run_dir).judge_quality
    assert q.unit == "pair of replies" and q.swap_pairs and q.swap_pairs > 0
    assert q.position_agreement == 0.0 and q.first_position_rate == 1.0 and q.parse_failure_rate == 0.0
    garbled = scripted_judge([], default="Both are fine, I suppose.")
    score_run(run_dir, scorers=["pairwise_judge"], judge=garbled, tasks=["qa"], progress=False)
    (q,) = read_summary(run_dir).judge_quality
    assert q.parse_failure_rate == 1.0 and q.parse_failures == q.judged and q.swap_pairs == 0
    fair = scripted_judge([("Assistant A's Answer F\\w+\\]\\n[^\\n]*\\w", "[[A]]")], default="[[C]]")
    score_run(run_dir, scorers=["pairwise_judge"], judge=fair, tasks=["qa"], progress=False)
    data = json.loads((run_dir / "summary.json").read_text())
    assert data["judge_quality"][0]["position_agreement"] is not None
