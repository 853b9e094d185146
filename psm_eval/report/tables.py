"""The one table model every report format is built from (HTML, xlsx, JSON, pandas).

Rows are typed, built from the run store only (`RunData`), and hold plain values: the renderers
decide how to escape or encode them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from psm_eval.records import (
    ArmEntry,
    GenerationRecord,
    JudgeQuality,
    MetricInfo,
    PromptRecord,
    Score,
    SummaryRecord,
)
from psm_eval.report.errors import ReportError
from psm_eval.report.load import RunData
from psm_eval.report.paths import shorten_paths
from psm_eval.report.task_samples import SampleInfo, load_sample_info
from psm_eval.score import stats

__all__ = ["MetricRow", "DiffRow", "HeadlineRow", "SampleRow", "PairRow", "SeriesPoint", "ReportTables",
           "FailureCount", "SampleInfo", "ACTIVATION_COLUMNS", "build_tables", "pick_arms", "sample_table",
           "SIGNIFICANCE", "HEADLINE_FAMILIES"]

SIGNIFICANCE = 0.05
# The families the headline shows, in order (which metric of a family: its scorer's `headline` declaration)
HEADLINE_FAMILIES = ("helpfulness", "accuracy", "persona consistency")


@dataclass(frozen=True)
class MetricRow:
    """One per-arm statistic of the summary (mean, slope, pooled entropy …) with its interval."""

    task: str
    scorer: str
    metric: str
    stratum: str | None
    """`by=value`, or None for the overall figure."""
    statistic: str
    arm: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    n_unscored: int
    family: str | None
    """The metric's declared family (accuracy, helpfulness, persona consistency …); None when undeclared."""
    direction: str
    """`higher`, `lower` or `neither` is better, as declared."""
    headline: bool
    experimental: bool = False
    """Declared experimental: below its validity bar (docs/scorers.md)."""


@dataclass(frozen=True)
class DiffRow:
    """A paired difference arm_a − arm_b (by sample id) with its interval and tests."""

    task: str
    scorer: str
    metric: str
    stratum: str | None
    arm_a: str
    arm_b: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    p_value: float | None
    p_holm: float | None
    significant: bool
    """Holm-adjusted p (the raw p when no adjustment is stored) below 0.05."""
    direction: str = "neither"
    """Which way is better for the metric, as declared."""


@dataclass(frozen=True)
class HeadlineRow:
    """The PSM headline for one metric: the prompted base arm against the post-trained arm."""

    category: str
    """The metric's family."""
    direction: str
    task: str
    scorer: str
    metric: str
    baseline: float | None
    baseline_ci: tuple[float | None, float | None]
    target: float | None
    target_ci: tuple[float | None, float | None]
    difference: float | None
    """target − baseline, paired by sample id."""
    difference_ci: tuple[float | None, float | None]
    p_value: float | None
    """Unadjusted, exploratory: only the declared predictions' primary endpoints are adjusted."""
    significant: bool
    share: float | None
    """baseline / target: how close the base arm comes (None when the target is 0 or missing)."""
    experimental: bool = False


@dataclass(frozen=True)
class SampleRow:
    """One reply: a sample × arm × turn × repeat, with what was sent and how it scored."""

    task: str
    sample_id: str
    arm: str
    turn: int
    repeat: int
    kind: str
    status: str
    prompt: str
    reply: str
    error: str
    scores: dict[str, float | None]
    """`scorer.metric` → value (overall scores only; None = unscored)."""
    unscored: dict[str, str]
    judge: list[str]
    """The judges' raw replies (their rationale), in order."""
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    """`scorer.metric` → the score's detail (extracted answer, matched reference, token ranks …), where any."""
    sample_scores: list[str] = field(default_factory=list)
    """The `scorer.metric` names scored over the whole sample (not this turn alone)."""


@dataclass(frozen=True)
class FailureCount:
    """Failed generation records of one arm and failure kind (the manifest's counts)."""

    arm: str
    kind: str
    count: int


@dataclass(frozen=True)
class PairRow:
    """The baseline and target arms' replies to the same sample side by side."""

    task: str
    sample_id: str
    turn: int
    repeat: int
    baseline_reply: str
    target_reply: str
    baseline_scores: dict[str, float | None]
    target_scores: dict[str, float | None]


