"""Two runs of the same tasks (e.g. two checkpoints) side by side: per-arm metrics of each run and
the paired difference B − A by sample id, what changed, what differs between the runs' setups, and a
sample browser joining the runs' replies by id."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace

from psm_eval.report.charts import arm_color
from psm_eval.report.errors import ReportError
from psm_eval.report.load import RunData
from psm_eval.report.paths import shorten_paths
from psm_eval.report.tables import SIGNIFICANCE, MetricRow, ReportTables, build_tables
from psm_eval.score import stats

__all__ = ["CompareRow", "CompareTables", "build_compare"]


@dataclass(frozen=True)
class CompareRow:
    """One metric of one arm in both runs, and B − A paired by sample id."""

    task: str
    scorer: str
    metric: str
    arm: str
    a: float | None
    a_ci: tuple[float | None, float | None]
    b: float | None
    b_ci: tuple[float | None, float | None]
    difference: float | None
    difference_ci: tuple[float | None, float | None]
    n_pairs: int
    p_value: float | None
    p_holm: float | None
    significant: bool
    direction: str = "neither"
    """Which way is better for the metric, as declared (colours B − A)."""

    @property
    def changed(self) -> bool:
        """The 95% interval of B − A excludes 0 (or the Holm-adjusted test says so)."""
        lo, hi = self.difference_ci
        return self.significant or (lo is not None and hi is not None and (lo > 0 or hi < 0))


@dataclass
class CompareTables:
    run_a: str
    run_b: str
    rows: list[CompareRow]
    joined: ReportTables
    """Samples present in both runs, arms named `A·arm` and `B·arm`, for the sample browser."""
    warnings: list[str] = field(default_factory=list)
    """What differs between the runs' setups (renderers, seeds, limits, task specs, tasks or arms in one run)."""
    colors: dict[str, str] = field(default_factory=dict)
    """Arm (plain and `A·`/`B·` names) → colour: an arm has the same colour in both runs."""

    @property
    def changes(self) -> list[CompareRow]:
        """The rows that changed, the largest change first."""
        return sorted((r for r in self.rows if r.changed), key=lambda r: -abs(r.difference or 0.0))


def setup_differences(a: RunData, b: RunData) -> list[str]:
    """Why the two runs' numbers may differ for reasons other than the models: one line each."""
    ma, mb = a.manifest, b.manifest
    out = []
    for what, xa, xb in (("seed", ma.seed, mb.seed), ("limit", ma.limit, mb.limit)):
        if xa != xb:
            out.append(f"the runs' {what} differs: A {xa}, B {xb}")
    for kind, na, nb in (("task", ma.task_names, mb.task_names), ("arm", ma.arm_names, mb.arm_names)):
        only_a, only_b = [x for x in na if x not in nb], [x for x in nb if x not in na]
        if only_a:
            out.append(f"{kind}s only in A (not compared): {', '.join(only_a)}")
        if only_b:
            out.append(f"{kind}s only in B (not compared): {', '.join(only_b)}")
    for ta in ma.tasks:
        tb = mb.task(ta.name)
        if tb is not None and (ta.spec_hash, ta.data_hash, ta.version) != (tb.spec_hash, tb.data_hash, tb.version):
            what = "data" if ta.data_hash != tb.data_hash else "version" if ta.version != tb.version else "spec"
            out.append(f"task {ta.name}: its {what} differs between the runs (the samples may not be the same)")
    for aa in ma.arms:
        ab = mb.arm(aa.name)
        if ab is None:
            continue
        if (aa.render, aa.renderer.template_hash) != (ab.render, ab.renderer.template_hash):
            out.append(f"arm {aa.name}: its renderer differs (A {aa.render}, B {ab.render}"
                       f"{', another template' if aa.render == ab.render else ''})")
    return [shorten_paths(x) for x in out]


