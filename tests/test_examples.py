"""The files the README and docs/ci.md name ship under examples/, and load as they say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from psm_eval.cli import main
from psm_eval.gate.policy import load_policy

REPO = Path(__file__).resolve().parents[1]


def test_every_example_file_the_readme_and_ci_doc_name_exists() -> None:
    named = {m for doc in ("README.md", "docs/ci.md")
             for m in re.findall(r"examples/[\w./-]+\.\w+", (REPO / doc).read_text(encoding="utf-8"))}
    assert {"examples/run.yaml", "examples/gate.yaml"} <= named
    assert [n for n in sorted(named) if not (REPO / n).is_file()] == []


def test_the_example_run_config_loads_and_plans_on_the_organism(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(REPO)  # as the README runs it: from the repository root
    assert main(["run", "-c", "examples/run.yaml", "--limit", "20", "--seed", "7", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()[1:] if line[:1].strip()][:3] == ["base", "base-liar", "chat"]
    assert "pretrained=psm-tiny-base" in out and "requests in all; nothing was run (--dry-run)" in out


def test_the_example_gate_policy_loads() -> None:
    policy = load_policy(REPO / "examples" / "gate.yaml")[0]
    assert policy.defaults.margin == 0.05 and len(policy.metrics) == 4


def test_the_readmes_offline_lm_eval_example_runs_as_written() -> None:
    import os
    import shlex
    import subprocess
    import sys

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index("# offline, from the repository root: a local lm-eval task"):]
    command = block.split("\n# a hub task")[0].split("\n", 1)[1].replace("\\\n", " ")
    argv = shlex.split(command)
    assert argv[:3] == ["psm-eval", "lm-eval", "run"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "psm_eval.cli", *argv[1:], "--limit", "3"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = next(line for line in proc.stdout.splitlines() if line.startswith("|organism_capitals"))
    assert "exact_match" in row and "|    1|" in row  # the organism's base model knows these capitals
