"""Portable baselines: the per-sample scores of a run, without its generations or prompts.

`export_baseline(run_dir)` builds the record `psm-eval baseline export` writes; `load_side(path)` reads
either a run folder or such a file into the same `Side`, which is all the gate ever looks at.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psm_eval.errors import GateError, PreconditionError, StoreError
from psm_eval.records import (
    SCORES,
    ArmEntry,
    Baseline,
    BaselineMetric,
    BaselineTask,
    GenerationCount,
    JudgeEntry,
    Manifest,
    MetricInfo,
    PortableArm,
    Score,
    iter_generations,
    read_baseline,
    read_manifest,
    read_scores,
    read_summary,
    write_baseline,
)
from psm_eval.records.baseline import PortableModel, PortableRenderer

__all__ = ["Row", "Side", "MetricKey", "export_baseline", "write_baseline_file", "load_side"]

MetricKey = tuple[str, str, str, str | None]
"""(task, scorer, metric, other_arm): one gated metric of an arm (overall, stratum None)."""


@dataclass(frozen=True)
class Row:
    """One overall score record, reduced to what the gate needs."""

    sample_id: str
    cluster: str
    turn: int | None
    repeat: int | None
    value: float | None
    unscored: str | None


@dataclass(frozen=True)
class Side:
    """One side of a gate comparison (the run or the baseline), read from a run folder or a baseline file."""

    source: str
    run_id: str
    tasks: dict[str, BaselineTask]
    arms: list[str]
    generations: dict[tuple[str, str], tuple[int, int]]
    """(task, arm) → (generation records, failed ones)."""
    judges: dict[tuple[str, str], tuple[str, ...]]
    """(task, scorer) → the judge specs behind its scores (empty for judge-free scorers)."""
    scores: dict[tuple[str, MetricKey], list[Row]]
    """(arm, metric key) → its overall score records."""
    versions: dict[tuple[str, str], str]
    """(task, scorer) → scorer version."""
    binary: dict[MetricKey, bool]
    declarations: dict[tuple[str, str, str], MetricInfo]
    """(task, scorer, metric) → what the scorer declared (direction, kind …)."""


def _portable_arm(arm: ArmEntry) -> PortableArm:
    """An arm as the manifest records it, minus anything machine-specific or prompt-like."""
    args = {k: (Path(v).name if isinstance(v, str) and v.startswith("/") else v) for k, v in arm.model.args.items()}
    return PortableArm(name=arm.name, model=PortableModel(type=arm.model.type, args=args),
                       renderer=PortableRenderer(kind=arm.renderer.kind, template_hash=arm.renderer.template_hash),
                       system_sha256=hashlib.sha256(arm.system.encode()).hexdigest() if arm.system else None,
                       max_gen_toks=arm.max_gen_toks, temperature=arm.temperature, top_p=arm.top_p)


def _generation_counts(run_dir: Path) -> Counter:
    counts: Counter = Counter()
    for r in iter_generations(run_dir):
        counts[(r.task, r.arm, "total")] += 1
        counts[(r.task, r.arm, "failed")] += not r.ok
    return counts


def _scores(run_dir: Path) -> list[Score]:
    if not (run_dir / SCORES).exists():
        raise PreconditionError(f"{run_dir}: no {SCORES}: the run was not scored (run `psm-eval score {run_dir}`)")
    return read_scores(run_dir)


def _declared(run_dir: Path) -> list[MetricInfo]:
    try:
        return read_summary(run_dir).metrics
    except StoreError as exc:
        raise PreconditionError(f"{run_dir}: its summary cannot be read ({exc}); "
                                f"run `psm-eval score {run_dir}`") from None


def _tasks(manifest: Manifest) -> list[BaselineTask]:
    return [BaselineTask(name=t.name, version=t.version, data_hash=t.data_hash, spec_hash=t.spec_hash, kind=t.kind,
                         mode=t.mode, n_samples=t.n_samples) for t in manifest.tasks]


def export_baseline(run_dir: Path) -> Baseline:
    """The portable baseline of a scored run (see docs/ci.md for the format)."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    groups: dict[tuple, list[Any]] = {}
    judges: set[tuple[str, str, str]] = set()
    for s in _scores(run_dir):
        judges |= {(s.task, s.scorer, j.spec) for j in s.judge}
        if s.stratum is not None:
            continue
        key = (s.task, s.scorer, s.scorer_version, s.metric, s.arm, s.other_arm, s.binary)
        cluster = s.cluster if s.cluster != s.sample_id else None  # null: the sample itself
        groups.setdefault(key, []).append((s.sample_id, cluster, s.turn, s.repeat, s.value, s.unscored))
    counts = _generation_counts(run_dir)
    pairs = sorted({(t, a) for t, a, _ in counts})
    return Baseline(
        run_id=manifest.run_id, exported_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        seed=manifest.seed, git_revision=manifest.git_revision, packages=manifest.packages, tasks=_tasks(manifest),
        arms=[_portable_arm(a) for a in manifest.arms],
        generations=[GenerationCount(task=t, arm=a, total=counts[(t, a, "total")], failed=counts[(t, a, "failed")])
                     for t, a in pairs],
        judges=[JudgeEntry(task=t, scorer=s, spec=j) for t, s, j in sorted(judges, key=str)],
        metrics=[BaselineMetric(task=k[0], scorer=k[1], scorer_version=k[2], metric=k[3], arm=k[4], other_arm=k[5],
                                binary=k[6], rows=rows) for k, rows in sorted(groups.items(), key=str)],
        declarations=_declared(run_dir))


