"""The PSM verdict: each declared prediction decided on its endpoints, with intervals fit for each statistic.

An endpoint is a quantity — one arm's statistic, or the difference between two arms on the samples both
have — and a region the prediction puts it in (`above` a bound, `below` it, or `equivalent` to it within
a margin). The quantity's interval comes from the method its statistic and kind call for:

- `mean`, binary — one arm: Wilson on the effective n (`stats.mean_interval`); a − b: Tango's score
  interval on the design-effect deflated paired 2×2 table.
- `mean`, continuous — cluster-robust t, of the values or of the paired differences.
- `slope` — cluster bootstrap of the OLS slope on turn; a − b: paired cluster bootstrap of both slopes.
- `pooled` — Σ value·n_tokens / Σ n_tokens with a cluster-robust t interval of that ratio (with two arms,
  arms[1] is the base arm the scorer compared against, not a difference).
- `entropy` — Miller–Madow entropy of the pooled classes with a jackknife-t interval; a − b paired.
- `profile` (two arms) — mean absolute difference of per-trait means, each arm's lean per phrasing
  removed, bootstrap over items within traits and over traits.

Each one-sided decision is taken at α = 0.025, so the 95 % interval shown decides it when nothing is
adjusted: `above` is supported when the interval's low end clears the bound; `equivalent` when the whole
interval lies inside bound ± margin (two one-sided tests at α each). The p-value of a decision is the
smallest α at which the (1 − 2α) interval makes it (found by bisection; intervals widen monotonically
with the level). Holm's step-down runs over the primary endpoints of every prediction in the run — the
only family psm_eval adjusts; secondary endpoints are reported unadjusted, and controls must come out as
declared for a verdict to stand.

A prediction is *supported* when all its primary endpoints are, *contradicted* when any is against it,
*inconclusive* otherwise or when a control failed or could not be evaluated, and *not evaluated* when the
run lacks an arm, a task or a score a primary endpoint needs (the reason names it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from psm_eval.records import EndpointResult, MetricInfo, Prediction, PredictionResult, PsmBlock, Score
from psm_eval.records.predictions import Decision, Endpoint, Verdict
from psm_eval.score import stats
from psm_eval.score.stats import Interval
from psm_eval.score.summary import per_sample_values

__all__ = ["ALPHA", "evaluate", "decide", "Measure", "measure_endpoint"]

ALPHA = 0.025
"""Each one-sided decision's level: the 95 % interval decides it."""
_P_MIN, _P_MAX, _STEPS = 1e-9, 0.4999, 14


@dataclass(frozen=True)
class Measure:
    """An endpoint's quantity, as an interval at any level."""

    at: Callable[[float], Interval]
    n: int
    n_clusters: int
    method: str


class _NotEvaluated(Exception):
    """An endpoint the run cannot evaluate; str() says why."""


# ---- the data --------------------------------------------------------------------------------------


class _Data:
    """A scored run's scores indexed by (task, scorer, metric), with declarations and sample metadata."""

    def __init__(self, scores: Sequence[Score], metrics: Sequence[MetricInfo],
                 metadata: Mapping[str, Mapping[str, Mapping[str, Any]]], arms: Sequence[str], seed: int):
        self.by_metric: dict[tuple[str, str, str], list[Score]] = defaultdict(list)
        for s in scores:
            self.by_metric[(s.task, s.scorer, s.metric)].append(s)
        self.metrics = {(m.task, m.scorer, m.metric): m for m in metrics}
        self.metadata, self.arms, self.seed = metadata, list(arms), seed
        self.tasks = {s.task for s in scores} | set(metadata)

    def scores(self, e: Endpoint, arm: str, other: str | None = None) -> list[Score]:
        if e.task not in self.tasks:
            raise _NotEvaluated(f"task {e.task} is not in this run")
        found = self.by_metric.get((e.task, e.scorer, e.metric))
        if not found:
            raise _NotEvaluated(f"{e.task} has no {e.scorer}.{e.metric} scores")
        want = None if e.stratum is None else (str(e.stratum.get("by")), str(e.stratum.get("value")))
        out = [s for s in found if s.arm == arm and s.other_arm == other and s.value is not None
               and (None if s.stratum is None else (s.stratum.by, s.stratum.value)) == want]
        if not out:
            against = f" against {other}" if other else ""
            raise _NotEvaluated(f"no scored {e.scorer}.{e.metric} values for arm {arm}{against} in {e.task}")
        return out

    def kind(self, e: Endpoint) -> str:
        info = self.metrics.get((e.task, e.scorer, e.metric))
        return info.kind if info is not None else "continuous"

    def seed_for(self, *parts: object) -> int:
        return stats.group_seed(self.seed, "psm", *parts)


