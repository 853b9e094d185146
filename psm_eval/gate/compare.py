"""What a gate compares: the arms and tasks in scope, the gated metrics, and the pre-checks that must
hold before any verdict (each failure is a PreconditionError, exit 3, naming which check)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psm_eval.errors import GateError, PreconditionError
from psm_eval.gate.baseline import MetricKey, Row, Side
from psm_eval.gate.policy import Policy, Settings
from psm_eval.records import MetricInfo

__all__ = ["Pairing", "Gated", "parse_arm_map", "plan", "check"]


@dataclass(frozen=True)
class Pairing:
    run_arm: str
    base_arm: str


@dataclass(frozen=True)
class Gated:
    """One metric of one arm pair that the policy gates."""

    pairing: Pairing
    key: MetricKey
    settings: Settings
    run_rows: list[Row]
    base_rows: list[Row]


def parse_arm_map(items: Sequence[str]) -> dict[str, str]:
    """`new=old` pairs: the run's arm `new` is compared with the baseline's arm `old`."""
    out: dict[str, str] = {}
    for item in items:
        new, eq, old = item.partition("=")
        if not eq or not new.strip() or not old.strip():
            raise GateError(f"--arm-map {item!r}: expected RUN_ARM=BASELINE_ARM")
        out[new.strip()] = old.strip()
    return out


def _pairings(run: Side, base: Side, arms: Sequence[str], arm_map: dict[str, str], notes: list[str]) -> list[Pairing]:
    for name in [*arms, *arm_map]:
        if name not in run.arms:
            raise GateError(f"arm '{name}' is not in the run (its arms: {', '.join(run.arms)})")
    chosen = list(arms) or list(run.arms)
    pairs = []
    for arm in chosen:
        old = arm_map.get(arm, arm)
        if old in base.arms:
            pairs.append(Pairing(arm, old))
        elif arms or arm in arm_map:
            raise PreconditionError(f"precondition failed: arm coverage: baseline arm '{old}' (for run arm '{arm}') "
                                    f"is not in the baseline {base.source} (its arms: {', '.join(base.arms)})")
        else:
            notes.append(f"run arm '{arm}' is not in the baseline: not gated")
    if not arms:
        covered = {p.base_arm for p in pairs}
        missing = [a for a in base.arms if a not in covered]
        if missing:
            raise PreconditionError(f"precondition failed: arm coverage: baseline arm(s) {', '.join(missing)} not in "
                                    "the run; gate a subset with --arm NAME or map arms with --arm-map NEW=OLD")
    return pairs


def _tasks(run: Side, base: Side, tasks: Sequence[str], notes: list[str]) -> list[str]:
    for t in tasks:
        if t not in run.tasks:
            raise GateError(f"task '{t}' is not in the run (its tasks: {', '.join(run.tasks)})")
    chosen = list(tasks) or list(base.tasks)
    missing = [t for t in chosen if t not in run.tasks]
    if missing:
        raise PreconditionError(f"precondition failed: task coverage: baseline task(s) {', '.join(missing)} not in "
                                "the run; gate a subset with --task NAME")
    notes += [f"run task '{t}' is not in the baseline: not gated" for t in run.tasks
              if t not in base.tasks and not tasks]
    return [t for t in chosen if t in base.tasks] or _no_task(tasks, base)


def _no_task(tasks: Sequence[str], base: Side) -> list[str]:
    raise PreconditionError(f"precondition failed: task coverage: none of {', '.join(tasks)} is in the baseline "
                            f"{base.source}")


def plan(run: Side, base: Side, policy: Policy, *, arms: Sequence[str] = (), tasks: Sequence[str] = (),
         arm_map: dict[str, str] | None = None) -> tuple[list[Gated], list[str]]:
    """The gated metrics (baseline metrics in scope that the policy gates) and notes on what is not gated."""
    notes: list[str] = []
    pairs = _pairings(run, base, arms, arm_map or {}, notes)
    scope = set(_tasks(run, base, tasks, notes))
    _check_tasks(run, base, scope)
    gated = []
    for p in pairs:
        for (arm, key), rows in sorted(base.scores.items(), key=str):
            task, scorer, metric, _ = key
            if arm != p.base_arm or task not in scope:
                continue
            settings = policy.settings(task, scorer, metric, p.run_arm, _declared(run, base, task, scorer, metric))
            if settings.gate:
                gated.append(Gated(p, key, settings, run.scores.get((p.run_arm, key), []), rows))
    for p in pairs:
        for arm, key in sorted(run.scores, key=str):
            if (arm == p.run_arm and key[0] in scope and (p.base_arm, key) not in base.scores
                    and policy.settings(key[0], key[1], key[2], arm, _declared(run, base, *key[:3])).gate):
                notes.append(f"{_name(key, arm)}: new in the run, no baseline: not gated")
    if not gated:
        raise PreconditionError("precondition failed: nothing to gate: no metric of the baseline is gated by the "
                                "policy for the arms and tasks in scope")
    return gated, notes


def _declared(run: Side, base: Side, task: str, scorer: str, metric: str) -> MetricInfo | None:
    """What the scorer declared about a metric: the run's declaration, else the baseline's."""
    return run.declarations.get((task, scorer, metric)) or base.declarations.get((task, scorer, metric))


def _name(key: MetricKey, arm: str) -> str:
    task, scorer, metric, other = key
    return f"{task}/{scorer}/{metric} [{arm}{' vs ' + other if other else ''}]"


def _check_tasks(run: Side, base: Side, scope: set[str]) -> None:
    for t in sorted(scope):
        a, b = run.tasks[t], base.tasks[t]
        if a.version != b.version or a.data_hash != b.data_hash or a.spec_hash != b.spec_hash:
            what = (f"v{a.version} in the run, v{b.version} in the baseline" if a.version != b.version else
                    "same version, different data" if a.data_hash != b.data_hash else
                    "same version and data, but a field that shapes the requests differs (prompt, system, "
                    "generation settings …)")
            raise PreconditionError(f"precondition failed: task versions differ: '{t}' is {what}; "
                                    "regenerate the baseline (see docs/ci.md)")


def _fail(check: str, problems: list[str]) -> None:
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise PreconditionError(f"precondition failed: {check}: {problems[0]}{more}")


def check(run: Side, base: Side, gated: list[Gated], policy: Policy) -> dict[int, float]:
    """Every pre-check, in a fixed order; returns each gated metric's error rate in the run."""
    pairs = {(g.key[0], g.key[1]) for g in gated}
    _fail("judge differs", [f"{t}/{s}: run judged by {run.judges.get((t, s), ()) or 'no judge'}, baseline by "
                            f"{base.judges.get((t, s), ()) or 'no judge'}" for t, s in sorted(pairs)
                            if run.judges.get((t, s), ()) != base.judges.get((t, s), ())])
    _fail("scorer versions differ", [f"{t}/{s}: v{run.versions.get((t, s))} in the run, v{base.versions.get((t, s))} "
                                     "in the baseline" for t, s in sorted(pairs)
                                     if (t, s) in run.versions and run.versions[(t, s)] != base.versions.get((t, s))])
    _fail("metric missing in the run", [f"{_name(g.key, g.pairing.run_arm)} has no score records (was it scored?)"
                                        for g in gated if not g.run_rows])
    _fail("0 scored", [f"{_name(g.key, g.pairing.run_arm)}: no scored value in the {side}" for g in gated
                       for side, rows in (("run", g.run_rows), ("baseline", g.base_rows))
                       if not any(r.value is not None for r in rows)])
    cover = []
    for task, run_arm in sorted({(g.key[0], g.pairing.run_arm) for g in gated}):
        want = {r.sample_id for g in gated if (g.key[0], g.pairing.run_arm) == (task, run_arm) for r in g.base_rows}
        have = {r.sample_id for g in gated if (g.key[0], g.pairing.run_arm) == (task, run_arm) for r in g.run_rows}
        share = len(want & have) / len(want) if want else 1.0
        if share < policy.preconditions.min_coverage:
            cover.append(f"{task} [{run_arm}]: the run has {len(want & have)} of the baseline's {len(want)} sample ids "
                         f"({share:.0%} < min_coverage {policy.preconditions.min_coverage:.0%})")
    _fail("sample-id coverage", cover)
    rates, over = {}, []
    for i, g in enumerate(gated):
        total, failed = run.generations.get((g.key[0], g.pairing.run_arm), (0, 0))
        unscored = sum(r.value is None for r in g.run_rows)
        rate = max(failed / total if total else 0.0, unscored / len(g.run_rows))
        rates[i] = rate
        if rate > g.settings.max_error_rate:
            over.append(f"{_name(g.key, g.pairing.run_arm)}: {rate:.1%} failed or unscored "
                        f"> max_error_rate {g.settings.max_error_rate:.1%}")
    _fail("error budget exceeded", over)
    return rates
