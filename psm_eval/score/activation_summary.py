"""The activation-space sections of a run's summary, beside the per-metric statistics.

- `directions`: each directions file the run read (label, model, content hash, questions, personas,
  each direction's default layer and how well its groups separate there).
- `axis cosine`: is the assistant axis shared? The cosine, per layer, between the axes of two
  directions files built on the same questions (the base model's and the post-trained model's), with a
  bootstrap interval over questions (both axes re-estimated on each resample of the shared questions).
- `convergent validity`: does the position on the axis go with the behavioural persona metrics? The
  rank correlation, per task, between each reply's `axis_LABEL` and each persona metric of the same
  reply, over all arms, with a cluster-bootstrap BCa interval (clusters: the scores' own units).
- `gap closed`: for each steering arm (model type `psm-steered`), how much of the base → chat gap on
  each headline behavioural metric the steered arm closes (`score.stats.gap`), where the run's roles
  name a base and a chat arm.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from psm_eval.records import Finding, MetricInfo, Score, ScorerTable
from psm_eval.score.stats._core import (
    bca_interval,
    boot_draws,
    cluster_index,
    group_seed,
    percentile_interval,
    resample_weights,
)

__all__ = ["activation_tables", "axis_cosines", "rank_correlation", "shared_axis_findings"]

PERSONA_FAMILIES = ("persona consistency", "self-report", "reply signals")
SCORER = "activation"
N_BOOT = 2000


def activation_tables(scores: Sequence[Score], metrics: Sequence[MetricInfo], run_dir: Path | None,
                      roles: dict[str, str] | None = None, arm_types: dict[str, str] | None = None,
                      seed: int = 0) -> list[ScorerTable]:
    """The activation-space tables of a scored run (empty when it has no activation scores)."""
    axis = [m for m in metrics if m.scorer == SCORER and m.direction == "higher"]
    tables: list[ScorerTable] = []
    rows = _gap_rows(scores, metrics, roles or {}, arm_types or {}, seed)  # steering arms, with or without axes
    if rows:
        tables.append(ScorerTable(task="", scorer=SCORER, name="gap closed", rows=rows))
    if not axis:
        return tables
    files = _files(run_dir)
    if files:
        tables.append(ScorerTable(task="", scorer=SCORER, name="directions", rows=_direction_rows(files)))
        rows = _cosine_rows(files, seed)
        if rows:
            tables.append(ScorerTable(task="", scorer=SCORER, name="axis cosine", rows=rows))
    rows = _convergent_rows(scores, metrics, axis, seed)
    if rows:
        tables.append(ScorerTable(task="", scorer=SCORER, name="convergent validity", rows=rows))
    return tables


# ---- directions and the shared axis -------------------------------------------------------------------

def _files(run_dir: Path | None) -> dict[str, Any]:
    if run_dir is None:
        return {}
    from psm_eval.activations.directions import read_directions
    from psm_eval.score.scorers.activation import directions_paths

    return {label: read_directions(path, per_question=True) for label, path in directions_paths(run_dir).items()}


def _direction_rows(files: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for label, d in files.items():
        prov = d.provenance
        for name, info in sorted(prov.directions.items(), key=lambda kv: (kv[1].kind != "axis", kv[0])):
            rows.append({"label": label, "direction": name, "kind": info.kind, "model": prov.model,
                         "positive": ", ".join(info.positive), "negative": ", ".join(info.negative),
                         "layer": info.default_layer, "separation": round(info.separation[info.default_layer], 4),
                         "questions": len(prov.questions.get("ids", [])), "content_hash": d.content_hash})
    return rows


def axis_cosines(a: np.ndarray, b: np.ndarray, *, n_boot: int = N_BOOT, seed: int = 0,
                 level: float = 0.95) -> list[tuple[float, float | None, float | None]]:
    """Per layer, cos(mean_q a[q], mean_q b[q]) with a percentile bootstrap interval that resamples the
    questions (paired: one resample for both). `a`, `b`: per-question differences [questions, layers, hidden]."""
    q, layers, _ = a.shape

    def cos(w: np.ndarray) -> np.ndarray:  # w: [rows, q] → [rows, layers]
        ma = np.einsum("rq,qlh->rlh", w, a)
        mb = np.einsum("rq,qlh->rlh", w, b)
        num = (ma * mb).sum(-1)
        den = np.linalg.norm(ma, axis=-1) * np.linalg.norm(mb, axis=-1)
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)

    estimate = cos(np.ones((1, q)))[0]
    draws = np.concatenate([cos(w) for w in resample_weights(q, n_boot, seed)])
    out = []
    for layer in range(layers):
        lo, hi = percentile_interval(draws[:, layer], level)
        out.append((float(estimate[layer]), lo, hi))
    return out


def _cosine_rows(files: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    rows = []
    labels = list(files)
    for i, la in enumerate(labels):
        for lb in labels[i + 1:]:
            a, b = files[la], files[lb]
            axes = [n for n, info in a.provenance.directions.items() if info.kind == "axis"
                    and n in b.provenance.directions]
            qa, qb = a.provenance.questions.get("ids"), b.provenance.questions.get("ids")
            for name in axes:
                if name not in a.per_question or name not in b.per_question or qa != qb or \
                        a.per_question[name].shape != b.per_question[name].shape:
                    continue
                cosines = axis_cosines(a.per_question[name], b.per_question[name], seed=group_seed(seed, la, lb, name))
                for layer, (est, lo, hi) in enumerate(cosines):
                    if layer == 0:
                        continue  # the embeddings: the prompt's tokens, not the persona's state
                    rows.append({"a": la, "b": lb, "direction": name, "layer": layer, "cosine": _r(est),
                                 "ci_low": _r(lo), "ci_high": _r(hi), "questions": len(qa or []),
                                 "default_layer": layer == a.provenance.directions[name].default_layer})
    return rows


# ---- convergent validity ----------------------------------------------------------------------------

def rank_correlation(x: Sequence[float], y: Sequence[float], clusters: Sequence[str], *, n_boot: int = N_BOOT,
                     seed: int = 0, level: float = 0.95) -> tuple[float | None, float | None, float | None]:
    """Spearman's rank correlation with a cluster-bootstrap BCa interval (ranks fixed, clusters resampled)."""
    from scipy.stats import rankdata

    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xs.size < 3 or np.ptp(xs) == 0 or np.ptp(ys) == 0:
        return None, None, None
    rx, ry = rankdata(xs), rankdata(ys)
    idx, k = cluster_index(clusters)

    def corr(w: np.ndarray) -> np.ndarray:  # w: [rows, k] cluster multiplicities
        wo = w[:, idx]
        s = wo.sum(1, keepdims=True)
        mx, my = (wo * rx).sum(1, keepdims=True) / s, (wo * ry).sum(1, keepdims=True) / s
        dx, dy = rx - mx, ry - my
        cov = (wo * dx * dy).sum(1)
        den = np.sqrt((wo * dx * dx).sum(1) * (wo * dy * dy).sum(1))
        return np.where(den > 0, cov / np.where(den > 0, den, 1.0), np.nan)

    estimate = float(corr(np.ones((1, k)))[0])
    if k < 3:
        return estimate, None, None
    draws = boot_draws(corr, k, n_boot, seed)
    jack = np.array([corr(np.where(np.arange(k) == j, 0.0, 1.0)[None, :])[0] for j in range(k)])
    lo, hi = bca_interval(draws, estimate, jack, level)
    return estimate, lo, hi