@dataclass(frozen=True)
class SeriesPoint:
    """A point of a chart series, as a metric's declaration asks: by a stratum's values (token position),
    by turn (drift), or shares of classes (persona mixture)."""

    chart: str
    """The chart's title."""
    kind: str
    """`by_stratum`, `by_turn` or `shares` (the declared chart)."""
    arm: str
    x: str
    y: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    x_title: str = ""
    """What x is (`user turn`, the stratum key)."""


@dataclass
class ReportTables:
    """Everything a report shows, as typed rows."""

    run_id: str
    run_status: str
    arms: list[str]
    tasks: list[str]
    baseline_arm: str | None
    target_arm: str | None
    arm_renderers: dict[str, str]
    run_info: list[tuple[str, str]]
    metrics: list[MetricRow] = field(default_factory=list)
    diffs: list[DiffRow] = field(default_factory=list)
    headline: list[HeadlineRow] = field(default_factory=list)
    samples: list[SampleRow] = field(default_factory=list)
    pairs: list[PairRow] = field(default_factory=list)
    series: list[SeriesPoint] = field(default_factory=list)
    unscored: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    score_names: list[str] = field(default_factory=list)
    judge_arms: list[str] = field(default_factory=list)
    """The evaluated arms the judge is (a self-judged run): shown as a warning."""
    predictions: list[dict[str, Any]] = field(default_factory=list)
    """The PSM verdict (summary.json's `psm` block): one entry per declared prediction, endpoints inside."""
    findings: list[dict[str, Any]] = field(default_factory=list)
    """Exploratory findings beside the verdict (the axis shared by the base and post-trained models)."""
    arm_notes: list[str] = field(default_factory=list)
    """Why a headline role has no arm (a run without a transcript-rendered or a post-trained arm)."""
    failures: list[FailureCount] = field(default_factory=list)
    task_modes: dict[str, str] = field(default_factory=dict)
    """Task → `gold` or `rollout` (a rollout's turns are one transcript)."""
    directions: dict[str, str] = field(default_factory=dict)
    """`scorer.metric` → its declared direction (`higher`, `lower`, `neither`)."""
    sample_info: list[SampleInfo] = field(default_factory=list)
    """User turns, references and metadata per sample, from the run's task folders when unchanged."""
    sample_notes: list[str] = field(default_factory=list)
    """Tasks whose samples' references could not be shown, and why."""
    activation: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Persona in activation space (summary.json's activation tables): `directions`, `axis cosine`,
    `convergent validity`, `gap closed`, and `positions` (each arm's mean position per axis metric and task)."""

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready dict (the `report.json` format)."""
        out = asdict(self)
        out["run_info"] = [list(kv) for kv in self.run_info]
        return out


def sample_table(t: ReportTables) -> tuple[list[str], list[list[Any]]]:
    """The flat samples table (header, rows) shared by the xlsx Samples sheet and `samples.csv`, so the
    two can never disagree: one row per reply, one column per overall `scorer.metric`."""
    header = ["task", "sample_id", "arm", "turn", "repeat", "status", "prompt", "reply", "error", *t.score_names,
              "judge rationale"]
    rows = [[r.task, r.sample_id, r.arm, r.turn, r.repeat, r.status, r.prompt, r.reply, r.error,
             *[r.scores.get(n) for n in t.score_names], "\n\n".join(r.judge)] for r in t.samples]
    return header, rows


def _stratum(s: Any) -> str | None:
    return None if s is None else f"{s.by}={s.value}"


def _arm_kind(arm: ArmEntry) -> str:
    return arm.renderer.kind or arm.render.partition(":")[0]


def _model_id(arm: ArmEntry) -> str:
    return f"{arm.model.type}:{sorted(arm.model.args.items())}"


def pick_arms(run: RunData, baseline: str | None = None, target: str | None = None) -> tuple[str | None, str | None]:
    """The headline's arms: the first transcript-rendered arm, and the first chat-rendered arm on
    another model (the post-trained one). Named arms win; an unknown name is a ReportError."""
    arms = run.manifest.arms
    names = [a.name for a in arms]
    for given in (baseline, target):
        if given is not None and given not in names:
            raise ReportError(f"arm {given!r} is not in run {run.run_id} (arms: {', '.join(names)})")
    if baseline is None:
        baseline = next((a.name for a in arms if _arm_kind(a) == "transcript"), names[0] if names else None)
    if target is None:
        base_model = next((_model_id(a) for a in arms if a.name == baseline), None)
        chats = [a for a in arms if _arm_kind(a) == "chat" and a.name != baseline]
        other = [a for a in chats if _model_id(a) != base_model]
        picks = other or chats or [a for a in arms if a.name != baseline]
        target = picks[0].name if picks else None
    return baseline, target


def _prompt_text(prompt: PromptRecord | None) -> str:
    if prompt is None:
        return ""
    if prompt.text is not None:
        return prompt.text
    return "\n\n".join(f"[{m.get('role')}]\n{m.get('content')}" for m in prompt.messages or [])


def _reply_text(g: GenerationRecord) -> str:
    if g.kind == "loglikelihood" and g.continuations:
        vals = [lp[0] for lp in g.logprobs or []]
        best = max(range(len(vals)), key=lambda i: vals[i], default=None)
        return "\n".join(f"{'▶' if i == best else ' '} {'' if i >= len(vals) else f'{vals[i]:.3f}'}  {c}"
                         for i, c in enumerate(g.continuations))
    return "" if g.output is None else g.output


def _scores_by_reply(scores: Iterable[Score]) -> tuple[dict, list[str]]:
    """(task, sample, arm, turn, repeat) → (values, unscored, judge replies); per-sample scores
    (turn null) are keyed with turn/repeat None and merged into every reply of that sample × arm."""
    table: dict[tuple, tuple[dict, dict, list, dict]] = defaultdict(lambda: ({}, {}, [], {}))
    names: dict[str, None] = {}
    for s in scores:
        if s.stratum is not None:
            continue
        name = f"{s.scorer}.{s.metric}"
        names[name] = None
        values, unscored, judge, details = table[(s.task, s.sample_id, s.arm, s.turn, s.repeat)]
        values[name] = s.value
        if s.detail:
            details[name] = s.detail
        if s.unscored:
            unscored[name] = s.unscored
        for j in s.judge:
            if j.reply is not None:
                judge.append(f"{name}: {j.reply}")
            elif j.error:
                judge.append(f"{name}: judge error: {j.error}")
    return table, list(names)


def _samples(run: RunData) -> tuple[list[SampleRow], list[str]]:
    table, names = _scores_by_reply(run.scores)
    empty: tuple[dict, dict, list, dict] = ({}, {}, [], {})
    rows = []
    for g in run.generations:
        own = table.get((g.task, g.sample_id, g.arm, g.turn, g.repeat), empty)
        whole = table.get((g.task, g.sample_id, g.arm, None, None), empty)
        err = g.error
        rows.append(SampleRow(
            task=g.task, sample_id=g.sample_id, arm=g.arm, turn=g.turn, repeat=g.repeat, kind=g.kind,
            status=g.status, prompt=_prompt_text(g.prompt), reply=_reply_text(g),
            error=shorten_paths(f"{err.kind}: {err.message or ''}", run.path) if err else "",
            scores={**whole[0], **own[0]}, unscored={**whole[1], **own[1]}, judge=whole[2] + own[2],
            details={**whole[3], **own[3]}, sample_scores=list(whole[0])))
    return rows, names


def _pairs(samples: list[SampleRow], baseline: str | None, target: str | None) -> list[PairRow]:
    by_key = {(r.task, r.sample_id, r.arm, r.turn, r.repeat): r for r in samples}
    out: list[PairRow] = []
    if target is None:
        return out
    for r in samples:
        if r.arm != baseline:
            continue
        t = by_key.get((r.task, r.sample_id, target, r.turn, r.repeat))
        out.append(PairRow(task=r.task, sample_id=r.sample_id, turn=r.turn, repeat=r.repeat, baseline_reply=r.reply,
                           target_reply=t.reply if t else "", baseline_scores=r.scores,
                           target_scores=t.scores if t else {}))
    return out


def _declarations(run: RunData) -> dict[tuple[str, str, str], MetricInfo]:
    return {(m.task, m.scorer, m.metric): m for m in (run.summary.metrics if run.summary else [])}


def _metric_rows(records: list[SummaryRecord], declared: dict[tuple[str, str, str], MetricInfo]
                 ) -> tuple[list[MetricRow], list[DiffRow]]:
    metrics, diffs = [], []
    for r in records:
        info = declared.get((r.task, r.scorer, r.metric))
        direction = info.direction if info else "neither"
        common: dict[str, Any] = {"task": r.task, "scorer": r.scorer, "metric": r.metric,
                                  "stratum": _stratum(r.stratum), "estimate": r.estimate, "ci_low": r.ci_low,
                                  "ci_high": r.ci_high, "n": r.n}
        if r.statistic == "difference" and r.arm_pair:
            p = r.p_holm if r.p_holm is not None else r.p_value
            diffs.append(DiffRow(**common, arm_a=r.arm_pair[0], arm_b=r.arm_pair[1], p_value=r.p_value,
                                 p_holm=r.p_holm, significant=p is not None and p < SIGNIFICANCE, direction=direction))
        elif r.arm is not None or r.arm_pair:
            arm = r.arm or " vs ".join(r.arm_pair or ())
            metrics.append(MetricRow(**common, statistic=r.statistic, arm=arm, n_unscored=r.n_unscored,
                                     family=info.family if info else None, direction=direction,
                                     headline=bool(info and info.headline),
                                     experimental=bool(info and info.experimental)))
    return metrics, diffs


def _headline(metrics: list[MetricRow], diffs: list[DiffRow], baseline: str | None,
              target: str | None) -> list[HeadlineRow]:
    if not baseline or not target:
        return []
    means = {(m.task, m.scorer, m.metric, m.arm): m for m in metrics if m.statistic == "mean" and m.stratum is None}
    rows = []
    for (task, scorer, metric, arm), b in means.items():
        t = means.get((task, scorer, metric, target))
        if arm != baseline or t is None or not b.headline or b.family not in HEADLINE_FAMILIES:
            continue
        d = next((x for x in diffs if (x.task, x.scorer, x.metric) == (task, scorer, metric) and x.stratum is None
                  and {x.arm_a, x.arm_b} == {baseline, target}), None)
        sign = 1.0 if d is None or d.arm_a == target else -1.0

        def flip(v: float | None, sign: float = sign) -> float | None:
            return None if v is None else sign * v

        lo, hi = (flip(d.ci_low), flip(d.ci_high)) if d else (None, None)
        share = (b.estimate / t.estimate) if b.estimate is not None and t.estimate else None
        rows.append(HeadlineRow(
            category=b.family or "", direction=b.direction, task=task, scorer=scorer, metric=metric,
            baseline=b.estimate, baseline_ci=(b.ci_low, b.ci_high), target=t.estimate,
            target_ci=(t.ci_low, t.ci_high), difference=flip(d.estimate) if d else None,
            difference_ci=(lo, hi) if sign > 0 else (hi, lo), p_value=d.p_value if d else None,
            significant=bool(d and d.significant), share=share, experimental=b.experimental))
    return sorted(rows, key=lambda r: (HEADLINE_FAMILIES.index(r.category), r.task, r.scorer, r.metric))


def _series(run: RunData, metrics: list[MetricRow], declared: dict[tuple[str, str, str], MetricInfo]
            ) -> list[SeriesPoint]:
    """Chart points, as each metric's declaration asks: by a stratum's values, shares, or by turn."""
    out = []
    for m in metrics:
        info = declared.get((m.task, m.scorer, m.metric))
        if info is None or m.statistic != "mean":
            continue
        if info.chart == "by_stratum" and m.stratum and m.stratum.startswith(f"{info.chart_by}="):
            out.append(SeriesPoint(f"{info.family}: {m.metric} by {info.chart_by} · {m.task}", "by_stratum", m.arm,
                                   m.stratum.split("=", 1)[1], m.estimate, m.ci_low, m.ci_high, m.n,
                                   x_title=info.chart_by or ""))
        if info.chart == "shares" and m.stratum is None:
            out.append(SeriesPoint(f"{info.family}: {m.task} (share of replies per class)", "shares", m.arm,
                                   m.metric, m.estimate, m.ci_low, m.ci_high, m.n))
    by_turn = {(k[0], k[1], k[2]) for k, i in declared.items() if i.chart == "by_turn"}
    turns: dict[tuple[str, str, str, str, int], list[tuple[float, str]]] = defaultdict(list)
    for s in run.scores:
        if (s.task, s.scorer, s.metric) in by_turn and s.stratum is None and s.value is not None:
            turns[(s.task, s.scorer, s.metric, s.arm, s.turn or 0)].append((s.value, s.cluster))
    for (task, scorer, metric, arm, turn), vals in sorted(turns.items()):
        # the interval the metric's kind asks for, resampling clusters (samples), as the summary does
        iv = stats.mean_interval([v for v, _ in vals], [c for _, c in vals], kind=declared[(task, scorer, metric)].kind)
        out.append(SeriesPoint(f"{metric} by turn · {task}", "by_turn", arm, str(turn), iv.estimate, iv.ci_low,
                               iv.ci_high, n=len(vals), x_title="user turn"))
    return out


def _run_info(run: RunData) -> list[tuple[str, str]]:
    m = run.manifest
    rows = [(k, str(getattr(m, k))) for k in ("run_id", "status", "created", "started", "ended", "seed", "limit",
                                               "git_revision", "schema_version")]
    for t in m.tasks:
        rows.append((f"task {t.name}",
                     f"v{t.version} {t.kind}/{t.mode} {t.n_samples} samples, data {t.data_hash[:12]}"))
    for a in m.arms:
        rows.append((f"arm {a.name}", f"{a.model.type}:{a.model.args} render={a.render} "
                                      f"template_hash={a.renderer.template_hash}"))
    for arm, c in m.counts.items():
        rows.append((f"counts {arm}", f"{c.ok} ok, {c.failed} failed"
                     + "".join(f", {n} {kind}" for kind, n in c.failures.items())))
    for k, v in m.packages.items():
        rows.append((f"package {k}", str(v)))
    s = run.summary
    if s is not None:
        own = f" (the evaluated arm {', '.join(s.judge_arms)}: it grades its own replies)" if s.judge_arms else ""
        rows += [("scored_at", s.scored_at), ("judge", f"{s.judge}{own}")]
        rows += [(f"judge quality {q.task}/{q.scorer}", _quality(q)) for q in s.judge_quality]
        shown = sorted({f"{m.scorer}.{m.metric}" for m in s.metrics if m.experimental})
        rows += [("experimental metrics", ", ".join(shown))] if shown else []
        rows += [(f"scorer {x.task}/{x.scorer}", f"v{x.scorer_version} {x.args}") for x in s.scorers]
    return [(k, shorten_paths(v, run.path)) for k, v in rows]


def _shortened(row: dict[str, Any], run: RunData) -> dict[str, Any]:
    return {k: shorten_paths(v, run.path) if isinstance(v, str) else v for k, v in row.items()}


def _failures(run: RunData) -> list[FailureCount]:
    out = []
    for arm, c in run.manifest.counts.items():
        kinds = c.failures or ({"failed": c.failed} if c.failed else {})
        out += [FailureCount(arm, kind, n) for kind, n in kinds.items() if n]
    return out


def _arm_notes(run: RunData, baseline: str | None, target: str | None) -> list[str]:
    """Say which headline role is missing rather than print an empty name."""
    kinds = {a.name: _arm_kind(a) for a in run.manifest.arms}
    notes = []
    if baseline is None:
        notes.append("no prompted base arm: this run has no arms")
    elif kinds.get(baseline) != "transcript":
        notes.append(f"no prompted base arm: no arm is rendered by a transcript, so {baseline} "
                     f"({kinds.get(baseline)}-rendered) stands in for it")
    if target is None:
        notes.append(f"no post-trained arm: {baseline} is this run's only arm, so there is nothing to compare it with"
                     if len(kinds) <= 1 else "no post-trained arm: no other arm to compare with")
    elif kinds.get(target) != "chat":
        notes.append(f"no post-trained arm: no chat-rendered arm on another model, so {target} "
                     f"({kinds.get(target)}-rendered) stands in for it")
    return notes


def _quality(q: JudgeQuality) -> str:
    parts = [f"{q.parse_failures} of {q.judged} {q.unit}s unparseable", f"{q.request_failures} requests failed"]
    if q.position_agreement is not None:
        parts.append(f"position-swap agreement {q.position_agreement:.2f} over {q.swap_pairs} pairs, first answer "
                     f"picked in {q.first_position_rate or 0:.2f} of decisive verdicts")
    return "; ".join(parts) + (f"; self-judge ({', '.join(q.self_judge_arms)})" if q.self_judge_arms else "")


def build_tables(run: RunData, *, baseline_arm: str | None = None, target_arm: str | None = None,
                 sample_info: bool = True) -> ReportTables:
    """The report's table model for one run (`sample_info`: read the samples' references and metadata from
    the run's task folders, when the run has records)."""
    baseline, target = pick_arms(run, baseline_arm, target_arm)
    info, notes = load_sample_info(run.manifest) if sample_info and run.generations else ([], [])
    declared = _declarations(run)
    metrics, diffs = _metric_rows(run.summary.records if run.summary else [], declared)
    samples, names = _samples(run)
    return ReportTables(
        run_id=run.run_id, run_status=run.manifest.status, arms=run.arm_names, tasks=run.task_names,
        baseline_arm=baseline, target_arm=target,
        arm_renderers={a.name: shorten_paths(a.render, run.path) for a in run.manifest.arms},
        run_info=_run_info(run), metrics=metrics, diffs=diffs, headline=_headline(metrics, diffs, baseline, target),
        samples=samples, pairs=_pairs(samples, baseline, target), series=_series(run, metrics, declared),
        unscored=[_shortened(u.model_dump(), run) for u in run.summary.unscored] if run.summary else [],
        skipped=[_shortened(k.model_dump(), run) for k in run.summary.skipped] if run.summary else [],
        score_names=names,
        judge_arms=list(run.summary.judge_arms) if run.summary else [],
        predictions=[p.model_dump(mode="json") for p in run.summary.psm.predictions]
        if run.summary and run.summary.psm else [],
        findings=[f.model_dump(mode="json") for f in run.summary.psm.exploratory]
        if run.summary and run.summary.psm else [],
        arm_notes=_arm_notes(run, baseline, target), failures=_failures(run),
        task_modes={t.name: t.mode for t in run.manifest.tasks},
        directions={f"{i.scorer}.{i.metric}": i.direction for i in declared.values()},
        sample_info=info, sample_notes=notes, activation=_activation(run, metrics))


ACTIVATION_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("positions", ("task", "metric", "arm", "estimate", "ci_low", "ci_high", "n")),
    ("axis cosine", ("a", "b", "direction", "layer", "cosine", "ci_low", "ci_high", "questions", "default_layer")),
    ("convergent validity", ("task", "activation", "scorer", "metric", "spearman", "ci_low", "ci_high", "n",
                             "clusters", "arms")),
    ("gap closed", ("task", "scorer", "metric", "steered", "base", "chat", "estimate", "ci_low", "ci_high", "effect",
                    "gap", "n", "note")),
    ("directions", ("label", "direction", "kind", "model", "positive", "negative", "layer", "separation",
                    "questions", "content_hash")),
)
"""How the reports show each activation-space table: its columns, in order."""


def _activation(run: RunData, metrics: list[MetricRow]) -> dict[str, list[dict[str, Any]]]:
    """The activation-space tables of the summary, and each arm's mean position on each axis metric."""
    if run.summary is None:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for table in run.summary.tables:
        if table.scorer == "activation" and not table.task:
            out[table.name] = [dict(r) for r in table.rows]
    axes = {(m.task, m.metric) for m in run.summary.metrics if m.scorer == "activation" and m.direction == "higher"}
    positions = [{"task": m.task, "metric": m.metric, "arm": m.arm, "estimate": m.estimate, "ci_low": m.ci_low,
                  "ci_high": m.ci_high, "n": m.n} for m in metrics
                 if m.scorer == "activation" and m.statistic == "mean" and m.stratum is None and m.arm
                 and (m.task, m.metric) in axes]
    if positions:
        out["positions"] = positions
    missing = sorted({(u.arm, u.reason) for u in run.summary.unscored if u.scorer == "activation" and u.reason
                      and u.reason.startswith("not measurable")})
    if missing:
        out["not measurable"] = [{"arm": a, "reason": r} for a, r in missing]
    return out