def write_baseline_file(run_dir: Path, out: Path) -> Path:
    """Export a run's baseline and write it (strict JSON, one metric per line, atomically)."""
    return write_baseline(out, export_baseline(run_dir))


def _value(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _row(sample_id: str, cluster: str | None, turn: Any, repeat: Any, value: Any, unscored: Any) -> Row:
    v = _value(value)
    reason = unscored if v is None else None
    if v is None and not reason:
        reason = "non-finite value" if value is not None else "unscored"
    return Row(str(sample_id), str(cluster or sample_id), turn, repeat, v, reason)


def _judge_map(items: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str], tuple[str, ...]]:
    out: dict[tuple[str, str], set[str]] = {}
    for task, scorer, spec in items:
        out.setdefault((task, scorer), set()).add(str(spec))
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _declaration_map(items: Iterable[MetricInfo]) -> dict[tuple[str, str, str], MetricInfo]:
    return {(m.task, m.scorer, m.metric): m for m in items}


def _side_from_file(path: Path) -> Side:
    try:
        data = read_baseline(path)
    except StoreError as exc:
        raise GateError(str(exc)) from None
    scores: dict[tuple[str, MetricKey], list[Row]] = {}
    versions, binary = {}, {}
    for m in data.metrics:
        key = (m.task, m.scorer, m.metric, m.other_arm)
        scores[(m.arm, key)] = [_row(*r) for r in m.rows]
        versions[(m.task, m.scorer)] = m.scorer_version
        binary[key] = m.binary
    return Side(source=str(path), run_id=data.run_id, tasks={t.name: t for t in data.tasks},
                arms=[a.name for a in data.arms],
                generations={(g.task, g.arm): (g.total, g.failed) for g in data.generations},
                judges=_judge_map((j.task, j.scorer, j.spec) for j in data.judges), scores=scores, versions=versions,
                binary=binary, declarations=_declaration_map(data.declarations))


def _side_from_run(run_dir: Path) -> Side:
    manifest = read_manifest(run_dir)
    scores: dict[tuple[str, MetricKey], list[Row]] = {}
    versions, binary, judges = {}, {}, []
    for s in _scores(run_dir):
        judges += [(s.task, s.scorer, j.spec) for j in s.judge]
        if s.stratum is not None:
            continue
        key = (s.task, s.scorer, s.metric, s.other_arm)
        scores.setdefault((s.arm, key), []).append(_row(s.sample_id, s.cluster, s.turn, s.repeat, s.value, s.unscored))
        versions[(s.task, s.scorer)] = s.scorer_version
        binary[key] = s.binary
    counts = _generation_counts(run_dir)
    return Side(source=str(run_dir), run_id=manifest.run_id, tasks={t.name: t for t in _tasks(manifest)},
                arms=manifest.arm_names,
                generations={(t, a): (counts[(t, a, "total")], counts[(t, a, "failed")]) for t, a, _ in counts},
                judges=_judge_map(judges), scores=scores, versions=versions, binary=binary,
                declarations=_declaration_map(_declared(run_dir)))


def load_side(path: Path) -> Side:
    """A run folder (with scores.jsonl) or a baseline file, as the gate sees it."""
    path = Path(path)
    if path.is_dir():
        return _side_from_run(path)
    if path.is_file():
        return _side_from_file(path)
    raise GateError(f"{path}: no such run folder or baseline file")
