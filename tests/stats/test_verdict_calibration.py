"""Each kind of PSM endpoint, simulated at the shipped suites' sizes (psm_eval/score/verdict_calibration.py):
it is declared "as predicted" at most about α of the time when the truth sits on the edge of its region,
and usually when a planted effect puts it inside. A short run of benchmarks/verdict_calibration.py (which
gives the table in docs/scorers.md); the bounds leave room for the Monte Carlo error of 60 runs."""

from __future__ import annotations

import math

import pytest

from psm_eval.score.verdict import ALPHA
from psm_eval.score.verdict_calibration import CASES, simulate

REPS = 60
SLACK = 3 * math.sqrt(ALPHA * (1 - ALPHA) / REPS)  # three Monte Carlo standard errors: 0.06
# power measured with 400 runs per case (docs/scorers.md) less room for the noise of 60; the organism's
# profile distance (7 traits of 6 items) has little power at its size, which the docs say
MIN_POWER = {"P1 facts": 0.8, "P1 accuracy": 0.8, "P2 frame": 0.8, "P2 drift, one arm": 0.4,
             "P2 drift, difference": 0.5, "P5 mixture": 0.8, "P3 token shift": 0.65, "P4 organism": 0.0,
             "P4 standard": 0.8}


def _key(name: str, size: str) -> str:
    if "P2 drift" in name:
        return "P2 drift, one arm" if "one arm" in name else "P2 drift, difference"
    if "P4" in name:
        return "P4 organism" if size.startswith("organism") else "P4 standard"
    tag = name[name.index("(") + 1:name.index(")")]
    return tag


@pytest.mark.parametrize("index", range(len(CASES)), ids=[f"{c.name} — {c.size}" for c in CASES])
def test_endpoint_holds_its_level_and_finds_a_planted_effect(index: int) -> None:
    case = CASES[index]
    false_positives, power = simulate(case, REPS, seed=100 + index)
    assert false_positives <= ALPHA + SLACK, (case.name, false_positives)
    assert power >= MIN_POWER[_key(case.name, case.size)], (case.name, power)
    assert power > false_positives or power == false_positives == 0.0
