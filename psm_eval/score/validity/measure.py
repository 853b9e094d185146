"""Agreement of each metric with its planted truth, and the bar it must meet.

Binary metrics: sensitivity and specificity over the scored planted replies. Continuous and count
metrics: mean absolute error and Pearson's r (and, for statistics with an interval, how often the
interval covers the truth). For every metric: coverage — the share of replies with a truth that were
scored — and abstention — the share of replies with no truth (off-topic, unanswerable) that were left
unscored, as they must be. A metric passes when each rate it has meets its bar; a rate the cases cannot
measure (no planted positive, say) fails, so an unmeasured metric never passes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from psm_eval.score.validity.cases import Observation

__all__ = ["Bar", "Row", "BARS", "bar_for", "measure"]


@dataclass(frozen=True)
class Bar:
    """What a metric must reach on its planted cases."""

    sensitivity: float = 0.9
    specificity: float = 0.9
    coverage: float = 0.9
    abstention: float = 0.9
    mae: float = 0.05
    r: float = 0.9
    ci_coverage: float = 0.85

    def text(self, kind: str) -> str:
        if kind == "binary":
            return f"sens, spec ≥ {self.sensitivity:g}; cov ≥ {self.coverage:g}"
        return f"MAE ≤ {self.mae:g}; r ≥ {self.r:g}; cov ≥ {self.coverage:g}"


# Bars other than the default, by `scorer.metric`, with the reason.
BARS: dict[str, Bar] = {
    # counts of word tokens: exact by construction, an error of half a token would be a bug
    "reply_signals.length_tokens": Bar(mae=0.5),
    # loglikelihood margins are in nats over a range of ~±10: 0.05 nats is a rounding error
    "self_report.margin": Bar(mae=0.05), "persona_selection.margin": Bar(mae=0.05),
    # entropy in bits over 0–2: a tenth of a bit is the resolution a persona-mixture comparison needs
    "persona_mixture.entropy": Bar(mae=0.1), "persona_mixture.pooled_entropy": Bar(mae=0.1),
    # a 1–10 rating: half a point
    "rubric_judge.rating": Bar(mae=0.5),
}


def bar_for(scorer: str, metric: str) -> Bar:
    return BARS.get(f"{scorer}.{metric}", Bar())


@dataclass
class Row:
    """One metric's line of the validity card."""

    scorer: str
    metric: str
    kind: str
    n: int = 0
    sources: list[str] = field(default_factory=list)
    sensitivity: float | None = None
    specificity: float | None = None
    positives: int = 0
    negatives: int = 0
    mae: float | None = None
    r: float | None = None
    coverage: float | None = None
    abstention: float | None = None
    n_abstain: int = 0
    ci_coverage: float | None = None
    bar: Bar = field(default_factory=Bar)
    experimental: bool = False
    """Declared experimental by its scorer."""
    failures: list[str] = field(default_factory=list)
    """Which rates missed their bar (empty: passes)."""
    misses: list[str] = field(default_factory=list)
    """A few planted items it got wrong (case / item: truth → predicted)."""

    @property
    def passes(self) -> bool:
        return not self.failures


def _pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    if len(xs) < 3:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sx = math.sqrt(sum((x - mx) ** 2 for x in xs))
    sy = math.sqrt(sum((y - my) ** 2 for y in ys))
    if sx == 0 or sy == 0:
        return 1.0 if all(abs(x - y) < 1e-9 for x, y in zip(xs, ys)) else None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / (sx * sy)


def _fill(row: Row, obs: list[Observation]) -> None:
    known = [o for o in obs if o.truth is not None]
    none = [o for o in obs if o.truth is None]
    scored = [o for o in known if o.predicted is not None]
    row.n, row.n_abstain = len(known), len(none)
    row.coverage = len(scored) / len(known) if known else None
    row.abstention = sum(o.predicted is None for o in none) / len(none) if none else None
    if row.kind == "binary":
        pos = [o for o in scored if o.truth == 1.0]
        neg = [o for o in scored if o.truth == 0.0]
        row.positives, row.negatives = len(pos), len(neg)
        row.sensitivity = sum(o.predicted == 1.0 for o in pos) / len(pos) if pos else None
        row.specificity = sum(o.predicted == 0.0 for o in neg) / len(neg) if neg else None
    else:
        pairs = [(o.truth, o.predicted) for o in scored if o.truth is not None and o.predicted is not None]
        row.mae = sum(abs(p - t) for t, p in pairs) / len(pairs) if pairs else None
        row.r = _pearson([t for t, _ in pairs], [p for _, p in pairs])
        spans = [(o.truth, o.interval) for o in scored if o.truth is not None and o.interval is not None]
        if spans:
            row.ci_coverage = sum(lo is not None and hi is not None and lo - 1e-9 <= t <= hi + 1e-9
                                  for t, (lo, hi) in spans) / len(spans)
    wrong = [o for o in obs if (o.truth is None) != (o.predicted is None) or
             (o.truth is not None and o.predicted is not None and abs(o.truth - o.predicted) > max(row.bar.mae, 1e-9))]
    row.misses = [f"{o.case} / {o.item}: {o.truth} → {o.predicted}" for o in wrong[:3]]


def _judge(row: Row) -> None:
    b, fails = row.bar, []
    if row.n == 0:
        fails.append("no planted case")
    if row.coverage is not None and row.coverage < b.coverage:
        fails.append("coverage")
    if row.abstention is not None and row.abstention < b.abstention:
        fails.append("abstention")
    if row.kind == "binary" and row.n:
        for name, value, bar in (("sensitivity", row.sensitivity, b.sensitivity),
                                 ("specificity", row.specificity, b.specificity)):
            if value is None or value < bar:
                fails.append(name if value is not None else f"{name} (none planted)")
    elif row.n:
        if row.mae is None or row.mae > b.mae:
            fails.append("MAE")
        if row.r is not None and row.r < b.r:
            fails.append("r")
        if row.ci_coverage is not None and row.ci_coverage < b.ci_coverage:
            fails.append("CI coverage")
    row.failures = fails


def measure(observations: Sequence[Observation], kinds: dict[tuple[str, str], str],
            experimental: dict[tuple[str, str], bool]) -> list[Row]:
    """One row per declared (scorer, metric) in `kinds`, measured on its observations."""
    groups: dict[tuple[str, str], list[Observation]] = defaultdict(list)
    for o in observations:
        groups[(o.scorer, o.metric)].append(o)
    rows = []
    for (scorer, metric), kind in sorted(kinds.items()):
        obs = groups.get((scorer, metric), [])
        row = Row(scorer, metric, kind, bar=bar_for(scorer, metric),
                  experimental=experimental.get((scorer, metric), False),
                  sources=sorted({o.source for o in obs}))
        _fill(row, obs)
        _judge(row)
        rows.append(row)
    return rows