# ---- one endpoint ----------------------------------------------------------------------------------


def _mean(data: _Data, e: Endpoint, arms: Sequence[str]) -> Measure:
    kind = data.kind(e)
    if len(arms) == 1:
        means, counts, clusters = per_sample_values(data.scores(e, arms[0]))
        ids = sorted(means)
        values, cl = [means[i] for i in ids], [clusters[i] for i in ids]
        trials = [counts[i] for i in ids] if kind == "binary" and any(counts[i] > 1 for i in ids) else None
        first = stats.mean_interval(values, cl, kind=kind, trials=trials)  # type: ignore[arg-type]
        return Measure(lambda level: stats.mean_interval(values, cl, kind=kind, level=level,  # type: ignore[arg-type]
                                                         trials=trials), first.n, first.n_clusters, first.method)
    (va, _, ca), (vb, _, _) = per_sample_values(data.scores(e, arms[0])), per_sample_values(data.scores(e, arms[1]))
    ids = sorted(va.keys() & vb.keys())
    if not ids:
        raise _NotEvaluated(f"arms {arms[0]} and {arms[1]} share no scored sample in {e.task}")
    x, y, cl = [va[i] for i in ids], [vb[i] for i in ids], [ca[i] for i in ids]
    zero_one = kind == "binary" and all(v in (0.0, 1.0) for v in x + y)

    def at(level: float) -> Interval:
        if zero_one:
            return stats.paired_binary_difference(x, y, cl, level=level, method="tango")
        return stats.difference_interval(x, y, cl, kind=kind, level=level)  # type: ignore[arg-type]

    first = at(0.95)
    dropped = len(va) - len(ids), len(vb) - len(ids)
    note = f"; {dropped[0]} + {dropped[1]} samples scored in one arm only left out" if any(dropped) else ""
    return Measure(at, first.n, first.n_clusters, f"paired difference on the samples both arms have; "
                                                  f"{first.method}{note}")


def _slope(data: _Data, e: Endpoint, arms: Sequence[str]) -> Measure:
    def rows(arm: str) -> tuple[list[float], list[float], list[str]]:
        scored = [s for s in data.scores(e, arm) if s.turn is not None]
        if not scored:
            raise _NotEvaluated(f"{e.task} {e.metric} has no per-turn scores for arm {arm}")
        return [float(s.turn) for s in scored], [float(s.value) for s in scored], [s.cluster for s in scored]  # type: ignore[arg-type]

    seed = data.seed_for(e.task, e.scorer, e.metric, *arms, "slope")
    if len(arms) == 1:
        x, y, c = rows(arms[0])
        first = stats.bootstrap_slope(x, y, c, seed=seed)
        return Measure(lambda level: stats.bootstrap_slope(x, y, c, seed=seed, level=level), first.n,
                       first.n_clusters, f"OLS slope against turn index; cluster bootstrap "
                                         f"({stats.N_BOOTSTRAP} resamples, percentile)")
    (xa, ya, ca), (xb, yb, cb) = rows(arms[0]), rows(arms[1])
    first = stats.slope_difference(xa, ya, ca, xb, yb, cb, seed=seed)
    return Measure(lambda level: stats.slope_difference(xa, ya, ca, xb, yb, cb, seed=seed, level=level),
                   first.n, first.n_clusters, first.method)


