"""`samples.csv`: the xlsx Samples sheet's rows, parsed back exactly by the csv module, inert in a spreadsheet."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from psm_eval.report import build_tables, load_run_data, write_reports
from psm_eval.report.excel import write_xlsx
from psm_eval.report.samples_csv import FORMULA_STARTS, render_csv
from psm_eval.report.tables import ReportTables, SampleRow, sample_table
from tests.report.runs import BIG, HOSTILE, write_run

AWKWARD = ["\ud800 lone \udfff", 'say "hi", then\r\nnext line\nand\rmore', "a,b,,c", "'already quoted", "-0.5",
           "\tTAB first", "\rCR first", "\x00\x01\x1b\x7f", "\u202eRTL\u2066 \u200b\ufeff", ""]


def read_csv(path: Path) -> list[list[str]]:
    """The file as the csv module reads it (a 1 MB reply is over its default 128 KiB field limit)."""
    csv.field_size_limit(sys.maxsize)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return list(csv.reader(fh))


def uninert(cell: str) -> str:
    """What a reader does to undo the formula guard: drop the one leading `'`."""
    return cell[1:] if cell.startswith("'") else cell


def as_written(value: Any) -> str:
    """A table value as the CSV holds it: numbers and "" as csv writes them; lone surrogates as `\\udXXX`."""
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return repr(value)
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


FORMULAS = ["=1+1", '=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3", "\t=1", "\r=1", "'=1"]


def _table(replies: list[str], score: float | None) -> ReportTables:
    rows = [SampleRow(task="t", sample_id=f"s{i}", arm="a", turn=0, repeat=0, kind="generate", status="ok",
                      prompt="=cmd|' /C calc'!A0", reply=reply, error="", scores={"x.delta": score}, unscored={},
                      judge=["@SUM(1)"]) for i, reply in enumerate(replies)]
    return ReportTables(run_id="r", run_status="complete", arms=["a"], tasks=["t"], baseline_arm="a", target_arm=None,
                        arm_renderers={}, run_info=[], samples=rows, score_names=["x.delta"])


def test_csv_parses_back_to_exactly_the_sample_rows(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", n=len(HOSTILE) + len(AWKWARD) + 1, replies=[*HOSTILE, *AWKWARD, BIG])
    t = build_tables(load_run_data(run))
    [path] = write_reports(run, tmp_path / "out", ["csv"])
    assert path.name == "samples.csv" and path.read_bytes().startswith(b"\xef\xbb\xbf")
    header, rows = sample_table(t)
    got = read_csv(path)
    assert got[0] == header
    assert [[uninert(c) for c in row] for row in got[1:]] == [[as_written(v) for v in row] for row in rows]
    replies = {uninert(row[7]) for row in got[1:]}
    assert BIG in replies and "\\ud800 lone \\udfff" in replies and 'say "hi", then\r\nnext line\nand\rmore' in replies


def test_csv_has_the_columns_of_the_xlsx_samples_sheet(run_dir: Path, tmp_path: Path) -> None:
    t = build_tables(load_run_data(run_dir))
    sheet = openpyxl.load_workbook(write_xlsx(t, tmp_path / "r.xlsx"))["Samples"]
    (tmp_path / "s.csv").write_text(render_csv(t), encoding="utf-8")
    got = read_csv(tmp_path / "s.csv")
    assert got[0] == [c.value for c in sheet[1]] and len(got) == sheet.max_row == len(t.samples) + 1


def test_formula_looking_text_is_prefixed_and_numbers_are_not(tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text(render_csv(_table(FORMULAS, -0.5)), encoding="utf-8")
    rows = read_csv(tmp_path / "s.csv")[1:]
    assert [row[7] for row in rows] == ["'" + f for f in FORMULAS]
    assert {(row[6], row[10]) for row in rows} == {("'=cmd|' /C calc'!A0", "'@SUM(1)")}
    assert {row[9] for row in rows} == {"-0.5"}  # a negative number stays a number
    assert not [c for row in rows for c in row if c.startswith(FORMULA_STARTS) and c != "-0.5"]
    (tmp_path / "s.csv").write_text(render_csv(_table(["plain = text, 1+1"], None)), encoding="utf-8")
    [_, row] = read_csv(tmp_path / "s.csv")
    assert row[7] == "plain = text, 1+1" and row[9] == ""


@pytest.mark.slow
def test_libreoffice_opens_the_csv_with_no_formulas(tmp_path: Path, soffice: str) -> None:
    (tmp_path / "s.csv").write_text(render_csv(_table(FORMULAS, -0.5)), encoding="utf-8")
    subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp_path}/profile", "--convert-to", "xlsx",
                    "--outdir", str(tmp_path), str(tmp_path / "s.csv")], check=True, capture_output=True, timeout=180)
    cells = [c for row in openpyxl.load_workbook(tmp_path / "s.xlsx").active.iter_rows(min_row=2) for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]  # unprefixed, LibreOffice makes =1+1 a formula
    assert {(c.value, c.data_type) for c in cells if c.column == 10} == {(-0.5, "n")}
