"""`run --shard K/N` + `merge` give a run store identical to an unsharded run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from psm_eval.errors import ConfigError, StoreError
from psm_eval.run.shard import merge_runs
from psm_eval.run.runner import parse_shard, run
from psm_eval.run.start import resolve_config
from tests.test_runner import make_task


@pytest.fixture()
def three_tasks(tmp_path: Path) -> list[str]:
    gen = make_task(tmp_path / "gen", [{"id": f"g{i}", "q": f"question {i}"} for i in range(9)],
                    "name: gen\nversion: 1\ndescription: d\ndata: {path: data.jsonl}\nfields: {id: id, prompt: q}\n"
                    "generation: {max_gen_toks: 3}\n")
    roll = make_task(tmp_path / "roll", [{"id": f"r{i}", "d": [{"role": "user", "content": f"u{j}"} for j in range(i % 3 + 1)]}
                                         for i in range(5)],
                     "name: roll\nversion: 1\ndescription: d\nmode: rollout\ndata: {path: data.jsonl}\n"
                     "fields: {id: id, dialogue: d}\ngeneration: {max_gen_toks: 3}\n")
    mc = make_task(tmp_path / "mc", [{"id": f"m{i}", "q": f"pick {i}", "c": ["a", "b"], "a": 0} for i in range(6)],
                   "name: mc\nversion: 1\ndescription: d\nkind: multiple_choice\ndata: {path: data.jsonl}\n"
                   "fields: {id: id, prompt: q, choices: c, answer: a}\n")
    return [str(gen), str(roll), str(mc)]


def test_merged_shards_equal_the_unsharded_run(tiny_models: dict, three_tasks: list[str], tmp_path: Path) -> None:
    arms = [f"base=hf:pretrained={tiny_models['base']},render=transcript:plain",
            f"chat=hf:pretrained={tiny_models['chat']},render=chat"]
    config = resolve_config(tasks=three_tasks, arms=arms, out=str(tmp_path / "runs"), cache=False)
    whole = run(config, progress=False)
    shard_config = resolve_config(tasks=three_tasks, arms=arms, out=str(tmp_path / "shards"), cache=False)
    shards = [run(shard_config, progress=False, shard=(k, 3)) for k in range(3)]
    sizes = [len((s / "generations.jsonl").read_bytes().splitlines()) for s in shards]
    assert all(sizes) and sum(sizes) == len((whole / "generations.jsonl").read_bytes().splitlines())
    merged = merge_runs(shards, tmp_path / "merged")
    assert (merged / "generations.jsonl").read_bytes() == (whole / "generations.jsonl").read_bytes()
    manifest = json.loads((merged / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["merged_from"] == [s.name for s in shards]
    assert manifest["counts"] == json.loads((whole / "manifest.json").read_text())["counts"]
    with pytest.raises(StoreError, match="do not cover 0..2 exactly once"):
        merge_runs(shards[:2], tmp_path / "bad")
    with pytest.raises(StoreError, match="not a shard"):
        merge_runs([whole, *shards[1:]], tmp_path / "bad")


def test_shard_spec_is_validated() -> None:
    assert parse_shard("2/4") == (2, 4)
    for bad in ("4/4", "-1/2", "a/b", "3"):
        with pytest.raises(ConfigError, match="expected K/N"):
            parse_shard(bad)
