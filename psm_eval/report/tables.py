"""The one table model every report format is built from (HTML, xlsx, JSON, pandas).

Rows are typed, built from the run store only (`RunData`), and hold plain values: the renderers
decide how to escape or encode them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from psm_eval.report.errors import ReportError
from psm_eval.report.load import RunData

__all__ = ["MetricRow", "DiffRow", "HeadlineRow", "SampleRow", "PairRow", "SeriesPoint", "ReportTables",
           "build_tables", "pick_arms", "category_of", "sample_table", "SIGNIFICANCE"]

SIGNIFICANCE = 0.05

# The metrics the headline reads, by category: (scorer, metric).
_CATEGORIES: dict[tuple[str, str], str] = {
    ("exact_match", "correct"): "accuracy", ("contains", "correct"): "accuracy", ("regex", "correct"): "accuracy",
    ("numeric", "correct"): "accuracy", ("choice_accuracy", "acc"): "accuracy",
    ("rubric_judge", "rating"): "helpfulness", ("pairwise_judge", "preference"): "helpfulness",
    ("reply_signals", "answered"): "helpfulness",
    ("frame_integrity", "in_frame"): "persona consistency", ("frame_integrity", "keeps_identity"): "persona consistency",
    ("drift", "consistent"): "persona consistency", ("persona_selection", "selects_persona"): "persona consistency",
    ("persona_mixture", "assistant"): "persona consistency",
    ("paraphrase_consistency", "agreement"): "persona consistency",
}
_CATEGORY_ORDER = ["helpfulness", "accuracy", "persona consistency"]


def category_of(scorer: str, metric: str) -> str | None:
    """`helpfulness`, `accuracy`, `persona consistency`, or None for a metric the headline skips."""
    return _CATEGORIES.get((scorer, metric))


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
    category: str | None


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


@dataclass(frozen=True)
class HeadlineRow:
    """The PSM headline for one metric: the prompted base arm against the post-trained arm."""

    category: str
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
    p_holm: float | None
    significant: bool
    share: float | None
    """baseline / target: how close the base arm comes (None when the target is 0 or missing)."""


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
    """A point of a chart series: token shift by position, drift by turn, persona shares."""

    chart: str
    arm: str
    x: str
    y: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0


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


def _stratum(s: dict | None) -> str | None:
    return None if not s else f"{s.get('by')}={s.get('value')}"


def _arm_kind(arm: dict) -> str:
    return str((arm.get("renderer") or {}).get("kind") or str(arm.get("render", "")).partition(":")[0])


def _model_id(arm: dict) -> str:
    model = arm.get("model") or {}
    return f"{model.get('type')}:{sorted((model.get('args') or {}).items())}"


def pick_arms(run: RunData, baseline: str | None = None, target: str | None = None) -> tuple[str | None, str | None]:
    """The headline's arms: the first transcript-rendered arm, and the first chat-rendered arm on
    another model (the post-trained one). Named arms win; an unknown name is a ReportError."""
    arms = run.manifest.get("arms", [])
    names = [a["name"] for a in arms]
    for given in (baseline, target):
        if given is not None and given not in names:
            raise ReportError(f"arm {given!r} is not in run {run.run_id} (arms: {', '.join(names)})")
    if baseline is None:
        baseline = next((a["name"] for a in arms if _arm_kind(a) == "transcript"), names[0] if names else None)
    if target is None:
        base_model = next((_model_id(a) for a in arms if a["name"] == baseline), None)
        chats = [a for a in arms if _arm_kind(a) == "chat" and a["name"] != baseline]
        other = [a for a in chats if _model_id(a) != base_model]
        pick = (other or chats or [a for a in arms if a["name"] != baseline] or [None])[0]
        target = pick["name"] if pick else None
    return baseline, target


def _prompt_text(prompt: dict | None) -> str:
    if not prompt:
        return ""
    if prompt.get("text") is not None:
        return str(prompt["text"])
    return "\n\n".join(f"[{m.get('role')}]\n{m.get('content')}" for m in prompt.get("messages") or [])


def _reply_text(g: dict) -> str:
    if g.get("kind") == "loglikelihood" and g.get("continuations"):
        lps = g.get("logprobs") or []
        vals = [lp[0] if lp else None for lp in lps]
        best = max((i for i, v in enumerate(vals) if v is not None), key=lambda i: vals[i], default=None)
        return "\n".join(f"{'▶' if i == best else ' '} {'' if i >= len(vals) or vals[i] is None else f'{vals[i]:.3f}'}"
                         f"  {c}" for i, c in enumerate(g["continuations"]))
    return "" if g.get("output") is None else str(g["output"])


def _scores_by_reply(scores: Iterable[dict]) -> tuple[dict, list[str]]:
    """(task, sample, arm, turn, repeat) → (values, unscored, judge replies); per-sample scores
    (turn null) are keyed with turn/repeat None and merged into every reply of that sample × arm."""
    table: dict[tuple, tuple[dict, dict, list]] = defaultdict(lambda: ({}, {}, []))
    names: dict[str, None] = {}
    for s in scores:
        if s.get("stratum"):
            continue
        name = f"{s['scorer']}.{s['metric']}"
        names[name] = None
        values, unscored, judge = table[(s["task"], s["sample_id"], s["arm"], s.get("turn"), s.get("repeat"))]
        values[name] = s.get("value")
        if s.get("unscored"):
            unscored[name] = str(s["unscored"])
        for j in s.get("judge") or []:
            if j.get("reply") is not None:
                judge.append(f"{name}: {j['reply']}")
            elif j.get("error"):
                judge.append(f"{name}: judge error: {j['error']}")
    return table, list(names)


def _samples(run: RunData) -> tuple[list[SampleRow], list[str]]:
    table, names = _scores_by_reply(run.scores)
    empty: tuple[dict, dict, list] = ({}, {}, [])
    rows = []
    for g in run.generations:
        turn, repeat = int(g.get("turn") or 0), int(g.get("repeat") or 0)
        own = table.get((g["task"], g["sample_id"], g["arm"], turn, repeat), empty)
        whole = table.get((g["task"], g["sample_id"], g["arm"], None, None), empty)
        err = g.get("error") or {}
        rows.append(SampleRow(
            task=g["task"], sample_id=str(g["sample_id"]), arm=g["arm"], turn=turn, repeat=repeat,
            kind=str(g.get("kind", "")), status=str(g.get("status", "")), prompt=_prompt_text(g.get("prompt")),
            reply=_reply_text(g), error=f"{err.get('kind', '')}: {err.get('message', '')}" if err else "",
            scores={**whole[0], **own[0]}, unscored={**whole[1], **own[1]}, judge=whole[2] + own[2]))
    return rows, names


def _pairs(samples: list[SampleRow], baseline: str | None, target: str | None) -> list[PairRow]:
    by_key = {(r.task, r.sample_id, r.arm, r.turn, r.repeat): r for r in samples}
    out = []
    for r in samples:
        if r.arm != baseline:
            continue
        t = by_key.get((r.task, r.sample_id, target, r.turn, r.repeat))
        out.append(PairRow(task=r.task, sample_id=r.sample_id, turn=r.turn, repeat=r.repeat, baseline_reply=r.reply,
                           target_reply=t.reply if t else "", baseline_scores=r.scores,
                           target_scores=t.scores if t else {}))
    return out


def _metric_rows(records: list[dict]) -> tuple[list[MetricRow], list[DiffRow]]:
    metrics, diffs = [], []
    for r in records:
        common = dict(task=r["task"], scorer=r["scorer"], metric=r["metric"], stratum=_stratum(r.get("stratum")),
                      estimate=r.get("estimate"), ci_low=r.get("ci_low"), ci_high=r.get("ci_high"), n=int(r.get("n") or 0))
        if r.get("statistic") == "difference" and r.get("arm_pair"):
            p = r.get("p_holm") if r.get("p_holm") is not None else r.get("p_value")
            diffs.append(DiffRow(**common, arm_a=r["arm_pair"][0], arm_b=r["arm_pair"][1], p_value=r.get("p_value"),
                                 p_holm=r.get("p_holm"), significant=p is not None and p < SIGNIFICANCE))
        elif r.get("arm") is not None or r.get("arm_pair"):
            arm = r.get("arm") or " vs ".join(r["arm_pair"])
            metrics.append(MetricRow(**common, statistic=str(r.get("statistic")), arm=arm,
                                     n_unscored=int(r.get("n_unscored") or 0),
                                     category=category_of(r["scorer"], r["metric"])))
    return metrics, diffs


def _headline(metrics: list[MetricRow], diffs: list[DiffRow], baseline: str | None, target: str | None) -> list[HeadlineRow]:
    if not baseline or not target:
        return []
    means = {(m.task, m.scorer, m.metric, m.arm): m for m in metrics if m.statistic == "mean" and m.stratum is None}
    rows = []
    for (task, scorer, metric, arm), b in means.items():
        cat = category_of(scorer, metric)
        t = means.get((task, scorer, metric, target))
        if arm != baseline or cat is None or t is None:
            continue
        d = next((x for x in diffs if (x.task, x.scorer, x.metric) == (task, scorer, metric) and x.stratum is None
                  and {x.arm_a, x.arm_b} == {baseline, target}), None)
        sign = 1.0 if d is None or d.arm_a == target else -1.0
        flip = (lambda v: None if v is None else sign * v)
        lo, hi = (flip(d.ci_low), flip(d.ci_high)) if d else (None, None)
        share = (b.estimate / t.estimate) if b.estimate is not None and t.estimate else None
        rows.append(HeadlineRow(
            category=cat, task=task, scorer=scorer, metric=metric, baseline=b.estimate, baseline_ci=(b.ci_low, b.ci_high),
            target=t.estimate, target_ci=(t.ci_low, t.ci_high), difference=flip(d.estimate) if d else None,
            difference_ci=(lo, hi) if sign > 0 else (hi, lo), p_holm=d.p_holm if d else None,
            significant=bool(d and d.significant), share=share))
    return sorted(rows, key=lambda r: (_CATEGORY_ORDER.index(r.category), r.task, r.scorer, r.metric))


def _series(run: RunData, metrics: list[MetricRow]) -> list[SeriesPoint]:
    out = []
    for m in metrics:
        if m.scorer == "token_shift" and m.statistic == "mean" and m.stratum and m.stratum.startswith("token_position="):
            out.append(SeriesPoint(f"token shift: {m.metric}", m.arm, m.stratum.split("=", 1)[1], m.estimate,
                                   m.ci_low, m.ci_high, m.n))
        if m.scorer == "persona_mixture" and m.statistic == "mean" and m.stratum is None and m.metric != "entropy":
            out.append(SeriesPoint(f"persona mixture: {m.task}", m.arm, m.metric, m.estimate, m.ci_low, m.ci_high, m.n))
    turns: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    for s in run.scores:
        if s["scorer"] == "drift" and s["metric"] == "consistent" and not s.get("stratum") and s.get("value") is not None:
            turns[(s["task"], s["arm"], int(s.get("turn") or 0))].append(float(s["value"]))
    for (task, arm, turn), vals in sorted(turns.items()):
        out.append(SeriesPoint(f"drift by turn: {task}", arm, str(turn), sum(vals) / len(vals), n=len(vals)))
    return out


def _run_info(run: RunData) -> list[tuple[str, str]]:
    m = run.manifest
    rows = [(k, str(m.get(k))) for k in ("run_id", "status", "created", "started", "ended", "seed", "limit",
                                          "git_revision", "schema_version") if k in m]
    for t in m.get("tasks", []):
        rows.append((f"task {t.get('name')}", f"v{t.get('version')} {t.get('kind')}/{t.get('mode')} "
                                              f"{t.get('n_samples')} samples, data {str(t.get('data_hash'))[:12]}"))
    for a in m.get("arms", []):
        model = a.get("model") or {}
        rows.append((f"arm {a.get('name')}", f"{model.get('type')}:{model.get('args')} render={a.get('render')} "
                                             f"template_hash={(a.get('renderer') or {}).get('template_hash')}"))
    for arm, c in (m.get("counts") or {}).items():
        rows.append((f"counts {arm}", f"{c.get('ok', 0)} ok, {c.get('failed', 0)} failed"))
    for k, v in (m.get("packages") or {}).items():
        rows.append((f"package {k}", str(v)))
    s = run.summary
    rows += [("scored_at", str(s.get("scored_at"))), ("judge", str(s.get("judge")))]
    rows += [(f"scorer {x.get('task')}/{x.get('scorer')}", f"v{x.get('scorer_version')} {x.get('args')}")
             for x in s.get("scorers", [])]
    return rows


def build_tables(run: RunData, *, baseline_arm: str | None = None, target_arm: str | None = None) -> ReportTables:
    """The report's table model for one run."""
    baseline, target = pick_arms(run, baseline_arm, target_arm)
    metrics, diffs = _metric_rows(run.summary.get("records", []))
    samples, names = _samples(run)
    return ReportTables(
        run_id=run.run_id, run_status=str(run.manifest.get("status")), arms=run.arm_names, tasks=run.task_names,
        baseline_arm=baseline, target_arm=target,
        arm_renderers={a["name"]: str(a.get("render")) for a in run.manifest.get("arms", [])},
        run_info=_run_info(run), metrics=metrics, diffs=diffs, headline=_headline(metrics, diffs, baseline, target),
        samples=samples, pairs=_pairs(samples, baseline, target), series=_series(run, metrics),
        unscored=list(run.summary.get("unscored", [])), skipped=list(run.summary.get("skipped", [])),
        score_names=names)
