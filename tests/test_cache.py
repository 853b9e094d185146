"""The response cache: identical re-runs are served without loading the model; never a cross-model
hit; failures and truncated replies are not cached; rows are JSON, not pickle."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from psm_eval.backends.lm import LMBackend
from psm_eval.run.runner import run
from psm_eval.run.start import resolve_config
from tests.test_runner import make_task, records


@pytest.fixture()
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts lm-eval model creations."""
    created: list[str] = []
    original = LMBackend._create_lm

    def counting(self: LMBackend):
        created.append(self.spec.args["pretrained"])
        return original(self)

    monkeypatch.setattr(LMBackend, "_create_lm", counting)
    return created


@pytest.fixture()
def mixed_task(tmp_path: Path) -> Path:
    rows = [{"id": "ok", "q": "Say something", "c": ["yes", "no"]}, {"id": "long", "q": "word " * 400, "c": ["a", "b"]}]
    gen = make_task(tmp_path / "gen", rows, "name: gen\nversion: 1\ndescription: d\ndata: {path: data.jsonl}\n"
                    "fields: {id: id, prompt: q}\ngeneration: {max_gen_toks: 6, until: [':', 'a', 'e', 'o']}\n")
    return gen


def test_identical_rerun_is_served_from_cache_without_loading_models(tiny_models: dict, qa_task: Path,
                                                                    mixed_task: Path, tmp_path: Path,
                                                                    loads: list[str]) -> None:
    arms = [f"base=hf:pretrained={tiny_models['base']},dtype=float32,render=transcript:plain",
            f"chat=hf:pretrained={tiny_models['chat']},dtype=float32,render=chat"]
    cache = str(tmp_path / "cache")
    config = resolve_config(tasks=[str(mixed_task)], arms=arms, out=str(tmp_path / "runs"), cache_dir=cache)
    first = run(config, progress=False)
    assert len(loads) == 2
    stored_ok = [r for r in records(first) if r["status"] == "ok" and r["finish"] == "stop"]
    assert stored_ok, "the test needs cacheable replies"
    second = run(config, progress=False)
    assert len(loads) == 2 + len({r["arm"] for r in records(first)} - {r["arm"] for r in stored_ok})
    assert (first / "generations.jsonl").read_bytes() == (second / "generations.jsonl").read_bytes()
    hits = json.loads((second / "manifest.json").read_text())["cache"]
    assert sum(h["hits"] for h in hits.values()) == len(stored_ok)
    failed = [r for r in records(second) if r["status"] == "failed"]
    assert {r["error"]["kind"] for r in failed} == {"context_too_long"}
    rows = sqlite3.connect(Path(cache) / "responses.sqlite").execute("SELECT value FROM responses").fetchall()
    assert len(rows) == len(stored_ok)
    assert all(json.loads(v)["ok"] is True and json.loads(v)["finish"] == "stop" for (v,) in rows)


def test_no_cross_model_hits_and_no_cache_flag(tiny_models: dict, mixed_task: Path, tmp_path: Path,
                                              loads: list[str]) -> None:
    cache = str(tmp_path / "cache")
    same_render = "render=transcript:plain"
    a = resolve_config(tasks=[str(mixed_task)], arms=[f"x=hf:pretrained={tiny_models['base']},{same_render}"],
                       out=str(tmp_path / "a"), cache_dir=cache)
    b = resolve_config(tasks=[str(mixed_task)], arms=[f"x=hf:pretrained={tiny_models['chat']},{same_render}"],
                       out=str(tmp_path / "b"), cache_dir=cache)
    run(a, progress=False)
    out_b = run(b, progress=False)
    assert json.loads((out_b / "manifest.json").read_text())["cache"]["x"]["hits"] == 0
    off = resolve_config(tasks=[str(mixed_task)], arms=[f"x=hf:pretrained={tiny_models['base']},{same_render}"],
                         out=str(tmp_path / "c"), cache_dir=cache, cache=False)
    before = len(loads)
    out_c = run(off, progress=False)
    assert len(loads) == before + 1 and "cache" in json.loads((out_c / "manifest.json").read_text())
    assert json.loads((out_c / "manifest.json").read_text())["cache"]["x"] == {"hits": 0, "misses": 2}


def test_seed_and_settings_are_part_of_the_key(tiny_models: dict, mixed_task: Path, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    arm = [f"x=hf:pretrained={tiny_models['base']},render=transcript:plain,temperature=1.0"]
    run(resolve_config(tasks=[str(mixed_task)], arms=arm, out=str(tmp_path / "a"), cache_dir=cache), progress=False)
    other = run(resolve_config(tasks=[str(mixed_task)], arms=arm, out=str(tmp_path / "b"), cache_dir=cache, seed=5),
                progress=False)
    assert json.loads((other / "manifest.json").read_text())["cache"]["x"]["hits"] == 0
