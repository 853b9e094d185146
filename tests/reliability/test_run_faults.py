"""Failures are loud, bounded and honest: the error budget (per arm, per request), failures printed by
arm and kind, SIGTERM ends a run like Ctrl-C, a corrupt cache never stops a run, a full disk during
score or report is one line with no temp file left, run folders follow the user's umask."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from psm_eval.cli import main
from psm_eval.run.config import organism_dir
from tests.test_runner import make_task

REPO = Path(__file__).resolve().parents[2]
BASE = organism_dir() / "psm-tiny-base"
TASK = "name: qa\nversion: 1\ndescription: d\ndata: {path: data.jsonl}\nfields: {id: id, prompt: q}\n" \
       "generation: {max_gen_toks: 16}\n"


def _task(tmp_path: Path, n: int = 20) -> Path:
    return make_task(tmp_path / "qa", [{"id": f"q{i:02d}", "q": f"What is the capital of Peru? ({i})"}
                                       for i in range(n)], TASK)


def _manifest(out: Path) -> dict:
    (run_dir,) = [p for p in out.iterdir() if not p.name.startswith(".")]
    return json.loads((run_dir / "manifest.json").read_text())


def test_a_dead_server_fails_the_run_after_a_tenth_of_an_arm(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The default budget (10 % of an arm's records) is checked after every record: a dead server stops
    the run at its third failure of 20, status `failed`, exit non-zero, the failures named."""
    dead = "http://127.0.0.1:9/v1/completions"  # the discard port: nothing listens
    code = main(["run", "--task", str(_task(tmp_path)), "--no-progress", "--no-score", "--out", str(tmp_path / "r"),
                 "--arm", f"api=local-completions:base_url={dead},model=m,tokenizer={BASE},"
                          "tokenizer_backend=huggingface,retries=0,render=transcript:assistant"])
    err = capsys.readouterr().err
    assert code == 2 and "error budget exceeded: arm 'api' has 3 failed records of the 20" in err
    manifest = _manifest(tmp_path / "r")
    assert manifest["status"] == "failed" and manifest["counts"]["api"] == {
        "ok": 0, "failed": 3, "failures": {"connection_error": 3}}


def test_failures_within_the_budget_are_printed_by_arm_and_kind(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rows = [{"id": "long", "q": "word " * 1500}] + [{"id": f"q{i}", "q": "Who are you?"} for i in range(9)]
    task = make_task(tmp_path / "t", rows, TASK)
    code = main(["run", "--task", str(task), "--no-progress", "--no-score", "--no-cache", "--out", str(tmp_path / "r"),
                 "--arm", f"base=hf:pretrained={BASE},dtype=float32,render=transcript:assistant"])
    assert code == 0
    assert "failures: arm base: 1 of 10 records failed (1 context_too_long)" in capsys.readouterr().err


def test_sigterm_ends_a_run_as_ctrl_c_does(tmp_path: Path) -> None:
    task = _task(tmp_path, n=400)
    out = tmp_path / "r"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "psm_eval.cli", "run", "--task", str(task), "--no-progress",
                             "--no-score", "--no-cache", "--out", str(out), "--arm",
                             f"base=hf:pretrained={BASE},dtype=float32,render=transcript:assistant"],
                            cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(out.glob("*/generations.jsonl")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    manifest = _manifest(out)
    assert proc.returncode == 130 and manifest["status"] == "cancelled", err
    (run_dir,) = out.iterdir()
    assert err.splitlines()[-2:] == [
        f"psm-eval: interrupted while generating; every record so far is kept in the run folder {run_dir}",
        f"psm-eval: continue with: psm-eval run --resume {run_dir}"], err
    assert "Traceback" not in err
    assert main(["run", "--resume", str(run_dir), "--no-progress"]) == 0
    assert json.loads((run_dir / "manifest.json").read_text())["counts"]["base"]["ok"] == 400


def test_a_corrupt_cache_file_is_moved_aside_and_the_run_goes_on(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "responses.sqlite").write_bytes(b"this is not a database" * 100)
    code = main(["run", "--task", str(_task(tmp_path, n=2)), "--no-progress", "--no-score", "--out",
                 str(tmp_path / "r"), "--cache-dir", str(cache),
                 "--arm", f"base=hf:pretrained={BASE},dtype=float32,render=transcript:assistant"])
    err = capsys.readouterr().err
    assert code == 0 and "is corrupt" in err and "Traceback" not in err
    assert len(list(cache.glob("responses.corrupt-*.sqlite"))) == 1
    assert _manifest(tmp_path / "r")["status"] == "complete"


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scored")
    task = make_task(out / "qa", [{"id": "q0", "q": "Who are you?"}], TASK + "scorers: [reply_signals]\n")
    assert main(["run", "--task", str(task), "--no-progress", "--no-cache", "--out", str(out / "r"),
                 "--arm", f"base=hf:pretrained={BASE},dtype=float32,render=transcript:assistant"]) == 0
    (run_dir,) = (out / "r").iterdir()
    return run_dir


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_disk_during_score_and_report_is_one_line(scored: Path, tmp_path: Path, code: int,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture) -> None:
    import psm_eval.records.io as records_io

    def refuse(fd: int) -> None:
        raise OSError(code, os.strerror(code), "scores.jsonl")

    before = sorted(p.name for p in scored.iterdir())
    monkeypatch.setattr(records_io.os, "fsync", refuse)
    assert main(["score", str(scored), "--no-progress"]) == 2
    assert main(["report", str(scored), "--out", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.endswith(os.strerror(code)) for line in err)
    assert sorted(p.name for p in scored.iterdir()) == before  # no temp file left
    assert not [p for p in (tmp_path / "rep").rglob("*") if ".tmp" in p.name]


def test_run_folders_follow_the_users_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        assert main(["run", "--task", str(_task(tmp_path, n=1)), "--no-progress", "--no-score", "--no-cache",
                     "--out", str(tmp_path / "r"),
                     "--arm", f"base=hf:pretrained={BASE},dtype=float32,render=transcript:assistant"]) == 0
    finally:
        os.umask(old)
    (run_dir,) = (tmp_path / "r").iterdir()
    assert run_dir.stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize(("arg", "says"), [(f"pretraind={BASE}", "did you mean 'pretrained'"),
                                           ("pretrained=./no/such/folder", "no/such/folder")])
def test_a_model_that_cannot_be_created_makes_no_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                            arg: str, says: str) -> None:
    code = main(["run", "--task", str(_task(tmp_path, n=1)), "--no-progress", "--out", str(tmp_path / "r"),
                 "--arm", f"base=hf:{arg},render=transcript:assistant"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and says in err[0]
    assert not (tmp_path / "r").exists()  # (was: a runs/<id> folder that `report` then called unscored)
