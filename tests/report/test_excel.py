"""The workbook: read back with openpyxl, and opened by LibreOffice headless."""

from __future__ import annotations

import csv
import dataclasses
import re
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
    assert ws.freeze_panes == "D2" and ws.auto_filter.ref.startswith("A1:")
    assert ws.column_dimensions["H"].width == 50 and ws["H2"].alignment.wrap_text


def test_summary_sheet_has_the_runs_numbers(run_dir, tmp_path):
    t = build_tables(load_run_data(run_dir))
    ws = openpyxl.load_workbook(write_xlsx(t, tmp_path / "r.xlsx"))["Summary"]
    header = [c.value for c in ws[1]]
    row = {h: c.value for h, c in zip(header, ws[2])}
    means = {m.arm: m.estimate for m in t.metrics}
    assert row["base"] == pytest.approx(means["base"]) and row["chat"] == pytest.approx(means["chat"])
    assert row["significant"] is True and ws.conditional_formatting


def _convert(soffice: str, xlsx: Path, out: Path, sheet: int, shown: bool = False) -> list[list[str]]:
    # filter options: separator, quote, UTF-8, first line, cell format, language, quote all text, detect
    # special numbers, save cell contents as shown, formulas, spaces, sheet number (LibreOffice >= 7.2)
    opts = f"csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,{str(shown).lower()},false,false,{sheet}"
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


def _cols(ws) -> dict[str, str]:
    return {c.value: c.column_letter for c in ws[1]}


def test_numbers_headers_frozen_ids_and_page_setup(run_dir, tmp_path):
    wb = openpyxl.load_workbook(write_xlsx(build_tables(load_run_data(run_dir)), tmp_path / "r.xlsx"))
    ws = wb["Summary"]
    col = _cols(ws)
    assert {"base CI low", "base CI high", "base n", "Δ chat − base", "p", "p (Holm)"} <= set(col)
    formats = {h: ws[f"{col[h]}2"].number_format for h in ("base", "base CI low", "base n", "Δ chat − base", "p")}
    assert formats == {"base": "0.000", "base CI low": "0.000", "base n": "0", "Δ chat − base": "+0.000;-0.000;0.000",
                       "p": "[<0.001]0.0E+00;0.000"}
    assert ws.freeze_panes == "F2" and wb["Samples"].freeze_panes == "D2" and wb["Pairs"].freeze_panes == "C2"
    pairs = wb["Pairs"]
    header = [c.value for c in pairs[1]]
    assert header[:8] == ["task", "sample id", "turn", "repeat", "base prompt", "base reply", "chat prompt",
                          "chat reply"]
    assert pairs["E2"].value.endswith("Assistant:") and pairs["G2"].value.startswith("<|user|>")
    assert pairs["E2"].alignment.vertical == "bottom"  # a prompt cut to the row shows its last lines: the question
    for sheet in wb:
        setup = sheet.page_setup
        assert setup.orientation == "landscape" and setup.fitToWidth == 1 and setup.fitToHeight == 0
        assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.print_title_rows == "$1:$1"
        assert all(sheet.row_dimensions[r].height for r in range(1, min(sheet.max_row, 20) + 1))
    assert wb["Samples"].print_title_cols == "$A:$C" and wb["Samples"].print_area.endswith(f"$I${wb['Samples'].max_row}")


@pytest.mark.parametrize("direction,fills", [("higher", {"greaterThan": "C6EFCE", "lessThan": "FFC7CE"}),
                                             ("lower", {"lessThan": "C6EFCE", "greaterThan": "FFC7CE"}),
                                             ("neither", {})])
def test_deltas_are_green_only_when_better_by_the_metrics_direction(run_dir, tmp_path, direction, fills):
    t = build_tables(load_run_data(run_dir))
    t.metrics = [dataclasses.replace(m, direction=direction) for m in t.metrics]
    ws = openpyxl.load_workbook(write_xlsx(t, tmp_path / "r.xlsx"))["Summary"]
    delta = f"{_cols(ws)['Δ chat − base']}2"
    got = {r.operator: r.dxf.fill.bgColor.rgb[-6:] for cf in ws.conditional_formatting for r in cf.rules
           if delta in str(cf.sqref) and r.type == "cellIs"}
    assert got == fills


@pytest.mark.slow
def test_libreoffice_shows_the_number_formats_and_repeats_the_ids_on_every_page(run_dir, tmp_path, soffice):
    t = build_tables(load_run_data(run_dir))
    xlsx = write_xlsx(t, tmp_path / "r.xlsx")
    shown = _convert(soffice, xlsx, tmp_path / "shown", 1, shown=True)
    row = dict(zip(shown[0], shown[1]))
    assert re.fullmatch(r"0\.\d{3}", row["base"]) and re.fullmatch(r"0\.\d{3}", row["chat CI high"]), row
    assert row["base n"] == "29" and row["p"] == "0.001" and row["p (Holm)"] == "0.002"
    assert re.fullmatch(r"\+0\.\d{3}", row["Δ chat − base"]), row
    # LibreOffice's own xlsx, read back: the id columns and header repeat on every printed page. (Headless
    # LibreOffice loads no view, so it drops the frozen panes on conversion: those are checked above.)
    out = tmp_path / "lo"
    subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{out}/profile", "--convert-to",
                    "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out), str(xlsx)], check=True, capture_output=True,
                   timeout=180)
    wb = openpyxl.load_workbook(out / "r.xlsx")
    assert [wb[s].print_title_cols for s in ("Summary", "Samples", "Pairs")] == ["$A:$E", "$A:$C", "$A:$B"]
    assert {(ws.print_title_rows, ws.page_setup.orientation, ws.page_setup.fitToWidth) for ws in wb} == {
        ("$1:$1", "landscape", 1)}


@pytest.mark.slow
def test_a_real_organism_runs_workbook_prints_to_a_bounded_number_of_pages(tmp_path, soffice):
    """The default organism run (eight arms, ten tasks, two samples each): about 450 replies. Before the page
    set-up its PDF export was 227 pages (966 for the full run); fit to width, with rows cut to their
    text, it is 23 (157 for the full run)."""
    from psm_eval.cli import main

    assert main(["run", "--limit", "2", "--no-progress", "--no-cache", "--out", str(tmp_path / "runs")]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    t = build_tables(load_run_data(run))
    xlsx = write_xlsx(t, tmp_path / "report.xlsx")
    subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp_path}/profile", "--convert-to", "pdf",
                    "--outdir", str(tmp_path), str(xlsx)], check=True, capture_output=True, timeout=300)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", (tmp_path / "report.pdf").read_bytes()))
    assert len(t.samples) > 400 and pages <= 8 + len(t.samples) // 20 + len(t.pairs) // 5, pages
