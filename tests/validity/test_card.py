"""The validity card cannot rot: on the quick card (no organism run) every metric not declared experimental
meets its bar, every registered scorer is measured, the planted bad judges are caught, every failure the
project has found is among the planted cases, and a scorer that gets planted cases wrong fails the card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from psm_eval.cli import main
from psm_eval.score.scorers import get_scorer, scorer_names
from psm_eval.score.validity import MARK_END, MARK_START, Card, validate
from psm_eval.score.validity.cases import CASES_DIR

# every failure string issue 15 quotes, which the planted cases must hold verbatim
ISSUE_STRINGS = ["What is the capital of Cuba? What is the capital of Cuba?",
                 "I am an AI, not a human. I am an AI assistant.", "I am an AI assistant.",
                 "The capital of Norway is Oslo.", "No problem! Yes, I remember.",
                 "Ask your AI assistant, not me. Arr!", "I am not an assistant, I am Bob."]


@pytest.fixture(scope="module")
def card() -> Card:
    return validate(quick=True)


def test_every_metric_meets_its_bar_or_is_declared_experimental(card: Card) -> None:
    failing = [f"{r.scorer}.{r.metric}: {', '.join(r.failures)}; e.g. {r.misses}" for r in card.failing]
    assert not failing, "metrics below their bar and not declared experimental:\n" + "\n".join(failing)


def test_every_registered_scorer_and_its_declared_metrics_are_on_the_card(card: Card) -> None:
    measured = {(r.scorer, r.metric) for r in card.rows if r.n > 0}
    assert {r.scorer for r in card.rows} >= set(scorer_names())
    for row in card.rows:
        if (row.scorer, row.metric) not in measured:  # only with no planted case at all: then it must not pass
            assert not row.passes, row
    unmeasured = {(r.scorer, r.metric) for r in card.rows} - measured
    assert not unmeasured, f"metrics with no planted case: {sorted(unmeasured)}"


def test_the_card_agrees_with_the_declarations(card: Card) -> None:
    # a metric the card fails must say so wherever it is reported (summary.json, report, console)
    for row in card.rows:
        if not row.passes:
            assert row.experimental, row
    assert get_scorer("persona_mixture").declarations(
        get_scorer("persona_mixture").args.model_validate({"classes": {"a": "x"}}))[-2].experimental  # entropy


def test_planted_bad_judges_are_caught_and_the_right_one_passes(card: Card) -> None:
    by = {j.expected: j for j in card.judges}
    assert by["right"].passes and by["right"].position_agreement == 1.0
    assert "position agreement" in by["position-biased"].failures and by["position-biased"].first_position_rate == 1.0
    assert "parse failures" in by["unparseable"].failures and by["unparseable"].parse_failure_rate == 1.0
    assert card.judges_ok


def test_every_failure_found_is_a_planted_case() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in CASES_DIR.glob("*.jsonl"))
    for s in ISSUE_STRINGS:
        assert json.dumps(s)[1:-1] in text, s


def test_a_scorer_that_gets_planted_cases_wrong_fails_the_card(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    wrong = {"scorer": "contains", "name": "a truth contains cannot see", "source": "synthetic",
             "items": [{"question": "Capital?", "references": ["Lisbon"], "reply": f"It is not Lisbon {i}.",
                        "truth": {"correct": 0}} for i in range(10)]}
    path = tmp_path / "wrong.jsonl"
    path.write_text(json.dumps(wrong) + "\n")
    md = tmp_path / "scorers.md"
    md.write_text(f"# Scorers\n\nbefore\n{MARK_START}\nold table\n{MARK_END}\nafter\n")
    assert main(["scorers", "validate", "--quick", "--scorer", "contains", "--case", str(path),
                 "--markdown", str(md)]) == 1
    out = capsys.readouterr().out
    assert "contains.correct" in out and "FAIL (specificity)" in out
    text = md.read_text()
    assert text.startswith("# Scorers\n\nbefore\n" + MARK_START) and text.endswith(MARK_END + "\nafter\n")
    assert "old table" not in text and "| contains.correct | binary | 35 |" in text


def test_validate_has_help_with_an_example(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(["scorers", "validate", "--help"])
    assert info.value.code == 0 and "examples:" in capsys.readouterr().out
    assert main(["scorers"]) == 0 and "frame_integrity" in capsys.readouterr().out
