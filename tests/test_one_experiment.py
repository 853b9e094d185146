"""One run is one experiment: a record depends only on (model, prompt, settings, seed, key) — never on
sharding, --limit, the cache's history or a resume point — and a run folder never mixes two experiments.

On the shipped model organism, over every task of the organism suite, in three of its default arms — the
base model without a header sampled at T=1, the chat model (sampled where its tasks say T=1) and the
greedy assistant-prompted base (the other five arms run the same code on other weights or prompts, and
cost the test suite a minute each): generated text must be identical and loglikelihoods equal within
LL_TOLERANCE (batches pad differently, which moves the last bits of a logit)."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from psm_eval.errors import ConfigError, StoreError
from psm_eval.records import RunConfig, read_manifest
from psm_eval.run.config import build_config, default_config
from psm_eval.run.runner import run
from psm_eval.run.shard import merge_runs
from tests.fixtures.files import read_jsonl

LL_TOLERANCE = 1e-5
LIMIT = 9  # the mixture task then has 36 sampled records an arm: more than one chunk of 32


ARMS = ("base", "base-plain", "chat")


def _config(out: Path, **kw: object) -> RunConfig:
    default = default_config()
    arms = [a for a in default["arms"] if a["name"] in ARMS]
    return build_config({**default, "arms": arms, "predictions": [], "limit": LIMIT, "out": str(out), "cache": False,
                         **kw}, "test")


def _records(run_dir: Path) -> dict[str, dict]:
    return {r["key"]: r for r in read_jsonl(run_dir / "generations.jsonl")}


def assert_same_records(a: dict[str, dict], b: dict[str, dict], keys: set[str] | None = None) -> None:
    """Every record of `keys` (default: all, and the same keys) equal: text exactly, loglikelihoods within
    LL_TOLERANCE; whether it came from the cache may differ."""
    if keys is None:
        assert a.keys() == b.keys()
        keys = set(a)
    for key in sorted(keys):
        x, y = dict(a[key]), dict(b[key])
        lx, ly = x.pop("logprobs"), y.pop("logprobs")
        x.pop("cached"), y.pop("cached")
        assert x == y, key
        assert (lx is None) == (ly is None), key
        for (p, gp), (q, gq) in zip(lx or [], ly or []):
            assert abs(p - q) <= LL_TOLERANCE and gp == gq, key


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run(_config(tmp_path_factory.mktemp("full")), progress=False)


def test_the_plan_has_sampled_arms_over_more_than_one_chunk(full: Path) -> None:
    records = _records(full).values()
    sampled = [r for r in records if r["gen"] and r["gen"]["temperature"] > 0]
    assert len(sampled) > 2 * 32 and {"base-plain", "chat"} <= {r["arm"] for r in sampled}
    assert read_manifest(full).backends["base-plain"].per_request_seed


def test_sharded_and_merged_equals_the_unsharded_run(full: Path, tmp_path: Path) -> None:
    shards = [run(_config(tmp_path / "shards"), shard=(k, 2), progress=False) for k in (0, 1)]
    merged = merge_runs(shards, tmp_path / "merged")
    assert_same_records(_records(full), _records(merged))


def test_a_limited_run_holds_exactly_the_first_samples_records(full: Path, tmp_path: Path) -> None:
    small = _records(run(_config(tmp_path / "small", limit=4), progress=False))
    whole = _records(full)
    assert small and set(small) <= set(whole)
    assert_same_records(small, whole, set(small))


def test_the_cache_history_does_not_change_a_record(full: Path, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    run(_config(tmp_path / "warm", limit=4, seed=1234, cache=True, cache_dir=cache), progress=False)
    later = run(_config(tmp_path / "later", cache=True, cache_dir=cache), progress=False)
    records = _records(later)
    assert_same_records(_records(full), records)
    assert any(r["cached"] for r in records.values()) and not all(r["cached"] for r in records.values())
    # every sampled record of the per-request-seeded hf arms may come from the cache
    assert any(r["cached"] and r["gen"] and r["gen"]["temperature"] > 0 for r in records.values())


@pytest.mark.parametrize("cut", [0.15, 0.55, 0.85])
def test_a_run_resumed_at_any_point_draws_the_same_records(full: Path, tmp_path: Path, cut: float) -> None:
    """A run killed after any record (here: its file cut back to a point inside a sampled chunk) resumes
    to the same records as an uninterrupted run."""
    copy = tmp_path / full.name
    shutil.copytree(full, copy)
    lines = (copy / "generations.jsonl").read_bytes().splitlines(keepends=True)
    (copy / "generations.jsonl").write_bytes(b"".join(lines[:int(len(lines) * cut) + random.Random(cut).randrange(5)]))
    run(build_config(json.loads((copy / "config.json").read_text()), "test"), resume=copy, progress=False)
    assert_same_records(_records(full), _records(copy))


# ---- a run folder holds one experiment ----------------------------------------------------------------

def _task(folder: Path, name: str = "qa", max_gen_toks: int = 8) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.jsonl").write_text('{"id": "q0", "q": "What is the capital of Norway?"}\n'
                                       '{"id": "q1", "q": "Who are you?"}\n')
    (folder / "task.yaml").write_text(f"name: {name}\nversion: 1\ndescription: d\ndata: {{path: data.jsonl}}\n"
                                      f"fields: {{id: id, prompt: q}}\ngeneration: {{max_gen_toks: {max_gen_toks}}}\n")
    return folder


def _arms(model: Path, **extra: object) -> list[dict]:
    return [{"name": "chat", "model": {"type": "hf", "args": {"pretrained": str(model), "dtype": "float32"}},
             "render": "chat", **extra}]


@pytest.fixture(scope="module")
def chat_model() -> Path:
    from psm_eval.run.config import organism_dir

    return organism_dir() / "psm-tiny-chat"


def test_two_tasks_of_one_name_or_a_task_listed_twice_are_refused(tmp_path: Path, chat_model: Path) -> None:
    a, b = _task(tmp_path / "a"), _task(tmp_path / "b")
    with pytest.raises(ConfigError, match="two tasks are named 'qa'"):
        run(build_config({"tasks": [str(a), str(b)], "arms": _arms(chat_model), "out": str(tmp_path)}, "t"))
    with pytest.raises(ConfigError, match="task 'qa' is listed twice"):
        run(build_config({"tasks": [str(a), str(a)], "arms": _arms(chat_model), "out": str(tmp_path)}, "t"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no run folder was made


def _resumable(tmp_path: Path, model: Path) -> tuple[Path, Path]:
    task = _task(tmp_path / "task")
    config = build_config({"tasks": [str(task)], "arms": _arms(model), "out": str(tmp_path / "runs"),
                           "cache": False}, "t")
    out = run(config, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "status": "failed"}))
    (out / "generations.jsonl").write_text((out / "generations.jsonl").read_text().splitlines()[0] + "\n")
    return task, out


def _resume(out: Path) -> None:
    run(build_config(json.loads((out / "config.json").read_text()), "t"), resume=out, progress=False)


def test_resume_refuses_an_edited_task_naming_the_field(tmp_path: Path, chat_model: Path) -> None:
    task, out = _resumable(tmp_path, chat_model)
    _task(task, max_gen_toks=6)
    with pytest.raises(StoreError, match=r"task 'qa' changed .*generation\.max_gen_toks: 8 → 6"):
        _resume(out)
    _task(task)
    (task / "data.jsonl").write_text((task / "data.jsonl").read_text().replace("Norway", "Peru"))
    with pytest.raises(StoreError, match=r"task 'qa' changed .*data:"):
        _resume(out)


def test_resume_refuses_an_edited_config_or_other_packages(tmp_path: Path, chat_model: Path) -> None:
    _, out = _resumable(tmp_path, chat_model)
    config = json.loads((out / "config.json").read_text())
    edited = {**config, "arms": [{**config["arms"][0], "temperature": 1.0}]}
    (out / "config.json").write_text(json.dumps(edited))
    with pytest.raises(StoreError, match=r"arm 'chat' changed .*temperature: None → 1\.0"):
        _resume(out)
    (out / "config.json").write_text(json.dumps(config))
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "packages": {**manifest["packages"], "torch": "1.0"}}))
    with pytest.raises(StoreError, match=r"installed packages changed .*torch: 1\.0 →"):
        _resume(out)


def test_resume_refuses_another_model_in_the_same_folder(tmp_path: Path, chat_model: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(chat_model, model)
    _, out = _resumable(tmp_path, model)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "rms_norm_eps": 1e-5}, indent=2))
    with pytest.raises(StoreError, match=r"arm 'chat': the model changed .*files\.pretrained\.config\.json"):
        _resume(out)
