"""Every scorer against its data-driven cases in tests/scorers/cases/*.jsonl."""

from __future__ import annotations

import pytest

from psm_eval.score.scorers import ScoringError, scorer_names
from tests.scorers.cases import load_cases, check, run_case

CASES = load_cases()


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[i for i, _ in CASES])
def test_case(case: dict) -> None:
    if "error" in case:
        with pytest.raises(ScoringError, match=case["error"]):
            run_case(case)
        return
    check(case, run_case(case))


def test_every_scorer_has_cases() -> None:
    covered = {c["scorer"] for _, c in CASES}
    assert set(scorer_names()) <= covered, f"scorers without cases: {sorted(set(scorer_names()) - covered)}"
