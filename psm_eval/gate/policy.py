"""The gate policy: per metric and arm, direction, margin, alpha, sample and error budgets, and what
INCONCLUSIVE means. Read from YAML (safe_load), validated with located one-line errors."""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from psm_eval.errors import GateError
from psm_eval.records import MetricInfo
from psm_eval.specs import load_yaml, validate

__all__ = ["Settings", "Rule", "Preconditions", "Policy", "load_policy"]

Direction = Literal["higher", "lower"]
Required = Literal["supported", "not_contradicted"]
Inconclusive = Literal["pass", "fail", "inconclusive"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Settings(_Strict):
    """What the gate does with one metric of one arm."""

    gate: bool = True
    """False: the metric is reported nowhere and never fails the gate."""
    direction: Direction = "higher"
    """Which way is better: `higher` (accuracy) or `lower` (refusal rate)."""
    margin: float = Field(0.05, ge=0)
    """Largest acceptable worsening, in the metric's own units (0.05 = five points of accuracy)."""
    alpha: float = Field(0.05, gt=0, lt=1)
    """Family-wise error rate of a false REGRESSION (Holm across the gated metrics)."""
    min_samples: int = Field(10, ge=1)
    """Fewer paired samples than this: INCONCLUSIVE without a test."""
    max_error_rate: float = Field(0.05, ge=0, le=1)
    """Largest share of failed generations or unscored records in the run (else a precondition error)."""
    inconclusive: Inconclusive = "inconclusive"
    """What an INCONCLUSIVE verdict does: `pass` (exit 0), `fail` (exit 1) or `inconclusive` (exit 4)."""


class Rule(_Strict):
    """Settings for the metrics matching every given pattern (shell-style: `*`, `?`, `[ab]`)."""

    task: str = "*"
    scorer: str = "*"
    metric: str = "*"
    arm: str = "*"
    """The run's arm name (after --arm-map, still the run's name)."""
    gate: bool | None = None
    direction: Direction | None = None
    margin: float | None = Field(None, ge=0)
    alpha: float | None = Field(None, gt=0, lt=1)
    min_samples: int | None = Field(None, ge=1)
    max_error_rate: float | None = Field(None, ge=0, le=1)
    inconclusive: Inconclusive | None = None

    def matches(self, task: str, scorer: str, metric: str, arm: str) -> bool:
        return all(fnmatchcase(v, p) for v, p in
                   ((task, self.task), (scorer, self.scorer), (metric, self.metric), (arm, self.arm)))

    def overrides(self) -> dict:
        return {k: v for k, v in self.model_dump().items()
                if v is not None and k not in ("task", "scorer", "metric", "arm")}


class Preconditions(_Strict):
    """Checks made before any verdict; a failure is exit 3."""

    min_coverage: float = Field(0.95, ge=0, le=1)
    """Share of the baseline's sample ids (per task and arm) the run must have."""


class Policy(_Strict):
    """A gate policy file (see docs/ci.md)."""

    defaults: Settings = Settings()
    metrics: list[Rule] = []
    """Rules applied in order after the built-in ones; a later rule overrides an earlier one."""
    preconditions: Preconditions = Preconditions()
    builtin_rules: bool = True
    """Apply what each scorer declares about its metrics: its direction (refusals: lower is better), and
    descriptive metrics (direction `neither`: mixture shares, token shift, self-reports) left ungated."""
    power: float = Field(0.8, gt=0, lt=1)
    """Power at which the minimum detectable effect (MDE) is reported."""
    seed: int = 0
    """Seed of the bootstrap (the gate's verdicts are deterministic)."""
    predictions: dict[str, Required] = {}
    """Declared PSM predictions the run itself must meet (its summary's `psm` block), by id: `supported`,
    or `not_contradicted` (inconclusive passes). A prediction the run does not declare, or cannot evaluate,
    is a precondition error."""

    def settings(self, task: str, scorer: str, metric: str, arm: str,
                 declared: MetricInfo | None = None) -> Settings:
        """The defaults, then the scorer's declaration (unless `builtin_rules: false`), then the rules."""
        values = self.defaults.model_dump()
        if declared is not None and self.builtin_rules:
            values.update({"gate": False} if declared.direction == "neither" else {"direction": declared.direction})
        for rule in self.metrics:
            if rule.matches(task, scorer, metric, arm):
                values.update(rule.overrides())
        return Settings(**values)


def load_policy(path: Path | None) -> tuple[Policy, str]:
    """The policy in `path` (or the built-in default) and where it came from."""
    if path is None:
        return Policy(), "built-in default policy"
    data, lines = load_yaml(Path(path), GateError)
    return validate(Policy, data if data is not None else {}, str(path), lines, GateError), str(path)
