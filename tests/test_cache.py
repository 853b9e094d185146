"""The response cache: identical re-runs are served without loading the model; never a cross-model
hit; failures and truncated replies are not cached; rows are JSON, not pickle."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from psm_eval.backends.lm import LMBackend
from psm_eval.records import read_manifest
from psm_eval.run.config import organism_dir
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
    config = resolve_config(tasks=[str(mixed_task)], arms=arms, out=str(tmp_path / "runs"), cache_dir=cache,
                            max_error_rate=1.0)
    first = run(config, progress=False)
    assert len(loads) == 2
    stored_ok = [r for r in records(first) if r["status"] == "ok" and r["finish"] == "stop"]
    assert stored_ok, "the test needs cacheable replies"
    second = run(config, progress=False)
    assert len(loads) == 2 + len({r["arm"] for r in records(first)} - {r["arm"] for r in stored_ok})
    # the same records, the second marked as answered from the cache
    assert [{**r, "cached": None} for r in records(first)] == [{**r, "cached": None} for r in records(second)]
    assert [r["cached"] for r in records(second)] == [r in stored_ok for r in records(first)]
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
                       out=str(tmp_path / "a"), cache_dir=cache, max_error_rate=1.0)
    b = resolve_config(tasks=[str(mixed_task)], arms=[f"x=hf:pretrained={tiny_models['chat']},{same_render}"],
                       out=str(tmp_path / "b"), cache_dir=cache, max_error_rate=1.0)
    run(a, progress=False)
    out_b = run(b, progress=False)
    assert json.loads((out_b / "manifest.json").read_text())["cache"]["x"]["hits"] == 0
    off = resolve_config(tasks=[str(mixed_task)], arms=[f"x=hf:pretrained={tiny_models['base']},{same_render}"],
                         out=str(tmp_path / "c"), cache_dir=cache, cache=False, max_error_rate=1.0)
    before = len(loads)
    out_c = run(off, progress=False)
    assert len(loads) == before + 1 and "cache" in json.loads((out_c / "manifest.json").read_text())
    assert json.loads((out_c / "manifest.json").read_text())["cache"]["x"] == {"hits": 0, "misses": 2}


def test_seed_and_settings_are_part_of_the_key(tiny_models: dict, mixed_task: Path, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    arm = [f"x=hf:pretrained={tiny_models['base']},render=transcript:plain,temperature=1.0"]
    run(resolve_config(tasks=[str(mixed_task)], arms=arm, out=str(tmp_path / "a"), cache_dir=cache,
                       max_error_rate=1.0), progress=False)
    other = run(resolve_config(tasks=[str(mixed_task)], arms=arm, out=str(tmp_path / "b"), cache_dir=cache, seed=5,
                               max_error_rate=1.0), progress=False)
    assert json.loads((other / "manifest.json").read_text())["cache"]["x"]["hits"] == 0


def _qa(tmp_path: Path) -> Path:
    return make_task(tmp_path / "qa", [{"id": f"q{i}", "q": q} for i, q in enumerate(["Who are you?", "Hello"])],
                     "name: qa\nversion: 1\ndescription: d\ndata: {path: data.jsonl}\nfields: {id: id, prompt: q}\n"
                     "generation: {max_gen_toks: 40}\n")


def _hits(run_dir: Path, arm: str = "x") -> int:
    return json.loads((run_dir / "manifest.json").read_text())["cache"][arm]["hits"]


ORGANISM = organism_dir()  # replies that end their turn (the tiny fixtures ramble to max_gen_toks: never cached)


def test_any_change_to_a_model_folders_files_is_another_model(tmp_path: Path) -> None:
    """The config alone, or weights rewritten with the same size and mtime (`cp -p`, `rsync -a`), are not
    the model the cache answered for."""
    import os

    model = tmp_path / "model"
    shutil.copytree(ORGANISM / "psm-tiny-base", model)
    task, cache = _qa(tmp_path), str(tmp_path / "cache")

    def go(name: str) -> Path:
        return run(resolve_config(tasks=[str(task)], arms=[f"x=hf:pretrained={model},render=transcript:assistant"],
                                  out=str(tmp_path / name), cache_dir=cache), progress=False)

    go("first")
    assert _hits(go("again")) == 2
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "rms_norm_eps": 1e-5}))
    assert _hits(go("config")) == 0
    weights = model / "model.safetensors"
    before = weights.stat()
    data = bytearray(weights.read_bytes())
    data[-8:] = bytes(8)  # the last weights' bytes: same size, another model
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))  # as `cp -p` keeps it
    assert weights.stat().st_size == before.st_size and weights.stat().st_mtime_ns == before.st_mtime_ns
    third = go("weights")
    assert _hits(third) == 0 and not any(r["cached"] for r in records(third))


def test_api_arms_are_cached_only_when_they_opt_in_keyed_on_the_served_model(tmp_path: Path) -> None:
    from tests.fixtures.openai_server import ModelServer

    task, cache = _qa(tmp_path), str(tmp_path / "cache")

    def go(url: str, name: str, opt: str = "") -> Path:
        arm = (f"x=local-completions:base_url={url}/completions,model=tiny,tokenizer={ORGANISM / 'psm-tiny-base'},"
               f"tokenizer_backend=huggingface,render=transcript:assistant{opt}")
        return run(resolve_config(tasks=[str(task)], arms=[arm], out=str(tmp_path / name), cache_dir=cache),
                   progress=False)

    srv = ModelServer(ORGANISM / "psm-tiny-base")
    url, port = srv.url, srv.httpd.server_address[1]
    try:
        go(srv.url, "a")
        assert _hits(go(srv.url, "b")) == 0  # not cached by default: a server can change behind a name
        assert read_manifest(tmp_path / "b" / next((tmp_path / "b").iterdir()).name).backends["x"].cache is None
        go(srv.url, "c", ",cache=true")
        opted = go(srv.url, "d", ",cache=true")
        assert _hits(opted) == 2 and all(r["cached"] for r in records(opted))
        assert "/models entry" in (read_manifest(opted).backends["x"].cache or "")
    finally:
        srv.close()
    # the server restarted on the same URL with another checkpoint under the same served name: only its
    # own description of the served model tells the two apart
    other = ModelServer(ORGANISM / "psm-tiny-chat", port=port)
    try:
        assert other.url == url
        assert _hits(go(url, "e", ",cache=true")) == 0
    finally:
        other.close()
