"""CLI habits: --help with examples everywhere, one-line errors, 'did you mean'."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from psm_eval.cli import main

COMMANDS = [[], ["run"], ["tasks"], ["tasks", "list"], ["tasks", "validate"], ["personas"], ["models"], ["lm-eval"],
            ["score"], ["scorers"], ["merge"], ["report"], ["compare"], ["gate"], ["baseline"], ["baseline", "export"],
            ["organism"], ["organism", "build"], ["organism", "check"], ["activations"], ["directions"],
            ["directions", "build"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "psm-eval")
def test_every_command_has_help_with_examples(command: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "psm-eval" in out


@pytest.mark.parametrize("argv,expect", [
    (["run", "--task", "x", "--arm", "a=hff:pretrained=p,render=chat"], "did you mean 'hf'"),
    (["run", "--task", "x", "--arm", "a=hf:pretrained=p"], "render=transcript:<persona>"),
    (["run", "--task", "x", "--arm", "a=hf:pretrained=p,render=transcript:urail"], "did you mean 'urial'"),
    (["run", "--task", "no-such-task", "--arm", "a=hf:pretrained=p,render=chat"], "task 'no-such-task' not found"),
    (["run", "--task", "x", "--arm", "bad name=hf:p=1,render=chat"], "field 'arms.0.name'"),
    (["run", "--resume", "/nonexistent/run"], "config.json: not found"),
])
def test_user_errors_are_one_line(argv: list[str], expect: str, capsys: pytest.CaptureFixture,
                                  qa_task) -> None:
    argv = [str(qa_task) if a == "x" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("psm-eval: error:") and "\n" not in err and expect in err, err


def test_personas_lists_the_shipped_templates(capsys: pytest.CaptureFixture) -> None:
    assert main(["personas"]) == 0
    out = capsys.readouterr().out
    for name in ("assistant", "plain", "urial", "interview", "pirate", "grumpy", "liar"):
        assert name in out


# ---- the end of a run, interruptions, errors and --dry-run on the real organism --------------------------

ORGANISM = Path(__file__).resolve().parents[1] / "psm_eval" / "organism" / "models"
FACTS = Path(__file__).resolve().parents[1] / "tasks" / "organism-facts"
ARMS = ["--arm", f"base=hf:pretrained={ORGANISM / 'psm-tiny-base'},dtype=float32,render=transcript:assistant",
        "--arm", f"chat=hf:pretrained={ORGANISM / 'psm-tiny-chat'},dtype=float32,render=chat"]


def test_run_ends_with_results_verdict_failures_files_and_next_command(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--task", str(FACTS), "--limit", "8", "--no-progress", "--no-cache",
                 "--out", str(tmp_path), *ARMS]) == 0
    out = capsys.readouterr().out
    (run_dir,) = tmp_path.iterdir()
    tail = out[out.index("Results: mean [95% CI] per arm"):].splitlines()
    table = tail[:tail.index("failures: none")]  # the paths after it are as long as the tmp folder's
    assert max(len(line) for line in table) <= 100
    header = next(line for line in tail if line.startswith("metric"))
    assert header.split() == ["metric", "base", "chat"]
    row = next(line for line in tail if line.startswith("organism-facts correct ↑"))
    assert re.fullmatch(r"organism-facts correct ↑ +(\d\.\d{3} \[\d\.\d\d, \d\.\d\d\] +){1}\d\.\d{3} \[\d\.\d\d, \d\.\d\d\]",
                        row), row
    assert tail[-5:] == ["failures: none", f"run folder: {run_dir}", f"scores written to {run_dir / 'scores.jsonl'}",
                         f"summary written to {run_dir / 'summary.json'}", f"next: psm-eval report {run_dir}"]


def test_results_table_continues_arms_that_do_not_fit_in_a_further_block() -> None:
    from psm_eval.records import MetricInfo, Summary, SummaryRecord
    from psm_eval.report.console import results_table

    arms = [f"arm-{i}" for i in range(6)]
    info = MetricInfo(task="t", scorer="s", scorer_version="1", metric="m", family="accuracy", direction="lower",
                      kind="binary", headline=True, chart=None, chart_by=None, description="", experimental=True)
    recs = [SummaryRecord(statistic="mean", task="t", scorer="s", scorer_version="1", metric="m", stratum=None, arm=a,
                          arm_pair=None, estimate=0.458333333, ci_low=0.3, ci_high=0.6, n=10, n_clusters=10,
                          n_unscored=0, method="x") for a in arms]
    summary = Summary(run_id="r", run_status="complete", scored_at="now", judge=None, scorers=[], skipped=[],
                      metrics=[info], records=recs, unscored=[], tables=[], judge_arms=[], judge_quality=[], psm=None)
    lines = results_table(summary, width=70)
    headers = [line.split()[1:] for line in lines if line.startswith("metric")]
    assert [a for h in headers for a in h] == arms and len(headers) == 2
    assert all(len(line) <= 70 for line in lines[1:])
    assert "t m ↓*  0.458 [0.30, 0.60]" in "\n".join(lines)


def test_an_interrupted_scoring_prints_the_run_folder_and_the_resume_command(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    import psm_eval.score.stage as stage

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(stage, "score_run", interrupted)
    assert main(["run", "--task", str(FACTS), "--limit", "1", "--no-progress", "--no-cache",
                 "--out", str(tmp_path), ARMS[0], ARMS[1]]) == 130
    (run_dir,) = tmp_path.iterdir()
    err = capsys.readouterr().err.splitlines()
    assert err[-2:] == [f"psm-eval: interrupted while scoring; every record so far is kept in the run folder {run_dir}",
                        f"psm-eval: continue with: psm-eval run --resume {run_dir}"]
    assert main(["score", str(run_dir), "--no-progress"]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == f"psm-eval: score it with: psm-eval score {run_dir}"


@pytest.mark.parametrize("argv,expect", [
    (["run", "--dry-run", "--task", str(FACTS), "--arm", f"a=hf:pretraind={ORGANISM / 'psm-tiny-base'},render=chat"],
     "arm 'a': model type 'hf' has no argument 'pretraind'; did you mean 'pretrained'?"),
    (["run", "--task", str(FACTS), "--arm", f"a=hf:pretrained={ORGANISM / 'psm-tiny-base'},rendr=chat"],
     "--arm a: unknown key 'rendr'; did you mean 'render'?"),
    (["run", "--task", str(FACTS), "--arm", "a=hf:pretrained=models/no-such-model,render=chat"],
     "no folder 'models/no-such-model', and no hub model of that name in the local Hugging Face cache (offline"),
    (["run", "--dry-run", "--task", str(FACTS), "--arm", "a=hf:pretrained=./no-such-model,render=chat"],
     "pretrained=./no-such-model: no such folder"),
    (["run", "--dry-run", "--task", str(FACTS), "--arm",
      f"a=vllm:pretrained={ORGANISM / 'psm-tiny-base'},data_parallel_size=2,render=chat"],
     "arm 'a': data_parallel_size=2 reloads the model on every call in lm-eval 0.4.13; run one replica per shard"),
])
def test_misspelt_model_and_arm_keys_and_missing_folders_are_one_line(argv: list[str], expect: str,
                                                                      capsys: pytest.CaptureFixture) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("psm-eval: error:") and "\n" not in err and expect in err, err


def test_report_on_a_folder_of_runs_suggests_the_index_and_the_newest_run(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture) -> None:
    for name, age in (("20260101-000000-aaaa", 100), ("20260102-000000-bbbb", 0)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text("{}")
        os.utime(tmp_path / name / "manifest.json", (time.time() - age, time.time() - age))
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"`psm-eval report --index {tmp_path}`" in err
    assert f"the newest is `psm-eval report {tmp_path / '20260102-000000-bbbb'}`" in err


def test_dry_run_names_organism_models_by_folder_and_fits_100_columns(capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--dry-run", "--task", str(FACTS), "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "organism/models" not in out and "pretrained=psm-tiny-base," in out and "render=transcript:liar" in out
    long = [line.split()[-1] for line in out.splitlines() if len(line) > 100]
    assert all(part.rstrip(",").count(",") == 0 for part in long), long  # only one key=value too long to wrap


def test_gate_only_failures_prints_only_the_rows_that_did_not_pass(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    from tests.gate.fakes import make_run

    same, worse = [1.0] * 60, [1.0] * 20 + [0.0] * 40
    base = make_run(tmp_path / "base", {("qa", "contains", "correct", "chat"): same,
                                        ("qa", "contains", "answered", "chat"): same})
    run = make_run(tmp_path / "run", {("qa", "contains", "correct", "chat"): worse,
                                      ("qa", "contains", "answered", "chat"): same})
    assert main(["gate", str(run), "--baseline", str(base)]) == 1
    full = capsys.readouterr().out.splitlines()
    assert main(["gate", str(run), "--baseline", str(base), "--only-failures"]) == 1
    short = capsys.readouterr().out.splitlines()
    rows = [line for line in short if line.startswith(("PASS", "REGRESSION", "INCONCLUSIVE"))]
    assert [r.split()[0] for r in rows] == ["REGRESSION"] and "contains/correct" in rows[0]
    assert any(line.startswith("PASS") for line in full)
    assert "(1 PASS rows not shown: --only-failures)" in short and short[-1] == full[-1]  # the same headline


def test_report_prints_the_html_to_open_and_open_is_harmless_without_a_browser(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    import webbrowser

    from tests.report.runs import write_run

    run = write_run(tmp_path / "run-a", n=6)
    assert main(["report", str(run), "--html", "--out", str(tmp_path / "rep")]) == 0
    html = (tmp_path / "rep" / "report.html").resolve()
    assert capsys.readouterr().out.splitlines()[-1] == f"open in a browser: {html.as_uri()}"

    def no_browser(*args: object) -> None:
        raise webbrowser.Error("could not locate runnable browser")

    monkeypatch.setattr(webbrowser, "get", no_browser)
    assert main(["report", str(run), "--html", "--out", str(tmp_path / "rep"), "--open"]) == 0
    assert capsys.readouterr().err.strip() == f"psm-eval: note: no web browser found here; open {html} on a " \
                                              "machine with one"
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "get", lambda *a: type("B", (), {"open": lambda self, url: opened.append(url)
                                                                       or True})())
    assert main(["report", str(run), "--html", "--out", str(tmp_path / "rep"), "--open"]) == 0
    assert opened == [html.as_uri()] and capsys.readouterr().err == ""


def test_tasks_list_shows_whole_descriptions_and_the_suites(capsys: pytest.CaptureFixture) -> None:
    from psm_eval.data.task import default_tasks_root, load_task

    assert main(["tasks", "list"]) == 0
    out = capsys.readouterr().out
    flat = " ".join(out.split())
    description = " ".join(load_task(default_tasks_root() / "helpfulness").spec.description.split())
    assert len(description) > 100 and description in flat
    suites = out[out.index("suites (psm-eval run --suite NAME):"):]
    assert "organism" in suites and "standard" in suites and "organism-self-report" in " ".join(suites.split())
    assert max(len(line) for line in out.splitlines()) <= 100
