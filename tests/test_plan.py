"""`run --dry-run` counts exactly the requests a run makes, without loading a model."""

from __future__ import annotations

from pathlib import Path

from psm_eval.cli import main
from psm_eval.run.dry_run import plan_run
from psm_eval.run.runner import run
from psm_eval.run.start import resolve_config
from tests.test_cache import loads  # noqa: F401  (fixture)
from tests.test_runner import records
from tests.test_shard_merge import three_tasks  # noqa: F401  (fixture)


def test_dry_run_counts_match_the_run(tiny_models: dict, three_tasks: list[str], tmp_path: Path,
                                      loads: list[str]) -> None:
    arms = [f"base=hf:pretrained={tiny_models['base']},render=transcript:plain",
            f"chat=hf:pretrained={tiny_models['chat']},render=chat,max_gen_toks=2"]
    config = resolve_config(tasks=three_tasks, arms=arms, out=str(tmp_path), cache=False)
    plans = {p.arm: p for p in plan_run(config)}
    assert loads == []
    recs = records(run(config, progress=False))
    for arm in ("base", "chat"):
        mine = [r for r in recs if r["arm"] == arm]
        assert plans[arm].generate == sum(r["kind"] == "generate" for r in mine)
        assert plans[arm].loglikelihood == sum(r["kind"] == "loglikelihood" for r in mine)
        assert plans[arm].max_new_tokens == sum(r["gen"]["max_gen_toks"] for r in mine if r["gen"])
        assert plans[arm].exact_tokens and plans[arm].prompt_tokens > 0


def test_dry_run_cli_prints_a_table_and_writes_nothing(qa_task: Path, tmp_path: Path, capsys) -> None:
    arm = "api=openai-chat-completions:model=gpt-4o-mini,render=chat"
    assert main(["run", "--dry-run", "--task", str(qa_task), "--arm", arm, "--out", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "api" in out and "≈" in out and "5 requests in all" in out
    assert not (tmp_path / "runs").exists()
