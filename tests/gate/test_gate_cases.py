"""Gate verdicts and exit codes on hand-made runs: edge cases, pre-checks, policy, outputs."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from psm_eval.gate.baseline import write_baseline_file as write_baseline
from psm_eval.cli import main
from tests.gate.fakes import acc, make_run

ONES, ZEROS = [1.0] * 40, [0.0] * 40
MIXED = [float(i % 3 != 0) for i in range(40)]  # 2/3 correct


def gate(tmp_path: Path, run: dict, base: dict, *args: str, policy: str | None = None, run_kw: dict | None = None,
         base_kw: dict | None = None) -> int:
    r = make_run(tmp_path / "run", run, **(run_kw or {}))
    b = make_run(tmp_path / "base", base, **(base_kw or {}))
    extra = list(args)
    if policy is not None:
        (tmp_path / "gate.yaml").write_text(policy)
        extra += ["--policy", str(tmp_path / "gate.yaml")]
    return main(["gate", str(r), "--baseline", str(b), "--json", str(tmp_path / "gate.json"), *extra])


def verdicts(tmp_path: Path) -> list[str]:
    return [m["verdict"] for m in json.loads((tmp_path / "gate.json").read_text())["metrics"]]


@pytest.mark.parametrize("run, base, code, verdict", [
    (MIXED, MIXED, 0, "PASS"),               # identical
    (ONES, ONES, 0, "PASS"),                 # 100 %: zero variance
    (ZEROS, ZEROS, 0, "PASS"),               # 0 %: zero variance
    (ZEROS, ONES, 1, "REGRESSION"),          # 100 % → 0 %: zero variance, certain drop
    ([0.0] * 20 + [1.0] * 20, ONES, 1, "REGRESSION"),
    (ONES, ZEROS, 0, "PASS"),                # improvement
    ([1.0], [1.0], 4, "INCONCLUSIVE"),       # n = 1 < min_samples
])
def test_verdicts_and_exit_codes(tmp_path: Path, run, base, code, verdict) -> None:
    assert gate(tmp_path, acc(run), acc(base)) == code
    assert verdicts(tmp_path) == [verdict]


def test_n_1_with_min_samples_1_is_inconclusive_not_a_crash(tmp_path: Path) -> None:
    assert gate(tmp_path, acc([1.0]), acc([0.0]), policy="defaults: {min_samples: 1}") == 4


def test_noisy_small_drop_is_inconclusive_with_mde(tmp_path: Path) -> None:
    run = [float(i % 3 != 0 and i != 4) for i in range(40)]
    assert gate(tmp_path, acc(run), acc(MIXED), policy="defaults: {margin: 0.01}") == 4
    m = json.loads((tmp_path / "gate.json").read_text())["metrics"][0]
    assert m["verdict"] == "INCONCLUSIVE" and m["mde"] > 0.01


@pytest.mark.parametrize("mapping, code", [("pass", 0), ("fail", 1), ("inconclusive", 4)])
def test_policy_maps_inconclusive(tmp_path: Path, mapping: str, code: int) -> None:
    assert gate(tmp_path, acc([1.0]), acc([1.0]), policy=f"defaults: {{inconclusive: {mapping}}}") == code


def test_lower_is_better_direction(tmp_path: Path) -> None:
    metric = dict(scorer="reply_signals", metric="refused")  # built-in rule: lower is better
    assert gate(tmp_path, acc(ONES, **metric), acc(ZEROS, **metric)) == 1
    assert gate(tmp_path, acc(ZEROS, **metric), acc(ONES, **metric)) == 0


def test_missing_samples(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert gate(tmp_path, acc(MIXED[:39]), acc(MIXED)) == 0                      # 39/40 ≥ 95 %
    assert gate(tmp_path, acc(MIXED[:30]), acc(MIXED)) == 3                      # 75 %
    assert "sample-id coverage" in capsys.readouterr().err


def test_unscored_and_nan(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert gate(tmp_path, acc([None] + MIXED[1:]), acc(MIXED)) == 0               # 2.5 % ≤ 5 % budget
    assert gate(tmp_path, acc([None] * 10 + MIXED[10:]), acc(MIXED)) == 3         # 25 %
    assert "error budget exceeded" in capsys.readouterr().err
    assert gate(tmp_path, acc([None] * 40), acc(MIXED)) == 3
    assert "0 scored" in capsys.readouterr().err
    base = make_run(tmp_path / "b", acc(MIXED))
    write_baseline(base, tmp_path / "b.json")
    text = (tmp_path / "b.json").read_text().replace("[\"s0\",null,0,0,0.0,null]", "[\"s0\",null,0,0,NaN,null]")
    assert "NaN" in text
    (tmp_path / "b.json").write_text(text)
    run = make_run(tmp_path / "r", acc(MIXED))
    assert main(["gate", str(run), "--baseline", str(tmp_path / "b.json")]) == 0  # NaN is unscored, not a crash


def test_failed_generations_count_against_the_budget(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert gate(tmp_path, acc(MIXED), acc(MIXED), run_kw={"failed": 5}) == 3
    assert "error budget exceeded" in capsys.readouterr().err


def test_baseline_from_another_task_version(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert gate(tmp_path, acc(MIXED), acc(MIXED), base_kw={"version": "2"}) == 3
    assert "task versions differ: 'qa' is v1 in the run, v2 in the baseline" in capsys.readouterr().err
    assert gate(tmp_path, acc(MIXED), acc(MIXED), base_kw={"data_hash": "other"}) == 3
    # same version and data, another task.yaml (a system prompt added, max_gen_toks changed …)
    assert gate(tmp_path, acc(MIXED), acc(MIXED), base_kw={"task_extra": {"spec_hash": "other"}}) == 3
    assert "a field that shapes the requests differs" in capsys.readouterr().err


def test_judge_must_be_identical(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert gate(tmp_path, acc(MIXED), acc(MIXED), run_kw={"judge": "hf:pretrained=j2"},
                base_kw={"judge": "hf:pretrained=j1"}) == 3
    assert "judge differs" in capsys.readouterr().err


def test_arms_and_tasks_must_be_covered_or_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    base = {**acc(MIXED), **acc(MIXED, arm="base")}
    assert gate(tmp_path, acc(MIXED), base) == 3
    assert "baseline arm(s) base not in the run" in capsys.readouterr().err
    assert gate(tmp_path, acc(MIXED), base, "--arm", "chat") == 0
    assert gate(tmp_path, acc(ZEROS), {**acc(ONES, arm="base"), **acc(ZEROS)}, "--arm", "chat",
                "--arm-map", "chat=base") == 1
    assert gate(tmp_path, acc(MIXED), {**acc(MIXED), **acc(MIXED, task="qa2")}) == 3
    assert gate(tmp_path, acc(MIXED), {**acc(MIXED), **acc(MIXED, task="qa2")}, "--task", "qa") == 0


def test_holm_across_metrics_and_ungated_metrics(tmp_path: Path) -> None:
    run = {**acc(ZEROS), **acc(MIXED, metric="answer_found"), **acc(ONES, scorer="reply_signals", metric="length_tokens")}
    base = {**acc(ONES), **acc(MIXED, metric="answer_found"), **acc(ZEROS, scorer="reply_signals", metric="length_tokens")}
    assert gate(tmp_path, run, base) == 1
    data = json.loads((tmp_path / "gate.json").read_text())
    assert sorted(m["metric"] for m in data["metrics"]) == ["answer_found", "correct"]  # length_tokens: not gated
    levels = {m["metric"]: m["ci_level"] for m in data["metrics"]}
    assert levels["correct"] == pytest.approx(1 - 0.05 / 2) and levels["answer_found"] == pytest.approx(1 - 0.05)


@pytest.mark.parametrize("policy, where", [
    ("defaults:\n  margn: 0.1\n", "line 2: field 'defaults.margn': unknown field"),
    ("metrics:\n  - task: qa\n    alpha: 2\n", "line 3: field 'metrics.0.alpha'"),
    ("defaults: [", "invalid YAML"),
])
def test_policy_errors_are_one_located_line(tmp_path: Path, capsys: pytest.CaptureFixture, policy, where) -> None:
    assert gate(tmp_path, acc(MIXED), acc(MIXED), policy=policy) == 2
    err = capsys.readouterr().err.strip()
    assert where in err and "gate.yaml" in err and "\n" not in err


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert gate(tmp_path, acc(MIXED), acc(MIXED), "--arm-map", "nonsense") == 2
    assert gate(tmp_path, acc(MIXED), acc(MIXED), "--arm", "nope") == 2
    run = make_run(tmp_path / "r", acc(MIXED))
    (tmp_path / "junk.json").write_text("{}")
    assert main(["gate", str(run), "--baseline", str(tmp_path / "junk.json")]) == 2
    assert main(["gate", str(run), "--baseline", str(tmp_path / "nowhere")]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["gate", str(run)])
    assert exc.value.code == 2


def test_exported_baseline_is_portable_and_gates_like_the_run(tmp_path: Path) -> None:
    base = make_run(tmp_path / "base", {**acc(MIXED), **acc(ONES, arm="base")})
    run = make_run(tmp_path / "run", {**acc([0.0] * 20 + MIXED[20:]), **acc(ONES, arm="base")})
    assert main(["baseline", "export", str(base), "-o", str(tmp_path / "b.json")]) == 0
    text = (tmp_path / "b.json").read_text()
    assert "SECRET" not in text and json.loads(text)["format"] == "psm_eval.baseline"
    outs = []
    for b in (base, tmp_path / "b.json"):
        assert main(["gate", str(run), "--baseline", str(b), "--json", str(tmp_path / "g.json")]) == 1
        outs.append([{k: v for k, v in m.items()} for m in json.loads((tmp_path / "g.json").read_text())["metrics"]])
    assert outs[0] == outs[1]


def test_outputs_escape_untrusted_names(tmp_path: Path) -> None:
    task = 'qa<&"|`\x01]]>\\|[x](http:evil)'
    code = gate(tmp_path, acc(ZEROS, task=task), acc(ONES, task=task), "--junit", str(tmp_path / "g.xml"),
                "--markdown", str(tmp_path / "g.md"))
    assert code == 1
    root = ET.parse(tmp_path / "g.xml").getroot()
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "1" and suite.get("failures") == "1"
    case = suite.find("testcase")
    assert case is not None and case.find("failure") is not None and "qa<&" in case.get("classname", "")
    md = (tmp_path / "g.md").read_text()
    assert "qa&lt;&amp;" in md and "\\|" in md and "<&" not in md and "[x]" not in md
    # GFM splits a row at every pipe not escaped by a backslash: `\\|` in a name once opened a new cell
    table = [line for line in md.split("\n") if line.startswith("|")]
    assert len({[m for m in re.findall(r"\\.|\|", line)].count("|") for line in table}) == 1


def test_precondition_error_is_written_to_every_output(tmp_path: Path) -> None:
    code = gate(tmp_path, acc(MIXED), acc(MIXED), "--junit", str(tmp_path / "g.xml"), "--markdown",
                str(tmp_path / "g.md"), base_kw={"version": "2"})
    assert code == 3
    assert json.loads((tmp_path / "gate.json").read_text())["status"] == "precondition"
    case = ET.parse(tmp_path / "g.xml").getroot().find("testsuite/testcase")
    assert case is not None and case.find("error") is not None
    assert "task versions differ" in (tmp_path / "g.md").read_text()
