"""Self-contained HTML reports: Jinja2 (autoescape, StrictUndefined), inline CSS/JS/SVG, a
Content-Security-Policy that allows only the page's own hashed script and style, and sample data
embedded as inert JSON that the page's script renders lazily with textContent."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections import defaultdict
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from psm_eval.report import charts
from psm_eval.report.tables import ACTIVATION_COLUMNS, ReportTables

__all__ = ["render_html", "render_page", "embed_json", "csp_for", "sample_payload", "tone"]

_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
# Code points an HTML document may not hold raw (controls other than whitespace, noncharacters: parse
# errors in the HTML standard's input stream); model text is full of them.
_NOT_HTML = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff]")


def embed_json(obj: Any) -> Markup:
    """JSON safe inside `<script type="application/json">`: `<`, `>`, `&`, U+2028/9 escaped, so
    `</script>` or `<!--` in the data cannot end the element; controls and noncharacters as `\\uXXXX`."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for ch, rep in _JSON_ESCAPES.items():
        text = text.replace(ch, rep)
    return Markup(_NOT_HTML.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def _displayable(value: Any) -> Any:
    """What a template prints: text loses the code points HTML forbids (→ U+FFFD); our own markup
    (CSS, JS, SVG, embedded JSON) passes as it is."""
    return _NOT_HTML.sub("\ufffd", value) if isinstance(value, str) and not isinstance(value, Markup) else value


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def csp_for(script: str, style: str) -> str:
    """No loads of any kind; only this page's script and stylesheet (by hash) run."""
    return (f"default-src 'none'; script-src {_sha256(script)}; style-src {_sha256(style)}; img-src 'none'; "
            "connect-src 'none'; base-uri 'none'; form-action 'none'; frame-src 'none'; object-src 'none'")


@cache
def _asset(name: str) -> str:
    return resources.files("psm_eval.report").joinpath("templates").joinpath(name).read_text(encoding="utf-8")


def tone(value: float | None, direction: str) -> str:
    """CSS class of a difference: `better` / `worse` by the metric's declared direction; `neither`
    (a descriptive metric) and zero are never coloured."""
    if value is None or value == 0 or direction not in ("higher", "lower"):
        return ""
    return "better" if (value > 0) == (direction == "higher") else "worse"


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(loader=PackageLoader("psm_eval.report", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, finalize=_displayable)
    env.filters["num"] = lambda v, d=3: "–" if v is None else f"{v:.{d}g}" if abs(v) < 1e4 else f"{v:.4g}"
    env.filters["pval"] = lambda v: "–" if v is None else f"{v:.2g}" if v >= 1e-4 else "<1e-4"
    env.filters["tone"] = tone
    return env


def render_page(template: str, script: str = "report.js", **context: Any) -> str:
    """Render a page template with the shared stylesheet and the named script inlined."""
    css, js = _asset("report.css"), _asset(script)
    return _env().get_template(template).render(css=Markup(css), js=Markup(js), csp=csp_for(js, css), **context)


def _common_prefix(texts: list[str]) -> str:
    return os.path.commonprefix(texts) if len(texts) > 1 else ""


def sample_payload(t: ReportTables, colors: dict[str, str] | None = None) -> dict[str, Any]:
    """The browser's data: compact rows, prompts stored as a shared per-(task, arm) prefix + suffix, each
    sample's user turns, references and metadata (`info`, keyed `task index / id`)."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in t.samples:
        groups[(r.task, r.arm)].append(r.prompt)
    prefixes = [""]
    index: dict[tuple[str, str], int] = {}
    for key, texts in groups.items():
        p = _common_prefix(texts)
        if len(p) > 64:
            index[key] = len(prefixes)
            prefixes.append(p)
    names = {n: i for i, n in enumerate(t.score_names)}
    rows = []
    for r in t.samples:
        pi = index.get((r.task, r.arm), 0)
        rows.append([t.tasks.index(r.task) if r.task in t.tasks else r.task, r.sample_id, t.arms.index(r.arm),
                     r.turn, r.repeat, r.status, pi, r.prompt[len(prefixes[pi]):], r.reply, r.error,
                     {names[k]: v for k, v in r.scores.items()}, {names[k]: v for k, v in r.unscored.items()}, r.judge,
                     {names[k]: v for k, v in r.details.items()}, [names[k] for k in r.sample_scores]])
    info = {f"{t.tasks.index(s.task)}/{s.sample_id}": {"q": s.user_turns, "refs": s.references, "choices": s.choices,
                                                      "gold": s.gold, "meta": s.metadata}
            for s in t.sample_info if s.task in t.tasks}
    colors = colors or {}
    return {"tasks": t.tasks, "arms": t.arms, "renderers": [t.arm_renderers.get(a, "") for a in t.arms],
            "colors": [colors.get(a) or charts.arm_color(t.arms, a) for a in t.arms],
            "modes": [t.task_modes.get(x, "gold") for x in t.tasks],
            "directions": [t.directions.get(n, "neither") for n in t.score_names],
            "baseline": t.baseline_arm, "target": t.target_arm, "scores": t.score_names, "prefixes": prefixes,
            "info": info, "notes": t.sample_notes, "rows": rows}


def _charts(t: ReportTables) -> list[Markup]:
    out = []
    head = [(h.task, h.scorer, h.metric) for h in t.headline]
    keys = head or sorted({(m.task, m.scorer, m.metric) for m in t.metrics if m.family and m.stratum is None})
    by = {(m.task, m.scorer, m.metric, m.arm): m for m in t.metrics if m.statistic == "mean" and m.stratum is None}
    groups = [(f"{task} · {metric}", [(a, m.estimate, m.ci_low, m.ci_high) for a in t.arms
                                       if (m := by.get((task, sc, metric, a))) is not None])
              for task, sc, metric in keys]
    if groups:
        out.append(charts.bar_chart("Headline metrics per arm (mean, 95% CI)", groups, t.arms))
    series: dict[tuple[str, str], dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for p in t.series:
        series[(p.chart, p.kind)][p.arm].append((p.x, p.y, p.ci_low, p.ci_high))
    for (name, kind), by_arm in series.items():
        if kind == "shares":
            out.append(charts.stacked_bars(name, {a: [(x, y) for x, y, _, _ in pts] for a, pts in by_arm.items()}))
        else:
            x_title = next((p.x_title for p in t.series if p.chart == name), "")
            out.append(charts.line_chart(name, dict(by_arm), t.arms, x_title=x_title))
    return out


def _activation_charts(t: ReportTables) -> list[Markup]:
    """Each arm's position on each axis metric (per task), and the axes' cosine by layer."""
    out = []
    positions = t.activation.get("positions", [])
    labels = [r["label"] for r in t.activation.get("directions", [])]
    frame = f"axis_{labels[0]}" if labels else None  # the first directions file is the frame the chart reads
    positions = [p for p in positions if frame is None or p["metric"] == frame] or positions
    keys = list(dict.fromkeys((p["task"], p["metric"]) for p in positions))
    by = {(p["task"], p["metric"], p["arm"]): p for p in positions}
    groups = [(f"{task} · {metric}", [(a, by[(task, metric, a)]["estimate"], by[(task, metric, a)]["ci_low"],
                                       by[(task, metric, a)]["ci_high"]) for a in t.arms if (task, metric, a) in by])
              for task, metric in keys]
    if groups:
        out.append(charts.bar_chart("Position on the assistant axis per arm (mean, 95% CI; 1 = the assistant's "
                                    "replies, 0 = the other personas')", groups, t.arms))
    cosines: dict[str, list] = defaultdict(list)
    for r in t.activation.get("axis cosine", []):
        cosines[f"{r['a']} · {r['b']} ({r['direction']})"].append((str(r["layer"]), r["cosine"], r["ci_low"],
                                                                   r["ci_high"]))
    if cosines:
        out.append(charts.line_chart("Is the axis shared? Cosine of the two models' axes by layer (95% CI over "
                                     "questions)", dict(cosines), list(cosines), x_title="layer",
                                     y_title="cosine (95% CI)"))
    return out


def render_html(t: ReportTables) -> str:
    """The single-file HTML report of one run."""
    diffs_main = [d for d in t.diffs if {d.arm_a, d.arm_b} == {t.baseline_arm, t.target_arm}]
    return render_page("report.html.j2", t=t, diffs_main=diffs_main, charts=_charts(t),
                       has_series=bool(t.series), data=embed_json(sample_payload(t)),
                       activation_charts=_activation_charts(t), activation_columns=ACTIVATION_COLUMNS,
                       colors={a: charts.arm_color(t.arms, a) for a in t.arms})
