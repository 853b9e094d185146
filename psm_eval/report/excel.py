"""The xlsx workbook (openpyxl): Summary, Predictions, Samples, Pairs, Run — numbers in display formats, ids
frozen beside the header, rows as tall as their text (capped), and a page set-up that prints to width.

Every text cell is an explicit string cell (never a formula, whatever it starts with), with
characters XML cannot hold replaced and anything over Excel's 32,767-character cell limit cut with
a visible marker.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from copy import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.formatting.rule import CellIsRule, FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.page import PageMargins

from psm_eval.inert import xml_text
from psm_eval.redact import mask_known_secrets
from psm_eval.report.tables import ACTIVATION_COLUMNS, ReportTables, sample_table

__all__ = ["write_xlsx", "safe_text", "MAX_CELL", "TRUNCATION_MARKER"]

MAX_CELL = 32767
TRUNCATION_MARKER = "… [truncated by psm_eval: {n} characters in all]"
_WRAP = Alignment(wrap_text=True, vertical="top")
_TOP = Alignment(vertical="top")
_BOTTOM = Alignment(wrap_text=True, vertical="bottom")
_HEAD = Alignment(wrap_text=True, vertical="bottom")
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


# number formats, as Excel and LibreOffice display them: estimates to 3 decimals, p-values to 3 decimals
# down to 0.001 and in scientific notation below it, counts as integers
NUMBER = "0.000"
SIGNED = "+0.000;-0.000;0.000"
P_VALUE = "[<0.001]0.0E+00;0.000"
COUNT = "0"
_LINE_PT = 15.0  # one line of 11-point text
_SMALL_LINE_PT = 12.0  # of 9-point text
_SMALL = Font(size=9)
_BETTER = PatternFill("solid", bgColor="C6EFCE")
_WORSE = PatternFill("solid", bgColor="FFC7CE")
_SIGNIFICANT = PatternFill("solid", bgColor="FFF2CC")


@dataclass(frozen=True)
class Column:
    """How a sheet shows one column: header, width in characters, number format, wrapped, shown from its end."""

    header: str
    width: int = 12
    number: str | None = None
    wrap: bool = False
    bottom: bool = False
    """Wrapped text aligned to the cell's bottom: a row cut to its height shows the text's last lines (a
    prompt's last lines are the question asked)."""


def _put(ws: Any, row: int, col: int, value: Any, spec: Column | None = None, small: bool = False,
         styles: dict[tuple[int, bool], Any] | None = None) -> None:
    """One cell: numbers as numbers (in the column's format), anything else as inert text. `styles` caches
    each column's finished style (number or not), so a long sheet copies it instead of rebuilding it."""
    cell = ws.cell(row=row, column=col)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    text = None
    if value is None:
        pass
    elif isinstance(value, (bool, int, float)):
        cell.value = value
    else:
        text = safe_text(value)
        cell.value = text
        cell.data_type = "s"  # explicit string: "=1+1" from a model stays text, never a formula
    cached = styles.get((col, number)) if styles is not None else None
    if cached is not None:
        cell._style = copy(cached)
    elif spec is not None:
        if number and spec.number:
            cell.number_format = spec.number
        cell.alignment = (_BOTTOM if spec.bottom else _WRAP) if spec.wrap else _TOP
        if small:
            cell.font = _SMALL
        if styles is not None:
            styles[(col, number)] = copy(cell._style)
    if text is not None and text[:1] in "=+-@":
        cell.quotePrefix = True


def _lines(value: Any, width: int) -> int:
    """Lines a wrapped text takes in a column `width` characters wide (about)."""
    if not isinstance(value, str) or not value:
        return 1
    return sum(max(1, -(-len(line) // max(1, width - 1))) for line in value[:20000].split("\n"))


def _sheet(wb: Workbook, title: str, columns: Sequence[Column], rows: Iterable[Sequence[Any]], *,
           frozen: int = 1, max_lines: int = 1, print_cols: int | None = None, small: bool = False) -> Any:
    """A sheet with a bold wrapped header row, the first `frozen` columns and the header frozen, rows as
    tall as their wrapped text up to `max_lines` lines (always an explicit height, so no row prints over
    the next), and a landscape page set-up fit to the page width with the header and the frozen columns
    repeated on every page (`print_cols`: only the first so many columns are printed; `small`: 9-point text
    in the rows, for the long sheets of replies)."""
    ws = wb.create_sheet(title)
    head_lines = 1
    for c, col in enumerate(columns, start=1):
        _put(ws, 1, c, col.header)
        cell = ws.cell(row=1, column=c)
        cell.font, cell.fill, cell.alignment = _BOLD, _HEAD_FILL, _HEAD
        ws.column_dimensions[get_column_letter(c)].width = col.width
        if c <= (print_cols or len(columns)):
            head_lines = max(head_lines, min(3, _lines(col.header, col.width)))
    ws.row_dimensions[1].height = head_lines * _LINE_PT
    n = 1
    wrapped = [(c, col.width) for c, col in enumerate(columns, start=1) if col.wrap]
    line_pt = _SMALL_LINE_PT if small else _LINE_PT
    styles: dict[tuple[int, bool], Any] = {}
    for n, row in enumerate(rows, start=2):
        for c, v in enumerate(row, start=1):
            _put(ws, n, c, v, columns[c - 1] if c <= len(columns) else None, small, styles)
        lines = max([_lines(row[c - 1], w) for c, w in wrapped if c <= len(row)] or [1])
        ws.row_dimensions[n].height = min(lines, max_lines) * line_pt
    last_col = get_column_letter(max(len(columns), 1))
    ws.freeze_panes = f"{get_column_letter(frozen + 1)}2"
    ws.auto_filter.ref = f"A1:{last_col}{max(n, 1)}"
    _page_setup(ws, frozen, get_column_letter(print_cols) if print_cols else last_col, n)
    return ws


def _page_setup(ws: Any, frozen: int, last_col: str, last_row: int) -> None:
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages down as the rows need
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_margins = PageMargins(left=0.4, right=0.4, top=0.5, bottom=0.5, header=0.25, footer=0.25)
    ws.print_title_rows = "1:1"
    ws.print_title_cols = f"A:{get_column_letter(frozen)}"
    ws.print_area = f"A1:{last_col}{max(last_row, 1)}"
    ws.oddFooter.center.text = "&A — page &P of &N"


def _summary(wb: Workbook, t: ReportTables) -> None:
    keys: dict[tuple, dict[str, Any]] = {}
    direction: dict[tuple, str] = {}
    for m in t.metrics:
        keys.setdefault((m.task, m.scorer, m.metric, m.stratum or "", m.statistic), {})[m.arm] = m
        direction[(m.task, m.scorer, m.metric)] = m.direction
    diffs = {(d.task, d.scorer, d.metric, d.stratum or ""): d for d in t.diffs
             if (d.arm_a, d.arm_b) in ((t.target_arm, t.baseline_arm), (t.baseline_arm, t.target_arm))}
    columns = [Column("task", 22), Column("scorer", 18), Column("metric", 18), Column("stratum", 16),
               Column("statistic", 10)]
    for arm in t.arms:
        columns += [Column(arm, 9, NUMBER), Column(f"{arm} CI low", 9, NUMBER), Column(f"{arm} CI high", 9, NUMBER),
                    Column(f"{arm} n", 6, COUNT)]
    columns += [Column(f"Δ {t.target_arm} − {t.baseline_arm}", 10, SIGNED), Column("Δ CI low", 9, SIGNED),
                Column("Δ CI high", 9, SIGNED), Column("p", 8, P_VALUE), Column("p (Holm)", 8, P_VALUE),
                Column("significant", 11)]
    rows, better = [], []
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
        better.append(direction.get(key[:3], "neither"))
    ws = _sheet(wb, "Summary", columns, rows, frozen=5)
    if rows:  # a run with no scored metrics has nothing to colour (and X2:X1 is no range)
        _colour_deltas(ws, get_column_letter(len(columns) - 5), better)
        sig = get_column_letter(len(columns))
        ws.conditional_formatting.add(f"A2:{sig}{len(rows) + 1}",
                                      FormulaRule(formula=[f"${sig}2=TRUE"], fill=_SIGNIFICANT))


def _colour_deltas(ws: Any, col: str, directions: Sequence[str]) -> None:
    """A Δ is green when it is better by its metric's declared direction, red when worse; a metric whose
    direction is `neither` is never coloured."""
    for direction, good, bad in (("higher", "greaterThan", "lessThan"), ("lower", "lessThan", "greaterThan")):
        cells = " ".join(f"{col}{i}" for i, d in enumerate(directions, start=2) if d == direction)
        if cells:
            ws.conditional_formatting.add(cells, CellIsRule(operator=good, formula=["0"], fill=_BETTER))
            ws.conditional_formatting.add(cells, CellIsRule(operator=bad, formula=["0"], fill=_WORSE))


def _predictions(wb: Workbook, t: ReportTables) -> None:
    columns = [Column("prediction", 10), Column("title", 24, wrap=True), Column("verdict", 13), Column("role", 9),
               Column("endpoint", 36, wrap=True), Column("arms", 20, wrap=True), Column("statistic", 12),
               Column("test", 12), Column("bound", 8, NUMBER), Column("margin", 8, NUMBER),
               Column("estimate", 9, NUMBER), Column("CI low", 8, NUMBER), Column("CI high", 8, NUMBER),
               Column("p", 8, P_VALUE), Column("p (Holm)", 8, P_VALUE), Column("decision", 12, wrap=True),
               Column("sentence", 70, wrap=True)]
    _sheet(wb, "Predictions", columns,
           ([p["id"], p["title"], p["verdict"], e["role"], e["label"], " − ".join(e["arms"]), e["statistic"],
             e["test"], e["bound"], e["margin"], e["estimate"], e["ci_low"], e["ci_high"], e["p_support"],
             e["p_support_holm"], e["decision"], e["sentence"]] for p in t.predictions for e in p["endpoints"]),
           frozen=1, max_lines=6)


def _activation(wb: Workbook, t: ReportTables) -> None:
    """One sheet per activation-space table (positions, axis cosine, convergent validity, gap closed, directions)."""
    titles = {"positions": "Axis positions", "axis cosine": "Axis cosine", "convergent validity": "Convergent validity",
              "gap closed": "Gap closed", "directions": "Directions"}
    for name, cols in ACTIVATION_COLUMNS:
        rows = t.activation.get(name)
        if not rows:
            continue
        numeric = {c for c in cols if any(isinstance(r.get(c), float) for r in rows)}
        columns = [Column(c, 28 if c == "content_hash" else 14, NUMBER if c in numeric else None,
                          wrap=c in ("note", "arms")) for c in cols]
        _sheet(wb, titles[name], columns, ([r.get(c) for c in cols] for r in rows), frozen=1, max_lines=3)


def _pairs(wb: Workbook, t: ReportTables) -> None:
    """The two headline arms' prompts and replies side by side, then their scores."""
    names = t.score_names
    b, g = t.baseline_arm or "baseline", t.target_arm or "target"
    prompts = {(r.task, r.sample_id, r.arm, r.turn, r.repeat): r.prompt for r in t.samples}
    columns = [Column("task", 16), Column("sample id", 24), Column("turn", 5, COUNT), Column("repeat", 6, COUNT),
               Column(f"{b} prompt", 40, wrap=True, bottom=True), Column(f"{b} reply", 45, wrap=True),
               Column(f"{g} prompt", 40, wrap=True, bottom=True), Column(f"{g} reply", 45, wrap=True),
               *[Column(f"{b}: {n}", 10, NUMBER) for n in names], *[Column(f"{g}: {n}", 10, NUMBER) for n in names]]
    _sheet(wb, "Pairs", columns,
           ([p.task, p.sample_id, p.turn, p.repeat, prompts.get((p.task, p.sample_id, b, p.turn, p.repeat)),
             p.baseline_reply, prompts.get((p.task, p.sample_id, g, p.turn, p.repeat)), p.target_reply,
             *[p.baseline_scores.get(n) for n in names], *[p.target_scores.get(n) for n in names]] for p in t.pairs),
           frozen=2, max_lines=5, print_cols=8, small=True)


def _samples(wb: Workbook, t: ReportTables) -> None:
    header, rows = sample_table(t)  # the header is samples.csv's too
    widths = {"task": 16, "sample_id": 24, "arm": 14, "turn": 5, "repeat": 6, "status": 7, "prompt": 45,
              "reply": 50, "error": 16, "judge rationale": 40}
    columns = [Column(h, widths.get(h, 10), COUNT if h in ("turn", "repeat") else None if h in widths else NUMBER,
                      wrap=h in ("prompt", "reply", "error", "judge rationale"), bottom=h == "prompt")
               for h in header]
    _sheet(wb, "Samples", columns, rows, frozen=3, max_lines=2, print_cols=header.index("error") + 1, small=True)


def write_xlsx(t: ReportTables, path: Path) -> Path:
    """Write the workbook for one run's tables."""
    wb = Workbook()
    wb.remove(wb.active)
    _summary(wb, t)
    if t.predictions:
        _predictions(wb, t)
    if t.activation:
        _activation(wb, t)
    _samples(wb, t)
    _pairs(wb, t)
    _sheet(wb, "Run", [Column("key", 30), Column("value", 100, wrap=True)], t.run_info, max_lines=6)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        wb.save(tmp)
        tmp.replace(path)
    except BaseException:  # a full disk or a read-only folder leaves no half-written file behind
        tmp.unlink(missing_ok=True)
        raise
    return path
