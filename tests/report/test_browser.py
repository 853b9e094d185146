"""The HTML report in headless Chromium: no console errors, filters and search work, deep links
open their sample, hostile strings never run."""

from __future__ import annotations

from psm_eval.report import write_compare, write_index, write_reports


def _open(browser, path, fragment=""):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (errors.append("dialog " + d.message), d.dismiss()))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if not r.url.startswith("file:") else None)
    page.goto(path.resolve().as_uri() + fragment)
    page.wait_for_selector("#rows tr")
    return page, errors, requests


def _count(page) -> int:
    return page.locator("#rows tr").count()


def test_filters_search_and_deep_link(browser, run_dir, tmp_path):
    [html] = write_reports(run_dir, tmp_path / "out", ["html"])
    page, errors, requests = _open(browser, html, "#sample-s00007")
    assert page.locator("#open-sample").inner_text().endswith("s00007")
    assert page.locator("#detail .arm").count() == 2
    assert _count(page) == 30
    page.fill("#q", "the answer is 14")
    assert 1 <= _count(page) < 30
    page.fill("#q", "")
    page.check("#f-fail")
    assert _count(page) == 1  # the one failed generation
    page.uncheck("#f-fail")
    page.select_option("#f-metric", label="contains.correct")
    page.check("#f-disagree")
    n = _count(page)
    assert 0 < n < 30
    page.locator("#rows tr").first.click()
    assert page.url.split("#")[1].startswith("sample-")
    assert not errors and not requests
    page.close()


def test_hostile_strings_do_not_run(browser, hostile_dir, tmp_path):
    [html] = write_reports(hostile_dir, tmp_path / "out", ["html"])
    page, errors, requests = _open(browser, html)
    text = ""
    for i in range(_count(page)):
        page.locator("#rows tr").nth(i).click()
        page.wait_for_selector("#open-sample")
        page.locator("#detail details").first.evaluate("d => d.open = true")
        assert page.locator("#detail img, #detail script, #detail a").count() == 0
        text += page.locator("#detail").inner_text()
    assert page.evaluate("window.__pwned") is None
    assert "window.__pwned" in text  # shown as text
    assert not errors and not requests
    page.close()


def test_index_and_compare_pages_load(browser, run_dir, tmp_path):
    from tests.report.runs import write_run

    other = write_run(run_dir.parent / "run-b", n=30, seed=5)
    write_reports(run_dir, tmp_path / "reports" / "run-a", ["html"])
    index = write_index(run_dir.parent, tmp_path / "reports" / "index.html")
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(index.as_uri())
    assert page.locator("#runs tbody tr").count() == 2 and page.locator("a[href='./run-a/report.html']").count() == 1
    page.locator("#runs th").first.click()
    compare = write_compare(run_dir, other, tmp_path / "reports")
    page2, errors2, _ = _open(browser, compare)
    assert _count(page2) == 30 and page2.locator("#col-a").inner_text() == "A: A·base"
    assert not errors and not errors2
