"""The workbook: read back with openpyxl, and opened by LibreOffice headless."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import openpyxl
import pytest

from psm_eval.report import build_tables, load_run_data
from psm_eval.report.excel import MAX_CELL, safe_text, write_xlsx
from tests.report.runs import BIG, HOSTILE


def test_safe_text_replaces_illegal_characters_and_truncates_with_marker():
    assert safe_text("a\x00b\x1bc") == "a\ufffdb\ufffdc"
    assert safe_text("\ufffe\uffff \ud800 \U0001f600 \x7f") == "\ufffd\ufffd \ufffd \U0001f600 \x7f"  # lxml refused U+FFFE/F
    long = safe_text(BIG)
    assert len(long) == MAX_CELL and long.endswith(f"[truncated by psm_eval: {len(BIG)} characters in all]")


def test_no_model_text_becomes_a_formula(hostile_dir, tmp_path):
    path = write_xlsx(build_tables(load_run_data(hostile_dir)), tmp_path / "r.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Summary", "Samples", "Pairs", "Run"]
    cells = [c for ws in wb for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    texts = {c.value for c in cells if c.data_type == "s"}
    for h in ("=1+1", "+SUM(A1:A2)", "-2+3", "@cmd|' /C calc'!A0", '=HYPERLINK("http://evil.example","x")'):
        assert h in texts
    assert max(len(str(c.value or "")) for c in cells) <= MAX_CELL
    ws = wb["Samples"]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref.startswith("A1:")
    assert ws.column_dimensions["H"].width == 60 and ws["H2"].alignment.wrap_text


def test_summary_sheet_has_the_runs_numbers(run_dir, tmp_path):
    t = build_tables(load_run_data(run_dir))
    ws = openpyxl.load_workbook(write_xlsx(t, tmp_path / "r.xlsx"))["Summary"]
    header = [c.value for c in ws[1]]
    row = {h: c.value for h, c in zip(header, ws[2])}
    means = {m.arm: m.estimate for m in t.metrics}
    assert row["base"] == pytest.approx(means["base"]) and row["chat"] == pytest.approx(means["chat"])
    assert row["significant"] is True and ws.conditional_formatting


def _convert(soffice: str, xlsx: Path, out: Path, sheet: int) -> list[list[str]]:
    # filter options: separator, quote, UTF-8, first line, cell format, …, sheet number (LibreOffice >= 7.2)
    opts = f"csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,{sheet}"
    subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{out}/profile", "--convert-to", opts,
                    "--outdir", str(out), str(xlsx)], check=True, capture_output=True, timeout=180)
    files = sorted(out.glob("*.csv"))
    assert files, "LibreOffice wrote no CSV"
    target = [f for f in files if f.stem.endswith(f"-{['', 'Summary', 'Samples', 'Pairs', 'Run'][sheet]}")] or files
    with open(target[0], newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


@pytest.mark.slow
def test_libreoffice_reads_the_same_values_and_no_formulas(hostile_dir, tmp_path, soffice):
    t = build_tables(load_run_data(hostile_dir))
    xlsx = write_xlsx(t, tmp_path / "r.xlsx")
    samples = _convert(soffice, xlsx, tmp_path / "samples", 2)
    header, rows = samples[0], samples[1:]
    reply = header.index("reply")
    got = {r[reply] for r in rows}
    # formula-looking replies come back as the same text, not as computed values (=1+1 would be 2)
    for h in ("=1+1", "+SUM(A1:A2)", "-2+3", "@cmd|' /C calc'!A0"):
        assert h in got
    assert "2" not in got
    summary = _convert(soffice, xlsx, tmp_path / "summary", 1)
    row = dict(zip(summary[0], summary[1]))
    means = {m.arm: m.estimate for m in t.metrics}
    assert float(row["base"]) == pytest.approx(means["base"], abs=1e-9)
    assert float(row["chat"]) == pytest.approx(means["chat"], abs=1e-9)
