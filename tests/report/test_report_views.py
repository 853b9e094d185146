"""The report, compare and index pages as a reader uses them, in headless Chromium at desktop and phone
widths, on runs over real task folders: nothing overflows a phone, chart legends match their lines, the
two-arm browser filters exactly the samples where A and B differ, an opened sample shows references,
metadata and score details (a rollout as one transcript), keyboard navigation, direction-aware colours,
and no local path in any shared file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from psm_eval.report import build_tables, load_run_data, write_compare, write_index, write_reports
from psm_eval.report.charts import CLASS_PALETTE, PALETTE
from psm_eval.report.html import render_html
from tests.report.runs import rich_run, write_run


@pytest.fixture(scope="module")
def rich(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("views")
    run_a, run_b = rich_run(root / "runs" / "rich-a"), rich_run(root / "runs" / "rich-b", seed=3)
    reports = root / "reports"
    out = {"root": root, "run": run_a, "dir": reports / "rich-a"}
    out["html"], out["json"], out["csv"] = write_reports(run_a, reports / "rich-a", ["html", "json", "csv"])
    out["compare"] = write_compare(run_a, run_b, reports / "compare.html")
    out["index"] = write_index(root / "runs", reports / "index.html")
    return out


def _page(browser, path: Path, width: int = 1440, fragment: str = ""):
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: errors.append("request " + r.url) if not r.url.startswith("file:") else None)
    page.goto(path.resolve().as_uri() + fragment)
    page.errors = errors
    return page


def _shown(page) -> list[str]:
    return page.locator("#rows tr").evaluate_all("rows => rows.map(r => r.getAttribute('data-sample'))")


@pytest.mark.parametrize("which", ["html", "compare", "index"])
def test_nothing_overflows_a_phone(browser, rich, which):
    for width in (1440, 390):
        page = _page(browser, rich[which], width)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (which, width)
        assert page.locator("meta[name=viewport]").count() == 1
        assert not page.errors
        page.close()


def test_legend_colours_are_the_lines_colours_and_fit(browser, rich):
    page = _page(browser, rich["html"])
    charts = page.locator("#charts svg").evaluate_all("""svgs => svgs.map(svg => ({
        width: svg.viewBox.baseVal.width,
        lines: Array.from(svg.querySelectorAll('polyline.series')).map(l => [l.dataset.series,
                                                                             l.getAttribute('stroke')]),
        legend: Array.from(svg.querySelectorAll('g.legend-entry')).map(g => [g.dataset.series,
            g.querySelector('rect').getAttribute('fill'), g.getBBox().x + g.getBBox().width])}))""")
    line_charts = [c for c in charts if c["lines"]]
    assert line_charts, "the drift-by-turn chart is missing"
    for c in charts:
        assert all(right <= c["width"] for _, _, right in c["legend"]), c  # no entry clipped
    for c in line_charts:
        legend = {name: fill for name, fill, _ in c["legend"]}
        assert dict(c["lines"]) == legend
    assert page.locator("#charts path.whisker").count() > 0  # intervals on the drift points
    assert page.locator("#charts .axis-title").count() >= 3
    assert not set(PALETTE) & set(CLASS_PALETTE)
    page.close()


def _expected_disagreement(run: Path, a: str, b: str, metric: str) -> set[str]:
    values: dict[tuple[str, str], float] = {}
    for line in (run / "scores.jsonl").read_text().splitlines():
        s = json.loads(line)
        if f"{s['scorer']}.{s['metric']}" == metric and s["value"] is not None:
            values[(s["sample_id"], s["arm"])] = s["value"]
    ids = {sid for sid, _ in values}
    return {i for i in ids if (i, a) in values and (i, b) in values and values[(i, a)] != values[(i, b)]}


def test_two_arm_disagreement_filter_is_exact(browser, rich):
    page = _page(browser, rich["html"])
    page.wait_for_selector("#rows tr")
    assert page.locator("#arm-a option:checked").inner_text() == "base"
    assert page.locator("#arm-b option:checked").inner_text() == "chat"
    page.select_option("#f-metric", label="contains.correct")
    page.check("#f-disagree")
    for a in ("base", "base-plain"):
        page.select_option("#arm-a", label=a)
        expected = _expected_disagreement(rich["run"], a, "chat", "contains.correct")
        assert 0 < len(expected) < 24 and set(_shown(page)) == expected, a
    rows = page.locator("#rows tr")
    assert rows.first.locator(".chip").count() == 2 and rows.first.locator(".chip.pass, .chip.fail").count() == 2
    page.close()


def test_rows_show_questions_and_sort_by_task_and_id(browser, rich):
    page = _page(browser, rich["html"])
    page.wait_for_selector("#rows tr")
    ids = _shown(page)
    assert ids == [f"q{i:03d}" for i in range(24)] + [f"d{i:02d}" for i in range(6)]  # qa < talk, one row a rollout
    assert page.locator("#rows tr").first.locator("td.question").inner_text() == "What is the capital of land 0?"
    page.select_option("select[data-meta=category]", "geo")
    assert _shown(page) == [f"q{i:03d}" for i in range(0, 24, 2)]
    page.close()


def test_opened_sample_shows_references_metadata_details_and_a_rollout_transcript(browser, rich):
    page = _page(browser, rich["html"], fragment="#sample-q001")
    page.wait_for_selector("#open-sample")
    info = page.locator("#detail .sample-info").inner_text()
    assert "City1" in info and "Town1" in info and "category" in info and "history" in info and "pressure" in info
    assert page.locator("#detail > .arms > .arm").count() == 2  # A and B side by side, the third arm folded
    assert "matched:" in page.locator("#detail .arm .score-detail").first.inner_text()
    page.goto(rich["html"].resolve().as_uri() + "#sample-d02")
    page.wait_for_selector("#open-sample")
    assert page.locator("#detail > .arms > .arm").first.locator(".transcript .turn").count() == 3
    text = page.locator("#detail > .arms > .arm").first.inner_text()
    assert "Who are you? (2)" in text and "And your name?" in text and "claims:" in text
    assert not page.errors
    page.close()


def test_keyboard_navigation(browser, rich):
    page = _page(browser, rich["html"])
    page.wait_for_selector("#rows tr")
    assert page.locator("#rows tr[tabindex='0']").count() == 30
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.getAttribute('data-sample')") == "q000"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_selector("#open-sample")
    assert page.locator("#open-sample").inner_text().endswith("q001")
    page.keyboard.press("j")  # with a sample open, the next one opens
    expect(page.locator("#open-sample")).to_have_text(re.compile(r"q002$"))  # polls without eval (the page's CSP)
    page.keyboard.press("k")
    expect(page.locator("#open-sample")).to_have_text(re.compile(r"q001$"))  # polls without eval (the page's CSP)
    page.keyboard.press("Escape")
    assert page.locator("#open-sample").count() == 0
    assert page.evaluate("document.activeElement.getAttribute('data-sample')") == "q001"
    page.close()


def test_differences_are_coloured_by_declared_direction(browser, rich):
    page = _page(browser, rich["html"])
    cells = page.locator("#differences details[open] tbody tr").evaluate_all(
        "rows => rows.map(r => [r.cells[2].textContent, r.cells[6].className])")
    tone = dict(cells)
    assert "better" in tone["correct"]  # +0.3, higher is better
    assert "worse" in tone["refused"]  # +0.083, lower is better
    assert "better" not in tone["length_tokens"] and "worse" not in tone["length_tokens"]  # neither: never coloured
    page.close()


def test_headline_names_roles_and_failures_and_a_missing_arm(rich, tmp_path):
    html = rich["html"].read_text()
    assert "prompted base arm <em>base</em> vs post-trained arm <em>chat</em>" in html
    assert re.search(r'failure-banner.*?1 generation\s+records failed.*?<li>base: 1 timeout</li>', html, re.S)
    lone = render_html(build_tables(load_run_data(write_run(tmp_path / "lone", n=4, arms=("base",)))))
    headline = lone[lone.index('<section id="headline">'):lone.index('<section id="charts">')]
    assert "None" not in headline and "no post-trained arm" in headline


def test_compare_page_summarises_changes_and_warns_about_setup(browser, rich):
    page = _page(browser, rich["compare"])
    assert page.locator("#changes .setup-warning").filter(has_text="seed differs: A 0, B 3").count() == 1
    total = page.locator("#comparison tbody tr").count()
    page.check("#f-changed")
    visible = page.locator("#comparison tbody tr:not([hidden])").count()
    assert visible == page.locator("#comparison tbody tr.changed").count() < total
    # an arm keeps its colour in both runs
    colors = page.evaluate("window.psmReport.data.colors")
    arms = page.evaluate("window.psmReport.data.arms")
    assert colors[arms.index("A·chat")] == colors[arms.index("B·chat")]
    page.close()


def test_index_links_are_relative_and_show_seed_and_limit(browser, rich):
    page = _page(browser, rich["index"])
    assert page.locator("#runs thead").inner_text().split("\t")[3:5] == ["seed", "limit"]
    href = page.locator("a", has_text="report").first.get_attribute("href")
    assert href == "./rich-a/report.html"
    page.locator("a", has_text="report").first.click()
    page.wait_for_selector("#rows tr")
    page.close()


def test_no_local_path_in_shared_files(rich):
    root = str(rich["root"])
    for f in (rich["html"], rich["json"], rich["csv"], rich["compare"], rich["index"]):
        text = f.read_text(encoding="utf-8")
        assert root not in text and "/tmp/" not in text and "/work/" not in text, f
    assert "…/tiny-base" in rich["html"].read_text()
