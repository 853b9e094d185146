"""`psm-eval report`, `report --index` and `compare`: paths printed, one-line errors."""

from __future__ import annotations

from psm_eval.cli import main
from tests.report.runs import write_run


def test_report_writes_all_formats_and_prints_paths(run_dir, tmp_path, capsys):
    assert main(["report", str(run_dir), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out.split("\n")
    written = [line.rsplit("/", 1)[1] for line in out if line.startswith("report written to ")]
    assert written == ["report.html", "report.xlsx", "report.json", "samples.csv"]
    assert f"open in a browser: file://{tmp_path / 'o' / 'report.html'}" in out
    assert main(["report", str(run_dir), "--json", "--out", str(tmp_path / "j")]) == 0
    assert [p.name for p in (tmp_path / "j").iterdir()] == ["report.json"]
    assert main(["report", str(run_dir), "--csv", "--out", str(tmp_path / "c")]) == 0
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["samples.csv"]


def test_index_and_compare(run_dir, tmp_path, capsys):
    write_run(run_dir.parent / "run-b", n=30, seed=3)
    starting = run_dir.parent / ".starting-x"  # a run killed while its folder was being made
    starting.mkdir()
    (starting / "manifest.json").write_text((run_dir / "manifest.json").read_text())
    assert main(["report", "--index", str(run_dir.parent), "--out", str(tmp_path / "i.html")]) == 0
    assert ".starting-x" not in (tmp_path / "i.html").read_text()
    assert main(["compare", str(run_dir), str(run_dir.parent / "run-b"), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "index written to" in out and "comparison written to" in out


def test_errors_are_one_line(tmp_path, capsys, run_dir):
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert main(["report"]) == 2
    assert main(["report", str(run_dir), "--target-arm", "nope"]) == 2
    other = write_run(tmp_path / "x", n=3)
    import json
    m = json.loads((other / "manifest.json").read_text())
    m["tasks"][0]["name"] = "other-task"
    (other / "manifest.json").write_text(json.dumps(m))
    assert main(["compare", str(run_dir), str(other)]) == 2
    err = capsys.readouterr().err.strip().split("\n")
    assert len(err) == 4 and all(line.startswith("psm-eval: error: ") for line in err)