def _pooled(data: _Data, e: Endpoint, arms: Sequence[str]) -> Measure:
    scores = data.scores(e, arms[0], arms[1] if len(arms) == 2 else None)
    weighted = [(s.value, s.detail.get("n_tokens"), s.cluster) for s in scores]
    weighted = [(v, n, c) for v, n, c in weighted if isinstance(n, int | float) and n > 0]
    if not weighted:
        raise _NotEvaluated(f"{e.task} {e.metric} scores carry no n_tokens to pool over")
    values = [float(v) for v, _, _ in weighted]  # type: ignore[arg-type]
    tokens = [float(n) for _, n, _ in weighted]  # type: ignore[arg-type]
    clusters = [c for _, _, c in weighted]
    first = stats.pooled_share(values, tokens, clusters)
    return Measure(lambda level: stats.pooled_share(values, tokens, clusters, level=level), int(sum(tokens)),
                   first.n_clusters, f"pooled over {int(sum(tokens))} tokens of {len(values)} replies; {first.method}")


def _class_counts(data: _Data, e: Endpoint, arm: str) -> tuple[np.ndarray, list[str]]:
    classes = sorted(m.metric for m in data.metrics.values()
                     if (m.task, m.scorer) == (e.task, e.scorer) and m.chart == "shares")
    if e.metric not in classes:
        raise _NotEvaluated(f"{e.scorer}.{e.metric} is not one of the scorer's class shares")
    replies: dict[tuple[str, int | None, int | None], dict[str, float]] = defaultdict(dict)
    for name in classes:
        probe = e.model_copy(update={"metric": name})
        for s in data.scores(probe, arm):
            replies[(s.sample_id, s.turn, s.repeat)][name] = float(s.value)  # type: ignore[arg-type]
    keys = sorted(replies, key=lambda k: (k[0], -1 if k[1] is None else k[1], -1 if k[2] is None else k[2]))
    return np.array([[replies[k].get(n, 0.0) for n in classes] for k in keys]), [k[0] for k in keys]


def _entropy(data: _Data, e: Endpoint, arms: Sequence[str]) -> Measure:
    if len(arms) == 1:
        counts, clusters = _class_counts(data, e, arms[0])
        first = stats.pooled_entropy(counts, clusters)
        return Measure(lambda level: stats.pooled_entropy(counts, clusters, level=level), first.n, first.n_clusters,
                       first.method)
    (ma, ca), (mb, cb) = _class_counts(data, e, arms[0]), _class_counts(data, e, arms[1])
    first = stats.entropy_difference(ma, ca, mb, cb)
    return Measure(lambda level: stats.entropy_difference(ma, ca, mb, cb, level=level), first.n, first.n_clusters,
                   first.method)


def _debiased(data: _Data, e: Endpoint, arm: str) -> tuple[dict[str, float], dict[str, str], dict[str, str]]:
    """Per item: the arm's endorsement less its mean lean on items of that phrasing (the yes-bias: an arm
    that says Yes more endorses `shows_trait` items more and `denies_trait` items less), with its trait."""
    meta = data.metadata.get(e.task, {})
    values, _, clusters = per_sample_values(data.scores(e, arm))
    traits = {i: str(meta.get(i, {}).get("trait")) for i in values if meta.get(i, {}).get("trait") is not None}
    if not traits:
        raise _NotEvaluated(f"{e.task} samples carry no `trait` metadata")
    direction = {i: str(meta.get(i, {}).get("direction", "")) for i in traits}
    overall = float(np.mean([values[i] for i in traits]))
    lean = {d: float(np.mean([values[i] for i in traits if direction[i] == d])) - overall
            for d in set(direction.values())}
    return {i: values[i] - lean[direction[i]] for i in traits}, traits, clusters