def _convergent_rows(scores: Sequence[Score], metrics: Sequence[MetricInfo], axis: Sequence[MetricInfo],
                     seed: int) -> list[dict[str, Any]]:
    persona = [m for m in metrics if m.family in PERSONA_FAMILIES and m.scorer != SCORER]
    by_key: dict[tuple[str, str, str], dict[tuple[str, str, int | None, int | None], Score]] = defaultdict(dict)
    for s in scores:
        if s.value is not None and s.stratum is None and s.other_arm is None and s.turn is not None:
            by_key[(s.task, s.scorer, s.metric)][(s.sample_id, s.arm, s.turn, s.repeat)] = s
    rows = []
    for a in axis:
        positions = by_key.get((a.task, a.scorer, a.metric), {})
        for m in persona:
            if m.task != a.task:
                continue
            other = by_key.get((m.task, m.scorer, m.metric), {})
            common = [k for k in positions if k in other]
            if len(common) < 3:
                continue
            x = [positions[k].value for k in common]
            y = [other[k].value for k in common]
            clusters = [positions[k].cluster for k in common]
            est, lo, hi = rank_correlation(x, y, clusters,  # type: ignore[arg-type]
                                           seed=group_seed(seed, a.task, a.metric, m.scorer, m.metric))
            if est is None:
                continue
            rows.append({"task": a.task, "activation": a.metric, "scorer": m.scorer, "metric": m.metric,
                         "family": m.family, "spearman": _r(est), "ci_low": _r(lo), "ci_high": _r(hi),
                         "n": len(common), "clusters": len(set(clusters)),
                         "arms": ", ".join(sorted({k[1] for k in common}))})
    return rows


