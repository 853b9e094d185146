"""Write report files: one run (HTML, xlsx, JSON, CSV), an index of runs, a comparison of two runs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from psm_eval.records import MANIFEST, write_json_atomic, write_text_atomic
from psm_eval.report.errors import ReportError
from psm_eval.report.load import load_run_data
from psm_eval.report.tables import ReportTables, build_tables

__all__ = ["FORMATS", "write_reports", "write_index", "write_compare", "default_out"]

FORMATS = ("html", "xlsx", "json", "csv")
REPORTS = Path("reports")


def default_out(name: str) -> Path:
    return REPORTS / name


def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # lone surrogates from model output become visible escapes instead of failing the write
    return write_text_atomic(path, text)


def write_tables(t: ReportTables, out: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Render one run's tables in the given formats into `out/`."""
    paths = []
    if "html" in formats:
        from psm_eval.report.html import render_html

        paths.append(_write_text(out / "report.html", render_html(t)))
    if "xlsx" in formats:
        from psm_eval.report.excel import write_xlsx

        paths.append(write_xlsx(t, out / "report.xlsx"))
    if "json" in formats:
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "report.json", t.to_json())
        paths.append(out / "report.json")
    if "csv" in formats:
        from psm_eval.report.samples_csv import render_csv

        paths.append(_write_text(out / "samples.csv", render_csv(t)))
    return paths


def write_reports(run_dir: Path | str, out: Path | str | None = None, formats: Sequence[str] = FORMATS, *,
                  baseline_arm: str | None = None, target_arm: str | None = None) -> list[Path]:
    """Build the table model of a run and write its reports (default `reports/<run_id>/`)."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ReportError(f"unknown report format {unknown[0]!r} (choose from {', '.join(FORMATS)})")
    run = load_run_data(run_dir)
    tables = build_tables(run, baseline_arm=baseline_arm, target_arm=target_arm)
    return write_tables(tables, Path(out) if out else default_out(run.run_id), formats)


def _find_runs(root: Path, depth: int = 3) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if MANIFEST in filenames:
            found.append(Path(dirpath))
            dirnames[:] = []
        elif len(rel.parts) >= depth:
            dirnames[:] = []
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))  # `.starting-*`: a run not yet begun
    return found


def write_index(root: Path | str, out: Path | str | None = None) -> Path:
    """An index page of every run under `root`: date, tasks, arms, headline metrics, link to its report."""
    from psm_eval.report.html import render_page

    root = Path(root)
    if not root.is_dir():
        raise ReportError(f"{root}: no such folder")
    out_file = Path(out) if out else REPORTS / "index.html"
    if out_file.suffix != ".html":
        out_file = out_file / "index.html"
    runs = []
    for path in _find_runs(root):
        try:
            run = load_run_data(path, require_scores=False, records=False)
        except ReportError:
            continue
        t = build_tables(run)
        report = _find_report(run.run_id, path, out_file.parent)
        runs.append({
            "run_id": run.run_id, "created": run.manifest.created, "status": t.run_status,
            "seed": run.manifest.seed, "limit": "–" if run.manifest.limit is None else run.manifest.limit,
            "tasks": t.tasks, "arms": t.arms, "path": _relative(path, out_file.parent),
            "headline": [f"{h.task} {h.metric}: {_f(h.baseline)} → {_f(h.target)}" for h in t.headline],
            "link": "/".join(quote(p) for p in _relative(report, out_file.parent).split("/")) if report else None})
    if not runs:
        raise ReportError(f"{root}: no run folders (folders with {MANIFEST}) found")
    runs.sort(key=lambda r: str(r["created"]), reverse=True)
    return _write_text(out_file, render_page("index.html.j2", root=_relative(root, out_file.parent), runs=runs))


def _relative(path: Path, start: Path) -> str:
    """`path` as seen from the folder `start` (POSIX separators), so links and hints work wherever the
    folders are moved together."""
    rel = os.path.relpath(path.resolve(), start.resolve()).replace(os.sep, "/")
    return rel if rel.startswith(".") else "./" + rel


def _find_report(run_id: str, run_dir: Path, index_dir: Path) -> Path | None:
    """A run's HTML report: next to the index (`<index dir>/<run_id>/`), in the default `reports/<run_id>/`,
    or in the run folder itself."""
    for cand in (index_dir / run_id / "report.html", default_out(run_id) / "report.html", run_dir / "report.html"):
        if cand.is_file():
            return cand
    return None


def _f(v: float | None) -> str:
    return "–" if v is None else f"{v:.3g}"


def write_compare(run_a: Path | str, run_b: Path | str, out: Path | str | None = None) -> Path:
    """A report comparing run B with run A (same tasks), samples joined by id."""
    from psm_eval.report.compare import build_compare
    from psm_eval.report.html import embed_json, render_page, sample_payload

    a, b = load_run_data(run_a), load_run_data(run_b)
    c = build_compare(a, b)
    out_file = Path(out) if out else REPORTS / f"compare-{a.run_id}-vs-{b.run_id}.html"
    if out_file.suffix != ".html":
        out_file = out_file / f"compare-{a.run_id}-vs-{b.run_id}.html"
    return _write_text(out_file, render_page("compare.html.j2", c=c,
                                             data=embed_json(sample_payload(c.joined, c.colors))))