def _profile(data: _Data, e: Endpoint, arms: Sequence[str]) -> Measure:
    (va, ta, ca), (vb, _, _) = _debiased(data, e, arms[0]), _debiased(data, e, arms[1])
    ids = sorted(va.keys() & vb.keys())
    traits, a, b, cl = [ta[i] for i in ids], [va[i] for i in ids], [vb[i] for i in ids], [ca[i] for i in ids]
    seed = data.seed_for(e.task, e.scorer, e.metric, *arms, "profile")

    def at(level: float) -> Interval:
        return stats.profile_similarity(traits, a, b, cl, level=level, seed=seed, resample_traits=True).mean_abs_diff

    first = at(0.95)
    return Measure(at, first.n, first.n_clusters,
                   f"{first.method}; each arm's lean per phrasing (direction) removed first")


_STATISTICS = {"mean": _mean, "slope": _slope, "pooled": _pooled, "entropy": _entropy, "profile": _profile}


def measure_endpoint(data: _Data, e: Endpoint, arms: Sequence[str]) -> Measure:
    if e.statistic == "pooled" and len(arms) == 2:
        return _pooled(data, e, arms)
    return _STATISTICS[e.statistic](data, e, arms)


# ---- decisions -------------------------------------------------------------------------------------


def _regions(e: Endpoint) -> tuple[Callable[[float, float], bool], Callable[[float, float], bool]]:
    """(supported, against) as functions of an interval's ends."""
    b, m = e.bound, e.margin or 0.0
    if e.test == "above":
        return (lambda lo, hi: lo > b), (lambda lo, hi: hi < b + m)
    if e.test == "below":
        return (lambda lo, hi: hi < b), (lambda lo, hi: lo > b - m)
    return ((lambda lo, hi: b - m < lo and hi < b + m),
            (lambda lo, hi: lo > b + m or hi < b - m))


def _p_value(measure: Measure, region: Callable[[float, float], bool]) -> float | None:
    """The smallest one-sided α at which the (1 − 2α) interval lies in `region` (1.0 when even a near-zero
    level interval does not; None when there is no interval)."""
    cache: dict[float, Interval] = {}

    def inside(alpha: float) -> bool | None:
        if alpha not in cache:
            cache[alpha] = measure.at(1.0 - 2.0 * alpha)
        iv = cache[alpha]
        if iv.ci_low is None or iv.ci_high is None:
            return None
        return region(iv.ci_low, iv.ci_high)

    widest = inside(_P_MIN)
    if widest is None:
        return None
    if widest:
        return _P_MIN
    if not inside(_P_MAX):
        return 1.0
    lo, hi = np.log(_P_MIN), np.log(_P_MAX)  # inside at exp(hi), not at exp(lo)
    for _ in range(_STEPS):
        mid = (lo + hi) / 2.0
        if inside(float(np.exp(mid))):
            hi = mid
        else:
            lo = mid
    return float(np.exp(hi))


@dataclass
class _Evaluated:
    prediction: int
    endpoint: Endpoint
    arms: tuple[str, ...]
    measure: Measure | None = None
    interval: Interval | None = None
    p_support: float | None = None
    p_against: float | None = None
    note: str = ""


def decide(p_support: float | None, p_against: float | None, alpha: float = ALPHA) -> Decision:
    if p_support is not None and p_support < alpha:
        return "as predicted"
    if p_against is not None and p_against < alpha:
        return "against"
    return "undecided"


# ---- sentences -------------------------------------------------------------------------------------


def _num(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.3f}".replace("-", "−") if abs(x) < 100 else f"{x:.1f}".replace("-", "−")


def _p(x: float | None) -> str:
    if x is None:
        return "—"
    return "< 1e-6" if x < 1e-6 else ("≥ 0.5" if x >= 0.5 else f"{x:.2g}")


def _quantity(e: Endpoint, arms: Sequence[str]) -> str:
    if e.statistic == "profile":
        return f"profile distance {arms[0]} vs {arms[1]}"
    word = {"mean": "", "slope": "slope ", "pooled": "pooled ", "entropy": "entropy "}[e.statistic]
    if e.statistic == "pooled" and len(arms) == 2:
        return f"{word}{arms[0]} vs {arms[1]}"
    return f"{word}{arms[0]}" if len(arms) == 1 else f"{word}{arms[0]} − {arms[1]}"