# ---- how much of the gap a direction closes -----------------------------------------------------------

def _gap_rows(scores: Sequence[Score], metrics: Sequence[MetricInfo], roles: dict[str, str],
              arm_types: dict[str, str], seed: int) -> list[dict[str, Any]]:
    steered = [arm for arm, kind in arm_types.items() if kind == "psm-steered"]
    base, chat = roles.get("base", "base"), roles.get("chat", "chat")
    if not steered or base not in arm_types or chat not in arm_types:
        return []
    from psm_eval.score.stats.gap import gap_closed

    headline = [m for m in metrics if m.headline and m.scorer != SCORER and m.kind in ("binary", "continuous")]
    rows = []
    for m in headline:
        per: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        clusters: dict[str, str] = {}
        for s in scores:
            if (s.task, s.scorer, s.metric) == (m.task, m.scorer, m.metric) and s.value is not None \
                    and s.stratum is None and s.other_arm is None:
                per[s.arm][s.sample_id].append(s.value)
                clusters[s.sample_id] = s.cluster
        for arm in steered:
            if not (per.get(base) and per.get(chat) and per.get(arm)):
                continue
            g = gap_closed({a: per[a] for a in (base, arm, chat)}, clusters, base=base, steered=arm, chat=chat,
                           seed=group_seed(seed, m.task, m.scorer, m.metric, arm))
            rows.append({"task": m.task, "scorer": m.scorer, "metric": m.metric, "steered": arm, "base": base,
                         "chat": chat, "estimate": _r(g.estimate), "ci_low": _r(g.ci_low), "ci_high": _r(g.ci_high),
                         "effect": _r(g.effect.estimate), "gap": _r(g.gap.estimate), "n": g.n,
                         "note": g.method if g.defined else f"undefined: {g.reason}"})
    return rows


def _r(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 4)


def shared_axis_findings(tables: Sequence[ScorerTable]) -> list[Finding]:
    """PSM's "the assistant is already in the pre-trained model", inside it: the cosine, at the first file's
    default layer, between the axes two directions files (a base and a post-trained model) derive."""
    out = []
    for t in tables:
        if t.scorer != SCORER or t.name != "axis cosine":
            continue
        for r in t.rows:
            if not r.get("default_layer"):
                continue
            est, lo, hi = r.get("cosine"), r.get("ci_low"), r.get("ci_high")
            out.append(Finding(
                id="A1", title="the assistant axis is shared", estimate=est, ci_low=lo, ci_high=hi,
                sentence=(f"A1 the assistant axis is shared (exploratory) — cosine of the '{r['a']}' and '{r['b']}' "
                          f"{r['direction']} directions at layer {r['layer']}: {_fmt(est)} [{_fmt(lo)}, {_fmt(hi)}] "
                          f"over {r.get('questions')} questions (1: the same direction; two random directions of this "
                          "size: about 0)")))
    return out


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"
