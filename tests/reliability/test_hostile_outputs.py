"""Hostile text end to end: dataset text (system, dialogue turns, references) and model replies full of
template syntax, markup, spreadsheet formulas, control and XML-invalid characters, lone surrogates,
bidi overrides, Markdown table breakers and 1 MB strings go through `run` → `score` → `report` →
`baseline export` → `gate` via the CLI, and every file written stays valid and inert.

The model is a fake that answers each request with the reply the example drew for its sample and arm:
what is tested is psm_eval's own writing of what a model returns.
"""

from __future__ import annotations

import csv
import json
import re
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Sequence

import openpyxl
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from markdown_it import MarkdownIt  # a CommonMark renderer: what the gate's Markdown renders as

import psm_eval.report
import psm_eval.run.runner
from psm_eval.backends.spec import ModelSpec
from psm_eval.cli import main
from psm_eval.report.excel import safe_text
from psm_eval.report.samples_csv import FORMULA_STARTS
from psm_eval.backends import Capabilities
from psm_eval.types import GenRequest, LLRequest, ModelInfo, Outcome

PAYLOADS = [
    "{{ 7*7 }}", "{% for x in range(3) %}{{ x }}{% endfor %}", "{# open comment", "{% raw %}", "${7*7}",
    "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "</textarea>", "</script><!--", "]]>",
    "<![CDATA[x]]>", "&amp; &#0; &lt;", "=1+1", '=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1)",
    "-2+3", "\t=1", "\r=1", "'=1", "\ud800", "\udfff lone", "\u202e", "\u2066isolate\u2069", "\u200b\u200d\ufeff",
    "| a | b |\n|---|---|", "`code` ``", "\\|", "\n\n", "\r\n", "\x00", "\x0b\x0c", "\x7f", "\x1b[31m",
    "\ufffe\uffff", "\U0001f600", "[x](javascript:alert(1))", "![i](http:x) [y](http:evil) **b**", "\u2028\u2029",
]
_piece = st.one_of(st.sampled_from(PAYLOADS), st.text(max_size=30),
                   st.characters(max_codepoint=0x1F).map(str), st.just("\x7f"))
TEXT = st.lists(_piece, max_size=5).map("".join)
"""Model replies: anything, lone surrogates included (the store keeps them as JSON escapes)."""
DATA_TEXT = TEXT.map(lambda s: "".join(c for c in s if not "\ud800" <= c <= "\udfff"))
"""Task data: a lone surrogate in a data file is refused with a one-line TaskError (tested below)."""
SAMPLES = st.lists(st.tuples(st.lists(DATA_TEXT, min_size=5, max_size=5), st.lists(TEXT, min_size=2, max_size=2)),
                   min_size=2, max_size=2)
"""Per sample: (system, user, assistant, user, reference) and the two arms' replies."""
PLACE = TEXT.map(lambda s: "d-" + "".join(c for c in s if c not in "/\x00" and not "\ud800" <= c <= "\udfff")[:40])
"""A folder name for the runs and the baseline file, so hostile text reaches the gate's outputs too."""
BIG = "{{ 7*7 }}<script>alert(1)</script>=1+1\x00\u202e" * 24_000  # > 1 MB
ARMS = ["base=dummy:render=transcript:assistant", "chat=dummy:accepts=messages,render=chat"]
TASK_YAML = """name: hostile
version: 1
description: hostile text end to end
data: {path: data.jsonl}
fields: {id: id, dialogue: turns, references: ref}
scorers: [contains, exact_match, reply_signals, {name: regex, args: {pattern: "(?s)(.+)"}}]
"""


class Echo:
    """Answers every request with the reply drawn for its sample and arm (`replies["s0/base"]`)."""

    def __init__(self, spec: ModelSpec, replies: dict[str, str]):
        self.info = ModelInfo(model_type="dummy", accepts=spec.args.get("accepts", "text"))
        self.capabilities = Capabilities()
        self.replies = replies

    def generate(self, requests: Sequence[GenRequest]) -> list[Outcome]:
        return [Outcome(ok=True, output=self.replies["/".join(r.key.split("/")[1:3])], finish="stop")
                for r in requests]

    def loglikelihood(self, requests: Sequence[LLRequest]) -> list[Outcome]:
        raise AssertionError("no multiple-choice task here")

    def fingerprint(self, digest_file: object = None) -> None:
        return None  # a fake is never cached

    def close(self) -> None:
        pass


