"""The Persona Selection Model's predictions as declared endpoints, and the verdicts a scored run gives them.

A prediction is declared before the numbers are read — in a suite file (`tasks/suites/*.yaml`,
`predictions:`) or a run config — and stored in `config.json`; scoring reads it from there and writes
its verdict into `summary.json` (`Summary.psm`). How each endpoint is decided: `psm_eval/score/verdict.py`
and docs/scorers.md, "The PSM verdict".
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from psm_eval.records.base import Record

__all__ = ["Endpoint", "Prediction", "EndpointResult", "PredictionResult", "PsmBlock", "Statistic", "Test",
           "Role", "Verdict", "Decision", "PREDICTION_ID", "Finding"]

PREDICTION_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"

Statistic = Literal["mean", "slope", "pooled", "entropy", "profile"]
Test = Literal["above", "below", "equivalent"]
Role = Literal["primary", "secondary", "control"]
Verdict = Literal["supported", "contradicted", "inconclusive", "not evaluated"]
Decision = Literal["as predicted", "against", "undecided", "not evaluated"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class Endpoint(_Strict):
    """One number a prediction is decided on, and the test that decides it.

    The quantity is the `statistic` of arm `arms[0]` — or, with two arms, of `arms[0]` minus that of
    `arms[1]` on the samples (prompts) both have; for `profile`, the distance between the two arms'
    trait profiles. `above`: supported when the interval lies above `bound`, against the prediction
    when it lies below `bound + margin` (the smallest effect that would count; 0: only when it lies
    below the bound). `below` mirrors it. `equivalent`: supported when the interval lies inside
    `bound ± margin` (two one-sided tests), against it when the interval lies wholly outside.
    """

    task: str
    scorer: str
    metric: str
    """The scorer's metric: for `pooled` the per-sample share pooled over tokens (detail `n_tokens`); for
    `entropy` any one of the scorer's `shares` metrics (its classes are read together); for `profile` the
    per-item endorsement (the trait is the sample's metadata `trait`, its phrasing `direction`)."""
    stratum: dict[str, str | int | float | bool] | None = None
    """The breakdown of the metric to read (`{key, value}` as in scores.jsonl); None: the overall figure."""
    statistic: Statistic = "mean"
    """`mean` (of per-sample means), `slope` (against turn index), `pooled` (Σ value·n_tokens / Σ n_tokens),
    `entropy` (bias-corrected entropy of the pooled classes, bits), `profile` (mean absolute difference of
    two arms' per-trait means, each item's phrasing bias removed)."""
    arms: list[str] = Field(min_length=1, max_length=2)
    """One arm, or two (the quantity is the first minus the second). Names are roles: a run config's
    `roles:` maps a role to one of its arms; an arm of the same name is used otherwise."""
    test: Test
    bound: float = 0.0
    """`above`/`below`: the threshold; `equivalent`: the centre of the margin."""
    margin: float | None = Field(None, ge=0)
    """`equivalent`: the half-width of the equivalence region (required); `above`/`below`: the smallest
    effect beyond the bound that would count (default 0)."""
    role: Role = "primary"
    """`primary`: decides the prediction, Holm-adjusted over every primary endpoint of the run;
    `secondary`: reported, unadjusted; `control`: must come out as declared (a planted effect found, a
    planted null not) for the prediction's verdict to stand."""
    label: str = ""
    """A few words for the sentence (default: task and metric)."""

    @model_validator(mode="after")
    def _consistent(self) -> Endpoint:
        if self.test == "equivalent" and not self.margin:
            raise ValueError("an 'equivalent' endpoint needs a positive margin")
        if self.statistic == "profile" and len(self.arms) != 2:
            raise ValueError("a 'profile' endpoint compares two arms")
        return self


class Prediction(_Strict):
    """One prediction of the Persona Selection Model, with the endpoints that decide it."""

    id: str = Field(pattern=PREDICTION_ID)
    """Short name (`P1`); the gate's `require_predictions` names it."""
    title: str
    """A few words: `capability parity`."""
    claim: str
    """The prediction in one sentence, as a reader should check it."""
    endpoints: list[Endpoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _has_primary(self) -> Prediction:
        if not any(e.role == "primary" for e in self.endpoints):
            raise ValueError(f"prediction {self.id} needs at least one primary endpoint")
        return self


class EndpointResult(Record):
    """An endpoint as measured, and what it says about the prediction."""

    task: str
    scorer: str
    metric: str
    stratum: dict[str, str | int | float | bool] | None
    statistic: Statistic
    arms: tuple[str, ...]
    """The run's arms (roles resolved)."""
    test: Test
    bound: float
    margin: float | None
    role: Role
    label: str
    decision: Decision
    """`as predicted`, `against`, `undecided`, or `not evaluated` (with `note`)."""
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_level: float | None = None
    """The interval's level (0.95 for one-sided tests at α = 0.025; TOST's 1 − 2α)."""
    p_support: float | None = None
    """One-sided p-value against the prediction's side (the smallest α at which the interval lies there)."""
    p_against: float | None = None
    """The same for the opposite region (below `bound + margin` for `above`, outside the margin for
    `equivalent`)."""
    p_support_holm: float | None = None
    """Primary endpoints: `p_support` Holm-adjusted over all primary endpoints of the run."""
    p_against_holm: float | None = None
    n: int = 0
    n_clusters: int = 0
    method: str = ""
    note: str = ""
    sentence: str = ""
    """The endpoint in one sentence, with its number, interval and decision."""


class PredictionResult(Record):
    """A prediction's verdict, and the numbers that decided it."""

    id: str
    title: str
    claim: str
    verdict: Verdict
    reason: str
    """Why: which endpoints decided it, a control that failed, an arm the run lacks."""
    sentence: str
    """`P1 capability parity — supported: …` — the headline line (HTML, console)."""
    endpoints: list[EndpointResult]


class Finding(Record):
    """An exploratory test of the Persona Selection Model, reported with its interval but not declared
    (no verdict, no multiplicity adjustment): the axis shared by the base and post-trained models."""

    id: str
    title: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    sentence: str
    """The finding in one sentence, with its number and interval."""


class PsmBlock(Record):
    """summary.json's `psm` block: every declared prediction with its verdict."""

    alpha: float
    """Each one-sided decision's level before adjustment (0.025: the 95 % intervals shown decide)."""
    primary_endpoints: int
    """The Holm family's size: every primary endpoint evaluated in the run."""
    method: str
    predictions: list[PredictionResult]
    exploratory: list[Finding] = []
    """Exploratory findings beside the declared predictions (activation space: the shared axis)."""