def _predicted(e: Endpoint) -> str:
    if e.test == "equivalent":
        centre = "" if e.bound == 0 else f"{_num(e.bound)} "
        return f"predicted within {centre}±{_num(e.margin)}"
    sign = ">" if e.test == "above" else "<"
    return f"predicted {sign} {_num(e.bound)}"


def _label(e: Endpoint) -> str:
    if e.label:
        return e.label
    stratum = "" if e.stratum is None else f" [{e.stratum.get('by')}={e.stratum.get('value')}]"
    return f"{e.task} {e.metric}{stratum}"


def _endpoint_sentence(ev: _Evaluated, decision: Decision, p_holm: float | None,
                       p_holm_against: float | None = None) -> str:
    e = ev.endpoint
    if ev.interval is None:
        return f"{_label(e)}: not evaluated ({ev.note})"
    iv = ev.interval
    if decision == "against":  # the p-value of the decision taken: the one against the prediction
        p = f"p_Holm {_p(p_holm_against)}" if e.role == "primary" else f"p {_p(ev.p_against)}"
    else:
        p = f"p_Holm {_p(p_holm)}" if e.role == "primary" else f"p {_p(ev.p_support)}"
    shown = ""
    if e.test == "equivalent" and decision == "undecided" and iv.ci_low is not None and iv.ci_high is not None:
        # what this run can show: equivalence within the interval's farther end from the centre
        shown = f"; this run shows equivalence only within ±{_num(max(e.bound - iv.ci_low, iv.ci_high - e.bound))}"
    return (f"{_label(e)}: {_quantity(e, ev.arms)} {_num(iv.estimate)} [{_num(iv.ci_low)}, {_num(iv.ci_high)}], "
            f"{_predicted(e)} — {decision} ({p}{shown})")


# ---- the whole block -------------------------------------------------------------------------------


def _resolve(e: Endpoint, roles: Mapping[str, str], arms: Sequence[str]) -> tuple[str, ...]:
    resolved = tuple(roles.get(a, a) for a in e.arms)
    missing = [f"{role} (role → {arm})" if role != arm else role
               for role, arm in zip(e.arms, resolved) if arm not in arms]
    if missing:
        raise _NotEvaluated(f"arm {', '.join(missing)} is not in this run (a run config's `roles:` maps a role "
                            "to an arm)")
    return resolved


def evaluate(predictions: Sequence[Prediction], roles: Mapping[str, str], scores: Sequence[Score],
             metrics: Sequence[MetricInfo], metadata: Mapping[str, Mapping[str, Mapping[str, Any]]],
             arms: Sequence[str], *, seed: int = 0, alpha: float = ALPHA) -> PsmBlock | None:
    """The `psm` block of summary.json: every declared prediction decided on this run's scores."""
    if not predictions:
        return None
    data = _Data(scores, metrics, metadata, arms, seed)
    evaluated: list[_Evaluated] = []
    for i, prediction in enumerate(predictions):
        for e in prediction.endpoints:
            ev = _Evaluated(i, e, tuple(e.arms))
            try:
                ev.arms = _resolve(e, roles, arms)
                ev.measure = measure_endpoint(data, e, ev.arms)
                ev.interval = ev.measure.at(1.0 - 2.0 * alpha)
                if ev.interval.ci_low is None or ev.interval.ci_high is None:
                    raise _NotEvaluated("no interval (fewer than two clusters)")
                supported, against = _regions(e)
                ev.p_support = _p_value(ev.measure, supported)
                ev.p_against = _p_value(ev.measure, against)
            except _NotEvaluated as exc:
                ev.interval, ev.note = None, str(exc)
            evaluated.append(ev)
    primary = [ev.endpoint.role == "primary" and ev.interval is not None for ev in evaluated]
    holm_support = stats.holm([ev.p_support for ev in evaluated], primary)
    holm_against = stats.holm([ev.p_against for ev in evaluated], primary)
    results: list[list[EndpointResult]] = [[] for _ in predictions]
    for ev, hs, ha in zip(evaluated, holm_support, holm_against):
        results[ev.prediction].append(_endpoint_result(ev, hs, ha, alpha))
    out = [_prediction_result(p, r) for p, r in zip(predictions, results)]
    return PsmBlock(alpha=alpha, primary_endpoints=sum(primary), predictions=out,
                    method=f"each one-sided decision at α = {alpha} (the 95 % intervals shown); Holm's step-down "
                           f"over the {sum(primary)} primary endpoints evaluated; secondary endpoints unadjusted; "
                           "see docs/scorers.md, 'The PSM verdict'")