def _write_task(folder: Path, samples: list[tuple[list[str], list[str]]]) -> Path:
    rows = [{"id": f"s{i}", "ref": ref, "turns": [{"role": r, "content": c} for r, c in
                                                 zip(("system", "user", "assistant", "user"), (sys_, u1, a1, u2))]}
            for i, ((sys_, u1, a1, u2, ref), _) in enumerate(samples)]
    folder.mkdir(parents=True)
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (folder / "task.yaml").write_text(TASK_YAML, encoding="utf-8")
    return folder


def _lines(path: Path) -> list[dict]:
    """Every line of a JSONL file must be JSON on its own. Lines end at "\n" only: U+2028, U+0085 and
    friends stay raw inside JSON strings, so `str.splitlines()` would cut records apart."""
    return [json.loads(line) for line in path.read_bytes().decode("utf-8").split("\n")[:-1]]


def _escaped(text: str) -> str:
    """The CSV's policy for lone surrogates: visible `\\udXXX` escapes (UTF-8 cannot hold them)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def check_store(run_dir: Path, replies: dict[str, str], dialogue: dict[str, list[str]]) -> None:
    gens = _lines(run_dir / "generations.jsonl")
    assert len(gens) == len(replies) and {g["status"] for g in gens} == {"ok"}
    for g in gens:
        assert g["output"] == replies[f"{g['sample_id']}/{g['arm']}"]  # exactly, lone surrogates included
        turns = dialogue[g["sample_id"]]
        if g["arm"] == "chat":
            assert [m["content"] for m in g["prompt"]["messages"]] == turns
        else:
            assert all(t in g["prompt"]["text"] for t in turns)  # verbatim: never rendered as a template
    regex = [s for s in _lines(run_dir / "scores.jsonl") if s["scorer"] == "regex" and s["metric"] == "correct"]
    assert {s["detail"]["extracted"] for s in regex} == {r or None for r in replies.values()}  # copied into scores
    json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))


def check_report_json(path: Path, replies: dict[str, str], dialogue: dict[str, list[str]]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert {f"{s['sample_id']}/{s['arm']}": s["reply"] for s in data["samples"]} == replies
    assert all(t in s["prompt"] for s in data["samples"] for t in dialogue[s["sample_id"]])


NOT_HTML = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff]")
"""Code points the HTML standard does not allow raw in a document (controls but whitespace, noncharacters)."""


class _Elements(HTMLParser):
    """Start tags with their attributes, and (tag, text) of each element named in `capture`."""

    def __init__(self, html: str, capture: tuple[str, ...]):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.captured: list[tuple[str, str]] = []
        self._capture, self._inside = capture, False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        if tag in self._capture:
            self.captured.append((tag, ""))
            self._inside = True

    def handle_endtag(self, tag: str) -> None:
        self._inside = self._inside and tag not in self._capture

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.captured[-1] = (self.captured[-1][0], self.captured[-1][1] + data)


def _ours() -> tuple[set[str], set[str]]:
    """Element and attribute names the report's own templates and charts can emit."""
    root = Path(psm_eval.report.__file__).parent
    source = "".join(p.read_text(encoding="utf-8") for p in [*root.glob("templates/*.j2"), root / "charts.py"])
    tags = re.findall(r"<([a-z][a-z0-9]*)([^<>]*)>", source)
    # an HTML parser reads attribute names lower-cased (SVG's viewBox as viewbox)
    return {t for t, _ in tags}, {a.lower() for _, inside in tags
                                  for a in re.findall(r"\s([a-zA-Z][a-zA-Z-]*)(?=[\s=>]|$)", inside)}


def check_page(path: Path, capture: tuple[str, ...]) -> _Elements:
    """Only our own elements and attributes (no `on*`), markup from the text only ever escaped, and no
    code point HTML forbids raw (controls other than whitespace, noncharacters)."""
    html = path.read_text(encoding="utf-8")
    page = _Elements(html, capture)
    tags, attrs = _ours()
    assert {t for t, _ in page.tags} <= tags
    assert {a for _, at in page.tags for a, _ in at} <= attrs
    assert not [a for _, at in page.tags for a, _ in at if a.startswith("on")]
    for markup in ("<script>alert", "<img", "</textarea", "<![CDATA["):
        assert markup not in html
    assert not NOT_HTML.search(html)
    return page


