"""The CI regression gate: a run against a baseline, per metric and arm, noise-aware.

`gate(run, baseline, policy)` → `GateResult` (verdicts, exit code); `psm_eval.gate.outputs` renders it
as a console table, Markdown, JUnit XML and JSON. Exit codes: 0 pass, 1 regression, 2 usage error,
3 precondition error, 4 inconclusive (unless the policy maps it to pass or fail).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from psm_eval.gate.baseline import load_side
from psm_eval.gate.compare import Gated, check, parse_arm_map, plan
from psm_eval.gate.decide import INCONCLUSIVE, PASS, REGRESSION, MetricInput, decide
from psm_eval.gate.policy import Policy, load_policy
from psm_eval.score import stats
from psm_eval.score.stats import group_seed

__all__ = ["MetricResult", "PredictionResult", "GateResult", "gate", "run_gate", "parse_arm_map", "EXIT_PASS",
           "EXIT_REGRESSION",
           "EXIT_USAGE", "EXIT_PRECONDITION", "EXIT_INCONCLUSIVE", "PASS", "REGRESSION", "INCONCLUSIVE"]

EXIT_PASS, EXIT_REGRESSION, EXIT_USAGE, EXIT_PRECONDITION, EXIT_INCONCLUSIVE = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class MetricResult:
    """The verdict on one metric of one arm."""

    task: str
    scorer: str
    metric: str
    arm: str
    baseline_arm: str
    other_arm: str | None
    verdict: str
    """PASS | REGRESSION | INCONCLUSIVE (the statistics)."""
    outcome: str
    """pass | fail | inconclusive (after the policy's `inconclusive` mapping)."""
    reason: str
    direction: str
    margin: float
    alpha: float
    baseline_mean: float | None
    run_mean: float | None
    estimate: float | None
    """Mean paired difference run − baseline over samples scored on both sides."""
    ci_low: float | None
    ci_high: float | None
    ci_level: float | None
    mde: float | None
    n: int
    n_clusters: int
    error_rate: float


@dataclass(frozen=True)
class PredictionResult:
    """A declared prediction the policy requires, as the run decided it."""

    id: str
    title: str
    verdict: str
    """The run's verdict: supported | contradicted | inconclusive."""
    required: str
    """supported | not_contradicted"""
    outcome: str
    """pass | fail"""
    sentence: str


@dataclass(frozen=True)
class GateResult:
    status: str
    """pass | regression | inconclusive | precondition"""
    exit_code: int
    run: str
    baseline: str
    policy: str
    metrics: list[MetricResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    predictions: list[PredictionResult] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _mean(values: dict[str, list[float]], ids: list[str]) -> float | None:
    return float(np.mean([np.mean(values[i]) for i in ids])) if ids else None


def _inputs(gated: list[Gated], policy: Policy) -> tuple[list[MetricInput], list[tuple[float | None, float | None]]]:
    inputs, means = [], []
    for g in gated:
        run_v, _ = stats.per_sample((r.sample_id, r.cluster, r.value) for r in g.run_rows)
        base_v, clusters = stats.per_sample((r.sample_id, r.cluster, r.value) for r in g.base_rows)
        ids, d = stats.paired_differences(run_v, base_v)
        diffs, cl = np.array(d, dtype=np.float64), [clusters[i] for i in ids]
        seed = group_seed(policy.seed, *g.key, g.pairing.run_arm, g.pairing.base_arm)
        inputs.append(MetricInput(diffs, cl, g.settings, seed))
        means.append((_mean(base_v, ids), _mean(run_v, ids)))
    return inputs, means


_OUTCOME = {PASS: "pass", REGRESSION: "fail"}


def _predictions(run_path: Path, policy: Policy) -> list[PredictionResult]:
    """The predictions the policy requires, from the run's own summary (a precondition error when the run
    does not declare one, or could not evaluate it)."""
    from psm_eval.errors import PreconditionError
    from psm_eval.records import is_run_folder, read_summary

    if not policy.predictions:
        return []
    if not is_run_folder(run_path) or not (Path(run_path) / "summary.json").is_file():
        raise PreconditionError(f"the policy requires predictions {', '.join(policy.predictions)}, but {run_path} "
                                "is not a scored run folder")
    psm = read_summary(run_path).psm
    declared = {p.id: p for p in psm.predictions} if psm else {}
    missing = [i for i in policy.predictions if i not in declared]
    if missing:
        raise PreconditionError(f"the policy requires predictions the run does not declare: {', '.join(missing)} "
                                f"(declared: {', '.join(declared) or 'none'})")
    out = []
    for pid, required in policy.predictions.items():
        p = declared[pid]
        if p.verdict == "not evaluated":
            raise PreconditionError(f"prediction {pid} could not be evaluated on this run: {p.reason}")
        ok = p.verdict == "supported" or (required == "not_contradicted" and p.verdict != "contradicted")
        out.append(PredictionResult(pid, p.title, p.verdict, required, "pass" if ok else "fail", p.sentence))
    return out


def gate(run_path: Path, baseline_path: Path, policy_path: Path | None = None, *, arms: Sequence[str] = (),
         tasks: Sequence[str] = (), arm_map: dict[str, str] | None = None) -> GateResult:
    """Compare a run with a baseline (run folder or baseline file). Raises PreconditionError (exit 3)
    or GateError (exit 2) before any verdict; otherwise returns the verdicts and the exit code."""
    policy, policy_name = load_policy(policy_path)
    run, base = load_side(run_path), load_side(baseline_path)
    gated, notes = plan(run, base, policy, arms=arms, tasks=tasks, arm_map=arm_map)
    rates = check(run, base, gated, policy)
    required = _predictions(run_path, policy)
    inputs, means = _inputs(gated, policy)
    results = []
    for i, (g, d) in enumerate(zip(gated, decide(inputs, power=policy.power))):
        s = g.settings
        outcome = _OUTCOME.get(d.verdict, s.inconclusive)
        results.append(MetricResult(
            task=g.key[0], scorer=g.key[1], metric=g.key[2], arm=g.pairing.run_arm, baseline_arm=g.pairing.base_arm,
            other_arm=g.key[3], verdict=d.verdict, outcome=outcome, reason=d.reason, direction=s.direction,
            margin=s.margin, alpha=s.alpha, baseline_mean=means[i][0], run_mean=means[i][1], estimate=d.estimate,
            ci_low=d.ci_low, ci_high=d.ci_high, ci_level=d.ci_level, mde=d.mde, n=d.n, n_clusters=d.n_clusters,
            error_rate=rates[i]))
    outcomes = {r.outcome for r in results} | {p.outcome for p in required}
    status, code = (("regression", EXIT_REGRESSION) if "fail" in outcomes else
                    ("inconclusive", EXIT_INCONCLUSIVE) if "inconclusive" in outcomes else ("pass", EXIT_PASS))
    return GateResult(status, code, str(run_path), str(baseline_path), policy_name, results, notes,
                      predictions=required)


def run_gate(run_path: Path, baseline_path: Path, policy_path: Path | None = None, **kwargs: Any) -> GateResult:
    """`gate`, but a precondition failure comes back as a result (exit 3) so it can still be written out."""
    from psm_eval.errors import PreconditionError

    try:
        return gate(run_path, baseline_path, policy_path, **kwargs)
    except PreconditionError as exc:
        return GateResult("precondition", EXIT_PRECONDITION, str(run_path), str(baseline_path),
                          str(policy_path or "built-in default policy"), error=str(exc))