def _endpoint_result(ev: _Evaluated, p_holm_support: float | None, p_holm_against: float | None,
                     alpha: float) -> EndpointResult:
    e = ev.endpoint
    base: dict[str, Any] = {"task": e.task, "scorer": e.scorer, "metric": e.metric, "stratum": e.stratum,
                            "statistic": e.statistic, "arms": ev.arms, "test": e.test, "bound": e.bound,
                            "margin": e.margin, "role": e.role, "label": _label(e)}
    if ev.interval is None or ev.measure is None:
        return EndpointResult(**base, decision="not evaluated", note=ev.note,
                              sentence=_endpoint_sentence(ev, "not evaluated", None))
    if e.role == "primary":
        decision = decide(p_holm_support, p_holm_against, alpha)
    else:
        decision = decide(ev.p_support, ev.p_against, alpha)
    iv = ev.interval
    return EndpointResult(**base, decision=decision, estimate=iv.estimate, ci_low=iv.ci_low, ci_high=iv.ci_high,
                          ci_level=1.0 - 2.0 * alpha, p_support=ev.p_support, p_against=ev.p_against,
                          p_support_holm=p_holm_support, p_against_holm=p_holm_against, n=ev.measure.n,
                          n_clusters=ev.measure.n_clusters, method=ev.measure.method,
                          sentence=_endpoint_sentence(ev, decision, p_holm_support, p_holm_against))


def _prediction_result(p: Prediction, endpoints: list[EndpointResult]) -> PredictionResult:
    primary = [e for e in endpoints if e.role == "primary"]
    controls = [e for e in endpoints if e.role == "control"]
    verdict: Verdict
    missing = [e for e in primary if e.decision == "not evaluated"]
    failed = [e for e in controls if e.decision not in ("as predicted", "not evaluated")]
    unchecked = [e for e in controls if e.decision == "not evaluated"]
    if missing:
        verdict, reason = "not evaluated", "; ".join(f"{e.label}: {e.note}" for e in missing)
    elif failed:
        verdict = "inconclusive"
        reason = ("a control did not come out as declared, so the assay cannot be trusted here: "
                  + "; ".join(e.label for e in failed))
    elif unchecked:
        verdict = "inconclusive"
        reason = ("a control was not evaluated, so the assay's sensitivity is unknown here: "
                  + "; ".join(f"{e.label}: {e.note}" for e in unchecked))
    elif all(e.decision == "as predicted" for e in primary):
        verdict, reason = "supported", "every primary endpoint as predicted"
    elif any(e.decision == "against" for e in primary):
        verdict = "contradicted"
        reason = "against the prediction: " + "; ".join(e.label for e in primary if e.decision == "against")
    else:
        verdict = "inconclusive"
        reason = "undecided: " + "; ".join(e.label for e in primary if e.decision != "as predicted")
    shown = [e.sentence for e in primary] + [f"control — {e.sentence}" for e in controls]
    sentence = f"{p.id} {p.title} — {verdict}: " + "; ".join(shown)
    return PredictionResult(id=p.id, title=p.title, claim=p.claim, verdict=verdict, reason=reason,
                            sentence=sentence, endpoints=endpoints)