def check_html(path: Path, replies: dict[str, str]) -> None:
    page = check_page(path, capture=("script",))
    assert [at for t, at in page.tags if t == "script"] == [[("type", "application/json"), ("id", "psm-data")], []]
    data = json.loads(page.captured[0][1])
    assert {f"{row[1]}/{data['arms'][row[2]]}": row[8] for row in data["rows"]} == replies


def check_index(path: Path, runs: Path) -> None:
    """The index page names the (hostile) runs folder, relative to the index (no local path); HTML-forbidden
    code points shown as U+FFFD (and CR read as LF, as every HTML parser does)."""
    page = check_page(path, capture=("title",))
    shown = NOT_HTML.sub("\ufffd", runs.name).replace("\r\n", "\n").replace("\r", "\n")
    assert page.captured[0][1] == f"psm_eval runs · ./{shown}" and [t for t, _ in page.tags].count("script") == 1


def check_xlsx(path: Path, replies: dict[str, str], dialogue: dict[str, list[str]]) -> None:
    wb = openpyxl.load_workbook(path)
    cells = [c for ws in wb for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    rows = list(wb["Samples"].iter_rows(values_only=True))
    head = rows[0]
    got = {f"{r[head.index('sample_id')]}/{r[head.index('arm')]}": r for r in rows[1:]}
    assert set(got) == set(replies)
    for key, row in got.items():
        assert (row[head.index("reply")] or "") == safe_text(replies[key])  # the documented cell policy, exactly
        prompt = row[head.index("prompt")] or ""
        if len(prompt) < 32_000:  # not cut at the cell limit
            assert all(safe_text(t) in prompt for t in dialogue[key.split("/")[0]])


def check_csv(path: Path, replies: dict[str, str], dialogue: dict[str, list[str]], score_columns: set[str]) -> None:
    csv.field_size_limit(sys.maxsize)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        head, *rows = list(csv.reader(fh))
    got = {f"{r[head.index('sample_id')]}/{r[head.index('arm')]}": r for r in rows}
    unprefix = (lambda c: c[1:] if c.startswith("'") else c)
    assert {k: unprefix(r[head.index("reply")]) for k, r in got.items()} == {k: _escaped(v) for k, v in replies.items()}
    assert all(t in unprefix(r[head.index("prompt")]) for k, r in got.items() for t in dialogue[k.split("/")[0]])
    for row in rows:
        for name, cell in zip(head, row):
            if cell.startswith(FORMULA_STARTS):  # only a number may start like a formula
                assert name in score_columns and float(cell) < 0, (name, cell)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _xml_text(text: str) -> str:
    """The gate's JUnit policy: characters XML 1.0 cannot hold become U+FFFD."""
    return re.sub("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]", "\ufffd", text)


def check_markdown(path: Path, code_spans: list[str]) -> list[str]:
    """Every table row has the header's cell count (GFM splits rows at pipes not escaped by a backslash),
    nothing renders as a link, image or HTML, and the paths come back whole in their code spans."""
    md = path.read_text(encoding="utf-8")
    table = [line for line in md.split("\n") if line.startswith("|")]
    assert len({[m for m in re.findall(r"\\.|\|", line)].count("|") for line in table}) <= 1, table
    page = _Elements(MarkdownIt("commonmark").enable("table").render(md), capture=("h2", "code"))
    assert {t for t, _ in page.tags} <= {"h2", "p", "code", "table", "thead", "tbody", "tr", "th", "td", "ul",
                                         "li"}  # raw HTML is on: a tag from the text would show here
    assert [text for tag, text in page.captured if tag == "code"][:2] == [_one_line(t) for t in code_spans]
    return table


def check_gate(folder: Path, run_dir: Path, baseline: Path) -> None:
    result = json.loads((folder / "g.json").read_text(encoding="utf-8"))
    assert (result["run"], result["baseline"]) == (str(run_dir), str(baseline)) and result["metrics"]
    assert len(check_markdown(folder / "g.md", [str(run_dir), str(baseline)])) == len(result["metrics"]) + 2
    junit = ET.fromstring((folder / "g.xml").read_bytes())
    assert junit.tag == "testsuites" and len(junit.findall(".//testcase")) == len(result["metrics"])


def check_gate_error(folder: Path, run_dir: Path, baseline: Path) -> None:
    """A precondition error names the (hostile) run folder, on one line, in every output."""
    error = json.loads((folder / "e.json").read_text(encoding="utf-8"))["error"]
    assert _one_line(str(run_dir)) in error
    check_markdown(folder / "e.md", [str(run_dir), str(baseline)])
    # the heading renders as exactly the error's text
    page = _Elements(MarkdownIt("commonmark").render((folder / "e.md").read_text(encoding="utf-8")), ("h2",))
    assert page.captured[0][1] == _one_line(f"psm-eval gate: PRECONDITION ERROR (exit 3): {error}")
    [junit] = ET.fromstring((folder / "e.xml").read_bytes()).findall(".//testcase/error")
    assert junit.get("message") == junit.text == _xml_text(error)


def _gate_outputs(folder: Path, stem: str) -> list[str]:
    return [f"--{kind}={folder / f'{stem}.{ext}'}" for kind, ext in (("markdown", "md"), ("junit", "xml"),
                                                                      ("json", "json"))]


# No shrinking: one example is a whole pipeline (~0.7 s), and shrinking a failure took over 5 minutes;
# a failing example is reported as drawn.
@settings(max_examples=20, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(samples=SAMPLES, place=PLACE)
@example(samples=[(["sys", BIG, "ok", "=1+1", BIG[:50]], [BIG, "\ud800" + BIG[:1000]]),
                  (["", "`|`", "\ufffe", "{{ 7*7 }}", "49"], ["{{ 7*7 }}", "=HYPERLINK(\"http://x\",\"y\")"])],
         place="d-big | `x` <b>=1+1\n\x1b `[y](http:evil) ![i](http:x) \\| \x0b\x85")
def test_hostile_text_keeps_every_output_valid_and_inert(samples: list[tuple[list[str], list[str]]], place: str,
                                                         tmp_path_factory: pytest.TempPathFactory,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path_factory.mktemp("hostile")
    replies = {f"s{i}/{arm}": out[k] for i, (_, out) in enumerate(samples) for k, arm in enumerate(("base", "chat"))}
    dialogue = {f"s{i}": texts[:4] for i, (texts, _) in enumerate(samples)}
    monkeypatch.setattr(psm_eval.run.runner, "create_backend", lambda spec, retries=3: Echo(spec, replies))
    task = _write_task(root / "task", samples)
    runs = root / place
    assert main(["run", "--task", str(task), *[a for arm in ARMS for a in ("--arm", arm)], "--out", str(runs),
                 "--no-progress", "--no-cache", "--no-score"]) == 0
    [run_dir] = [p for p in runs.iterdir() if p.is_dir()]
    assert main(["score", str(run_dir), "--no-progress"]) == 0
    assert main(["report", str(run_dir), "--out", str(root / "report")]) == 0
    assert main(["report", "--index", str(runs), "--out", str(root / "index.html")]) == 0
    baseline = root / f"{place}.json"
    assert main(["baseline", "export", str(run_dir), "-o", str(baseline)]) == 0
    assert main(["gate", str(run_dir), "--baseline", str(baseline), *_gate_outputs(root, "g")]) in (0, 4)
    (run_dir / "scores.jsonl").rename(root / "scores.jsonl")
    assert main(["gate", str(run_dir), "--baseline", str(baseline), *_gate_outputs(root, "e")]) == 3
    (root / "scores.jsonl").rename(run_dir / "scores.jsonl")

    check_store(run_dir, replies, dialogue)
    check_report_json(root / "report" / "report.json", replies, dialogue)
    check_html(root / "report" / "report.html", replies)
    check_index(root / "index.html", runs)
    check_xlsx(root / "report" / "report.xlsx", replies, dialogue)
    names = set(json.loads((root / "report" / "report.json").read_text(encoding="utf-8"))["score_names"])
    check_csv(root / "report" / "samples.csv", replies, dialogue, names)
    check_gate(root, run_dir, baseline)
    check_gate_error(root, run_dir, baseline)


def test_lone_surrogate_in_task_data_is_a_one_line_error_naming_the_line(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture) -> None:
    """Was: datasets fell back to reading a one-line file as one JSON document (lists exploded into
    rows, the surrogate dropped) — a reference list loaded as two wrong samples without an error."""
    task = _write_task(tmp_path / "task", [(["s", "\ud800", "a", "u", "r"], ["", ""])])
    assert main(["run", "--task", str(task), "--arm", ARMS[0], "--out", str(tmp_path / "runs"), "--no-progress",
                 "--no-cache", "--no-score"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "data.jsonl:line 1: a lone surrogate" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
