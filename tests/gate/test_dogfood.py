"""Dogfooding: the model organism gated against the committed baseline (tests/data/organism-baseline.json).

A fresh run with another seed (the sampled arm differs) passes; a degraded arm fails. If the organism's
weights change, regenerate the baseline (docs/ci.md, "The project's own gate")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from psm_eval.cli import main
from psm_eval.run.config import organism_dir

DATA = Path(__file__).resolve().parent.parent / "data"
BASELINE, POLICY = DATA / "organism-baseline.json", DATA / "organism-gate.yaml"
TASKS = ["--task", "organism-facts", "--task", "organism-identity"]

pytestmark = pytest.mark.skipif(not (organism_dir() / "psm-tiny-base").is_dir(), reason="model organism not built")


def _run(out: Path, *extra: str) -> Path:
    assert main(["run", *TASKS, "--seed", "7", "--no-cache", "--no-progress", "--out", str(out), *extra]) == 0
    (path,) = out.iterdir()
    return path


def _gate(run: Path, tmp_path: Path, *extra: str) -> int:
    return main(["gate", str(run), "--baseline", str(BASELINE), "--policy", str(POLICY), *TASKS,
                 "--json", str(tmp_path / "gate.json"), "--junit", str(tmp_path / "gate.xml"), *extra])


@pytest.fixture(scope="module")
def organism_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert BASELINE.is_file(), f"{BASELINE} is missing: regenerate it (docs/ci.md, 'The project's own gate')"
    return _run(tmp_path_factory.mktemp("organism"))


def test_fresh_organism_run_passes_the_committed_baseline(organism_run: Path, tmp_path: Path) -> None:
    assert _gate(organism_run, tmp_path) == 0
    metrics = json.loads((tmp_path / "gate.json").read_text())["metrics"]
    from psm_eval.run.config import default_arms

    assert {m["arm"] for m in metrics} == {a["name"] for a in default_arms()}
    assert not [m for m in metrics if m["verdict"] == "REGRESSION"]


def test_liar_arm_in_place_of_the_assistant_fails(organism_run: Path, tmp_path: Path) -> None:
    assert _gate(organism_run, tmp_path, "--arm", "base-liar", "--arm-map", "base-liar=base") == 1
    failed = {m["metric"] for m in json.loads((tmp_path / "gate.json").read_text())["metrics"]
              if m["verdict"] == "REGRESSION"}
    assert {"correct", "keeps_identity", "claims_other"} <= failed


def test_run_config_with_the_liar_prefix_fails(tmp_path: Path) -> None:
    """A run config of its own (one arm, the liar's header, the organism's directions as the baseline's run had
    them, so every gated metric is there) fails on what the header does, not on a missing metric."""
    import yaml

    from psm_eval.run.config import default_config

    base = organism_dir() / "psm-tiny-base"
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "tasks": ["organism-facts", "organism-identity"],
        "arms": [{"name": "base", "model": {"type": "hf", "args": {"pretrained": str(base), "dtype": "float32"}},
                  "render": "transcript:liar"}],
        "activations": default_config()["activations"]}))
    run = _run(tmp_path / "runs", "--config", str(config))
    assert _gate(run, tmp_path, "--arm", "base") == 1
