"""The xlsx workbook (openpyxl): Summary, Samples, Pairs, Run.

Every text cell is an explicit string cell (never a formula, whatever it starts with), with
characters XML cannot hold replaced and anything over Excel's 32,767-character cell limit cut with
a visible marker.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.formatting.rule import ColorScaleRule, FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from psm_eval.inert import xml_text
from psm_eval.redact import mask_known_secrets
from psm_eval.report.tables import ReportTables, sample_table

__all__ = ["write_xlsx", "safe_text", "MAX_CELL", "TRUNCATION_MARKER"]

MAX_CELL = 32767
TRUNCATION_MARKER = "… [truncated by psm_eval: {n} characters in all]"
_WRAP = Alignment(wrap_text=True, vertical="top")
_TOP = Alignment(vertical="top")
_BOLD = Font(bold=True)
_HEAD_FILL = PatternFill("solid", fgColor="DDE3EA")


def safe_text(text: Any) -> str:
    """Text Excel can store: characters XML 1.0 cannot hold → U+FFFD, cut to the cell limit with a marker."""
    s = mask_known_secrets(str(text))  # the workbook is written by openpyxl, not through records.io
    if any("\ud800" <= c <= "\udfff" for c in s):
        s = s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    # openpyxl's own ILLEGAL_CHARACTERS_RE misses U+FFFE and U+FFFF, on which lxml refuses the whole workbook
    s = xml_text(s)
    if len(s) > MAX_CELL:
        marker = TRUNCATION_MARKER.format(n=len(s))
        s = s[: MAX_CELL - len(marker)] + marker
    return s


def _put(ws: Any, row: int, col: int, value: Any, wrap: bool = False) -> None:
    cell = ws.cell(row=row, column=col)
    if value is None:
        pass
    elif isinstance(value, (bool, int, float)):
        cell.value = value
    else:
        text = safe_text(value)
        cell.value = text
        cell.data_type = "s"  # explicit string: "=1+1" from a model stays text, never a formula
        if text[:1] in "=+-@":
            cell.quotePrefix = True
    if wrap:
        cell.alignment = _WRAP


def _sheet(wb: Workbook, title: str, header: Sequence[str], rows: Iterable[Sequence[Any]],
           widths: dict[int, int] | None = None, wrap: set[int] | None = None) -> Any:
    ws = wb.create_sheet(title)
    for c, name in enumerate(header, start=1):
        _put(ws, 1, c, name)
        ws.cell(row=1, column=c).font = _BOLD
        ws.cell(row=1, column=c).fill = _HEAD_FILL
    n = 1
    wrap = wrap or set()
    for n, row in enumerate(rows, start=2):
        for c, v in enumerate(row, start=1):
            _put(ws, n, c, v, wrap=c in wrap)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(max(len(header), 1))}{max(n, 1)}"
    for c in range(1, len(header) + 1):
        ws.column_dimensions[get_column_letter(c)].width = (widths or {}).get(c, 14)
    return ws


def _summary(wb: Workbook, t: ReportTables) -> None:
    keys: dict[tuple, dict[str, Any]] = {}
    for m in t.metrics:
        keys.setdefault((m.task, m.scorer, m.metric, m.stratum or "", m.statistic), {})[m.arm] = m
    diffs = {(d.task, d.scorer, d.metric, d.stratum or ""): d for d in t.diffs
             if (d.arm_a, d.arm_b) in ((t.target_arm, t.baseline_arm), (t.baseline_arm, t.target_arm))}
    header = ["task", "scorer", "metric", "stratum", "statistic"]
    for arm in t.arms:
        header += [f"{arm}", f"{arm} ci_low", f"{arm} ci_high", f"{arm} n"]
    header += [f"Δ {t.target_arm} − {t.baseline_arm}", "Δ ci_low", "Δ ci_high", "p", "p_holm", "significant"]
    rows = []
    for key, by_arm in keys.items():
        row: list[Any] = list(key)
        for arm in t.arms:
            ma = by_arm.get(arm)
            row += [ma.estimate, ma.ci_low, ma.ci_high, ma.n] if ma else [None] * 4
        d = diffs.get(key[:4]) if key[4] == "mean" else None
        sign = 1.0 if d is None or d.arm_a == t.target_arm else -1.0
        if d:
            lo, hi = d.ci_low, d.ci_high
            lo, hi = (lo, hi) if sign > 0 else (None if hi is None else -hi, None if lo is None else -lo)
            row += [None if d.estimate is None else sign * d.estimate, lo, hi, d.p_value, d.p_holm, d.significant]
        else:
            row += [None] * 6
        rows.append(row)
    ws = _sheet(wb, "Summary", header, rows, widths={1: 22, 2: 18, 3: 18, 4: 22})
    delta = get_column_letter(len(header) - 5)
    sig = get_column_letter(len(header))
    last = len(rows) + 1
    if not rows:  # a run with no scored metrics: nothing to format (and X2:X1 is no range)
        return
    ws.conditional_formatting.add(f"{delta}2:{delta}{last}", ColorScaleRule(
        start_type="num", start_value=-1, start_color="F8696B", mid_type="num", mid_value=0, mid_color="FFFFFF",
        end_type="num", end_value=1, end_color="63BE7B"))
    ws.conditional_formatting.add(f"A2:{sig}{last}", FormulaRule(formula=[f"${sig}2=TRUE"],
                                                                 fill=PatternFill("solid", bgColor="FFF2CC")))


def write_xlsx(t: ReportTables, path: Path) -> Path:
    """Write the workbook for one run's tables."""
    wb = Workbook()
    wb.remove(wb.active)
    _summary(wb, t)
    if t.predictions:
        _sheet(wb, "Predictions", ["prediction", "title", "verdict", "role", "endpoint", "arms", "statistic", "test",
                                   "bound", "margin", "estimate", "ci_low", "ci_high", "p", "p_holm", "decision",
                                   "sentence"],
               ([p["id"], p["title"], p["verdict"], e["role"], e["label"], " − ".join(e["arms"]), e["statistic"],
                 e["test"], e["bound"], e["margin"], e["estimate"], e["ci_low"], e["ci_high"], e["p_support"],
                 e["p_support_holm"], e["decision"], e["sentence"]] for p in t.predictions for e in p["endpoints"]),
               widths={2: 24, 5: 40, 6: 22, 17: 100}, wrap={17})
    names = t.score_names
    _sheet(wb, "Samples", *sample_table(t), widths={1: 18, 2: 24, 3: 14, 7: 60, 8: 60, 9: 24}, wrap={7, 8, 9})
    b, g = t.baseline_arm or "baseline", t.target_arm or "target"
    _sheet(wb, "Pairs", ["task", "sample_id", "turn", "repeat", f"{b} reply", f"{g} reply",
                         *[f"{b}: {n}" for n in names], *[f"{g}: {n}" for n in names]],
           ([p.task, p.sample_id, p.turn, p.repeat, p.baseline_reply, p.target_reply,
             *[p.baseline_scores.get(n) for n in names], *[p.target_scores.get(n) for n in names]] for p in t.pairs),
           widths={1: 18, 2: 24, 5: 60, 6: 60}, wrap={5, 6})
    _sheet(wb, "Run", ["key", "value"], t.run_info, widths={1: 30, 2: 100}, wrap={2})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        wb.save(tmp)
        tmp.replace(path)
    except BaseException:  # a full disk or a read-only folder leaves no half-written file behind
        tmp.unlink(missing_ok=True)
        raise
    return path
