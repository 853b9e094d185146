"""A gate result as a console table, Markdown (a CI step summary), JUnit XML and JSON."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from psm_eval.gate import GateResult, MetricResult, PredictionResult
from psm_eval.inert import xml_text
from psm_eval.records import write_json_atomic
from psm_eval.redact import mask_known_secrets

__all__ = ["console", "markdown", "junit_xml", "write_outputs"]

_HEAD = ("verdict", "task", "scorer/metric", "arm", "n", "baseline", "run", "Δ", "CI", "margin", "MDE")


def _f(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def _ci(r: MetricResult) -> str:
    if r.ci_low is None or r.ci_high is None or r.ci_level is None:
        return "—"
    return f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}] @{r.ci_level:.2%}"


def _arm(r: MetricResult) -> str:
    arm = r.arm if r.arm == r.baseline_arm else f"{r.arm}←{r.baseline_arm}"
    return arm + (f" vs {r.other_arm}" if r.other_arm else "")


def _row(r: MetricResult) -> tuple[str, ...]:
    verdict = r.verdict if r.outcome in ("pass", "fail") and r.verdict != "INCONCLUSIVE" else \
        f"{r.verdict}→{r.outcome}" if r.outcome != "inconclusive" else r.verdict
    arrow = "↑" if r.direction == "higher" else "↓"
    delta = "—" if r.estimate is None else f"{r.estimate:+.3f}"
    return (verdict, r.task, f"{r.scorer}/{r.metric} {arrow}", _arm(r), str(r.n), _f(r.baseline_mean),
            _f(r.run_mean), delta, _ci(r), f"{r.margin:g}", _f(r.mde))


def _headline(res: GateResult) -> str:
    if res.error:
        return f"gate: PRECONDITION ERROR (exit {res.exit_code}): {res.error}"
    counts = {k: sum(r.verdict == k for r in res.metrics) for k in ("PASS", "REGRESSION", "INCONCLUSIVE")}
    failed = sum(p.outcome == "fail" for p in res.predictions)
    preds = (f"; {len(res.predictions)} required predictions: {len(res.predictions) - failed} met, {failed} not met"
             if res.predictions else "")
    return (f"gate: {res.status.upper()} (exit {res.exit_code}) — {len(res.metrics)} metrics: "
            f"{counts['PASS']} pass, {counts['REGRESSION']} regression, {counts['INCONCLUSIVE']} inconclusive{preds}")


def _prediction_line(p: PredictionResult) -> str:
    need = "supported" if p.required == "supported" else "not contradicted"
    return f"prediction {p.id} {p.title}: {p.verdict} (required: {need}) — {p.outcome.upper()}"


def console(res: GateResult, only_failures: bool = False) -> str:
    """A plain-text table, worst verdicts first (`only_failures`: the rows that are not PASS, and a line
    counting those left out)."""
    shown = [r for r in _ordered(res) if not (only_failures and r.verdict == "PASS")]
    rows = [_HEAD] + [_row(r) for r in shown]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEAD))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows] if shown else []
    if len(shown) < len(res.metrics):
        lines.append(f"({len(res.metrics) - len(shown)} PASS rows not shown: --only-failures)")
    notes = [f"note: {n}" for n in res.notes]
    return "\n".join([*lines, *[_prediction_line(p) for p in res.predictions], *notes, _headline(res)])


def _ordered(res: GateResult) -> list[MetricResult]:
    rank = {"fail": 0, "inconclusive": 1, "pass": 2}
    return sorted(res.metrics, key=lambda r: (rank[r.outcome], r.task, r.scorer, r.metric, r.arm))


_MD_SPECIAL = re.compile(r"([\\`*_~\[\]|])")


def _md(text: str) -> str:
    """Markdown text for a table cell or a line that renders as exactly this text: one line, HTML-escaped,
    and backslash-escaped wherever a character could start a code span, link, image, emphasis or cell;
    the backslash too, or a `\\|` in the text would escape the backslash and open a new cell."""
    text = _MD_SPECIAL.sub(r"\\\1", text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(text.split())


def _code(text: str) -> str:
    """A one-line Markdown code span holding any text. A backslash does not escape inside a code span,
    so the fence is one backtick longer than the longest run of backticks in the text."""
    text = " ".join(text.split()) or " "
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text[0] == "`" or text[-1] == "`" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown(res: GateResult) -> str:
    """GitHub-flavoured Markdown for $GITHUB_STEP_SUMMARY."""
    out = [f"## psm-eval {_md(_headline(res))}", "",
           f"run {_code(res.run)} · baseline {_code(res.baseline)} · policy {_code(res.policy)}", ""]
    if res.metrics:
        out += ["| " + " | ".join(_HEAD) + " |", "|" + "---|" * len(_HEAD)]
        out += ["| " + " | ".join(_md(c) for c in _row(r)) + " |" for r in _ordered(res)]
        out += ["", "Δ = run − baseline, paired by sample id; CI = cluster bootstrap at the Holm step-down level; "
                "MDE = smallest worsening detected with the policy's power."]
    if res.predictions:
        out += ["", "| prediction | verdict | required | outcome |", "|---|---|---|---|"]
        out += [f"| {_md(p.id + ' ' + p.title)} | {_md(p.verdict)} | {_md(p.required)} | {_md(p.outcome)} |"
                for p in res.predictions]
        out += [""] + [f"- {_md(p.sentence)}" for p in res.predictions]
    out += [f"- note: {_md(n)}" for n in res.notes]
    return "\n".join(out) + "\n"


def junit_xml(res: GateResult) -> bytes:
    """One testcase per metric: REGRESSION → failure; INCONCLUSIVE → skipped, or failure when the policy
    says `fail`; a precondition error → one testcase with an error."""
    suite = ET.Element("testsuite", name="psm-eval gate")
    failures = skipped = errors = 0
    if res.error:
        case = ET.SubElement(suite, "testcase", classname="psm_eval.gate", name="preconditions")
        ET.SubElement(case, "error", message=xml_text(res.error), type="PreconditionError").text = xml_text(res.error)
        errors = 1
    for r in res.metrics:
        case = ET.SubElement(suite, "testcase", classname=xml_text(f"psm_eval.gate.{r.task}"),
                             name=xml_text(f"{r.scorer}/{r.metric} [{_arm(r)}]"), time="0")
        detail = xml_text("; ".join(f"{k}={v}" for k, v in zip(_HEAD, _row(r))))
        if r.outcome == "fail":
            failures += 1
            ET.SubElement(case, "failure", message=xml_text(f"{r.verdict}: {r.reason}"), type=r.verdict).text = detail
        elif r.outcome == "inconclusive":
            skipped += 1
            ET.SubElement(case, "skipped", message=xml_text(f"INCONCLUSIVE: {r.reason}"))
        ET.SubElement(case, "system-out").text = detail
    for p in res.predictions:
        case = ET.SubElement(suite, "testcase", classname="psm_eval.gate.predictions",
                             name=xml_text(f"{p.id} {p.title}"), time="0")
        if p.outcome == "fail":
            failures += 1
            ET.SubElement(case, "failure", message=xml_text(f"{p.verdict} (required: {p.required})"),
                          type="PREDICTION").text = xml_text(p.sentence)
        ET.SubElement(case, "system-out").text = xml_text(p.sentence)
    suite.set("tests", str(len(suite)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    root = ET.Element("testsuites", name="psm-eval gate")
    root.append(suite)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def write_outputs(res: GateResult, *, markdown_path: Path | None = None, junit_path: Path | None = None,
                  json_path: Path | None = None) -> None:
    for path, data in ((markdown_path, lambda: markdown(res).encode()), (junit_path, lambda: junit_xml(res))):
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # not written through records.io: the same last guard against known secret values
            Path(path).write_bytes(mask_known_secrets(data().decode("utf-8")).encode("utf-8"))
    if json_path is not None:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(Path(json_path), res.to_json())