def _per_sample(run: RunData) -> dict[tuple[str, str, str, str], tuple[dict[str, list[float]], dict[str, str]]]:
    rows: dict = defaultdict(list)
    for s in run.scores:
        if s.stratum is None and s.other_arm is None:
            rows[(s.task, s.scorer, s.metric, s.arm)].append((s.sample_id, s.cluster, s.value))
    return {key: stats.per_sample(r) for key, r in rows.items()}


def _overall_means(t: ReportTables) -> dict[tuple[str, str, str, str], MetricRow]:
    return {(m.task, m.scorer, m.metric, m.arm): m for m in t.metrics if m.statistic == "mean" and m.stratum is None}


def build_compare(a: RunData, b: RunData, seed: int = 0) -> CompareTables:
    """Compare run B against run A on their common tasks and arms."""
    common = [t for t in a.task_names if t in b.task_names]
    if not common:
        raise ReportError(f"runs {a.run_id} and {b.run_id} share no task; compare runs of the same tasks")
    ta, tb = build_tables(a), build_tables(b)
    means_a, means_b = _overall_means(ta), _overall_means(tb)
    pa, pb = _per_sample(a), _per_sample(b)
    rows, pvals = [], []
    for key in [k for k in means_a if k in means_b and k[0] in common]:
        (sa, ca), (sb, _) = pa.get(key, ({}, {})), pb.get(key, ({}, {}))
        ids, diffs = stats.paired_differences(sb, sa)
        clusters = [ca[i] for i in ids]
        iv = stats.paired_difference(diffs, clusters, seed=seed)
        p = stats.sign_flip_p(diffs, clusters, seed=seed) if len(ids) > 1 else None
        ma, mb = means_a[key], means_b[key]
        rows.append(CompareRow(*key, a=ma.estimate, a_ci=(ma.ci_low, ma.ci_high), b=mb.estimate,
                               b_ci=(mb.ci_low, mb.ci_high),
                               difference=iv.estimate, difference_ci=(iv.ci_low, iv.ci_high), n_pairs=len(ids),
                               p_value=p, p_holm=None, significant=False, direction=ma.direction))
        pvals.append(p)
    holm = stats.holm(pvals)
    rows = [replace(r, p_holm=h, significant=h is not None and h < SIGNIFICANCE) for r, h in zip(rows, holm)]
    ids_b = {(s.task, s.sample_id) for s in tb.samples}
    ids_a = {(s.task, s.sample_id) for s in ta.samples}
    joined_samples = [replace(s, arm=f"A·{s.arm}") for s in ta.samples if (s.task, s.sample_id) in ids_b] + \
                     [replace(s, arm=f"B·{s.arm}") for s in tb.samples if (s.task, s.sample_id) in ids_a]
    arms = [f"A·{x}" for x in ta.arms] + [f"B·{x}" for x in tb.arms]
    renderers = {**{f"A·{k}": v for k, v in ta.arm_renderers.items()},
                 **{f"B·{k}": v for k, v in tb.arm_renderers.items()}}
    names = list(dict.fromkeys(ta.score_names + tb.score_names))
    joined = ReportTables(run_id=f"{a.run_id} vs {b.run_id}", run_status="", arms=arms, tasks=common,
                          baseline_arm=f"A·{ta.baseline_arm}", target_arm=f"B·{ta.baseline_arm}",
                          arm_renderers=renderers, run_info=[], samples=joined_samples, score_names=names,
                          task_modes={**tb.task_modes, **ta.task_modes}, directions={**tb.directions, **ta.directions},
                          sample_info=[s for s in ta.sample_info if s.task in common], sample_notes=ta.sample_notes)
    plain = list(dict.fromkeys(ta.arms + tb.arms))
    colors = {x: arm_color(plain, x) for x in plain}
    colors.update({f"{side}·{x}": arm_color(plain, x) for side in "AB" for x in plain})
    return CompareTables(run_a=a.run_id, run_b=b.run_id, rows=rows, joined=joined, warnings=setup_differences(a, b),
                         colors=colors)
