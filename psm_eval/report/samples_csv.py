"""`samples.csv`: the Samples table (one row per reply, the xlsx sheet's columns) as CSV that stays
inert when a spreadsheet opens it.

A text cell a spreadsheet would read as a formula (OWASP CSV injection: it starts with `=`, `+`, `-`,
`@`, TAB or CR) gets a leading `'`; so does text that already starts with `'`, which keeps the rule
reversible: a reader drops one leading `'`. Numbers are written as numbers, so a negative score stays
a number.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from psm_eval.report.tables import ReportTables, sample_table

__all__ = ["render_csv", "inert_cell", "FORMULA_STARTS"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PREFIXED = (*FORMULA_STARTS, "'")


def inert_cell(value: Any) -> Any:
    """A cell as written: None and numbers unchanged, text with `'` before a formula-looking start."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    return "'" + text if text.startswith(_PREFIXED) else text


def render_csv(t: ReportTables) -> str:
    """The samples table as RFC 4180 CSV (quoted by the csv module, CRLF rows), with a leading BOM so
    Excel reads it as UTF-8 rather than the system code page."""
    header, rows = sample_table(t)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([inert_cell(h) for h in header])
    writer.writerows([inert_cell(v) for v in row] for row in rows)
    return "\ufeff" + buf.getvalue()
