"""Portable baselines for the gate: a run's per-sample scores and what they depend on, without its
generations or prompts (`psm-eval baseline export`)."""

from __future__ import annotations

from typing import Literal

from psm_eval.records.base import Record
from psm_eval.records.summary import MetricInfo

__all__ = ["BASELINE_FORMAT", "BASELINE_SCHEMA", "COLUMNS", "BaselineRow", "BaselineTask", "PortableArm",
           "GenerationCount", "JudgeEntry", "BaselineMetric", "Baseline"]

BASELINE_FORMAT = "psm_eval.baseline"
BASELINE_SCHEMA = 2
COLUMNS = ("sample_id", "cluster", "turn", "repeat", "value", "unscored")
BaselineRow = tuple[str, str | None, int | None, int | None, float | None, str | None]
"""One overall score: sample id, cluster (None: the sample itself), turn, repeat, value, unscored reason."""


class BaselineTask(Record):
    name: str
    version: str
    data_hash: str
    spec_hash: str
    """The task's request-shaping hash (`TaskEntry.spec_hash`): the gate refuses a run of another task."""
    kind: str
    mode: str
    n_samples: int


class PortableModel(Record):
    type: str
    args: dict[str, str | int | float | bool]
    """Arguments, with absolute paths reduced to their last part (machine-independent)."""


class PortableRenderer(Record):
    kind: str | None
    template_hash: str | None


class PortableArm(Record):
    """An arm minus anything machine-specific or prompt-like."""

    name: str
    model: PortableModel
    renderer: PortableRenderer
    system_sha256: str | None
    max_gen_toks: int | None
    temperature: float | None
    top_p: float | None


class GenerationCount(Record):
    task: str
    arm: str
    total: int
    failed: int


class JudgeEntry(Record):
    task: str
    scorer: str
    spec: str


class BaselineMetric(Record):
    """Every overall score of one metric of one arm (rows in `COLUMNS` order)."""

    task: str
    scorer: str
    scorer_version: str
    metric: str
    arm: str
    other_arm: str | None
    binary: bool
    rows: list[BaselineRow]


class Baseline(Record):
    """The baseline file."""

    format: Literal["psm_eval.baseline"] = "psm_eval.baseline"
    schema_version: int = BASELINE_SCHEMA
    run_id: str
    exported_at: str
    seed: int | None
    git_revision: str | None
    packages: dict[str, str | None]
    tasks: list[BaselineTask]
    arms: list[PortableArm]
    generations: list[GenerationCount]
    judges: list[JudgeEntry]
    columns: list[str] = list(COLUMNS)
    metrics: list[BaselineMetric]
    declarations: list[MetricInfo]
    """What each metric's scorer declared (direction, kind …), so the gate reads no scorer names."""
