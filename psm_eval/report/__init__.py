"""Reports over a stored run: one table model (`tables`) rendered as HTML, xlsx, JSON and CSV.

Reads only the run folder (manifest, generations, scores, summary); never calls a model.
"""

from __future__ import annotations

from psm_eval.report.errors import ReportError
from psm_eval.report.load import RunData, load_run_data
from psm_eval.report.tables import ReportTables, build_tables

__all__ = ["ReportError", "RunData", "load_run_data", "ReportTables", "build_tables", "write_reports",
           "write_index", "write_compare"]


def __getattr__(name: str):  # the writers import openpyxl/jinja lazily
    if name in ("write_reports", "write_index", "write_compare"):
        from psm_eval.report import write

        return getattr(write, name)
    raise AttributeError(name)
