"""The generation stage through lm-eval's real `hf` backend: records, determinism, failures, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from psm_eval.errors import RunLockedError, StoreError
from psm_eval.run.runner import run
from psm_eval.run.start import resolve_config
from psm_eval.errors import RunInterrupted
from psm_eval.records import RunStore

REPO = Path(__file__).resolve().parent.parent


def arms(models: dict[str, Path], extra: str = "") -> list[str]:
    return [f"base=hf:pretrained={models['base']},dtype=float32,render=transcript:assistant{extra}",
            f"chat=hf:pretrained={models['chat']},dtype=float32,render=chat{extra}"]


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "generations.jsonl").read_text().splitlines()]


def make_task(d: Path, rows: list[dict], spec: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "task.yaml").write_text(spec)
    return d


def test_both_renderings_store_exact_prompts(tiny_models: dict, qa_task: Path, tmp_path: Path) -> None:
    out = run(resolve_config(tasks=[str(qa_task)], arms=arms(tiny_models), out=str(tmp_path)), progress=False)
    recs = records(out)
    assert len(recs) == 10 and {r["status"] for r in recs} == {"ok"}
    base = next(r for r in recs if r["arm"] == "base" and r["sample_id"] == "q4")
    chat = next(r for r in recs if r["arm"] == "chat" and r["sample_id"] == "q4")
    assert base["prompt"]["text"] == ("<s>The following is a conversation between a user and a helpful, honest AI "
                                      "assistant.\n\nUser: Literal {{ 7*7 }} and {% raw %} stay text?\nAssistant:")
    assert chat["prompt"]["text"] == "<s><|user|>Literal {{ 7*7 }} and {% raw %} stay text?<|end|><|assistant|>"
    assert base["prompt"]["renderer"] == "transcript" and chat["prompt"]["template"] == "model"
    assert base["gen"]["until"] == ["\nUser:"] and base["gen"]["max_gen_toks"] == 8
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["chat"] == {"ok": 5, "failed": 0, "failures": {}}
    assert [a["render"] for a in manifest["arms"]] == ["transcript:assistant", "chat"]
    assert manifest["tasks"][0]["data_hash"].startswith("sha256:")


def test_identical_config_and_seed_give_byte_identical_generations(tiny_models: dict, qa_task: Path,
                                                                   tmp_path: Path) -> None:
    sampled = arms(tiny_models, ",temperature=1.0")
    a = run(resolve_config(tasks=[str(qa_task)], arms=sampled, out=str(tmp_path / "a")), progress=False)
    b = run(resolve_config(tasks=[str(qa_task)], arms=sampled, out=str(tmp_path / "b")), progress=False)
    assert (a / "generations.jsonl").read_bytes() == (b / "generations.jsonl").read_bytes()
    c = run(resolve_config(tasks=[str(qa_task)], arms=sampled, out=str(tmp_path / "c"), seed=99), progress=False)
    assert [r["output"] for r in records(a)] != [r["output"] for r in records(c)]


def test_rollout_feeds_each_arms_own_replies_back(tiny_models: dict, tmp_path: Path) -> None:
    rows = [{"id": "d1", "turns": [{"role": "user", "content": f"turn {i}"} for i in range(3)]}]
    task = make_task(tmp_path / "roll", rows, "name: roll\nversion: 1\ndescription: d\nmode: rollout\n"
                     "data: {path: data.jsonl}\nfields: {id: id, dialogue: turns}\ngeneration: {max_gen_toks: 4}\n")
    out = run(resolve_config(tasks=[str(task)], arms=arms(tiny_models), out=str(tmp_path)), progress=False)
    recs = {(r["arm"], r["turn"]): r for r in records(out)}
    assert sorted(recs) == [(a, t) for a in ("base", "chat") for t in range(3)]
    first = recs[("chat", 0)]["output"].strip()
    assert f"<|assistant|>{first}<|end|><|user|>turn 1" in recs[("chat", 1)]["prompt"]["text"]
    base_first = recs[("base", 0)]["output"].strip()
    assert f"Assistant: {base_first}\nUser: turn 1\n" in recs[("base", 1)]["prompt"]["text"]


def test_multiple_choice_scores_each_choice_through_the_arms_rendering(tiny_models: dict, tmp_path: Path) -> None:
    rows = [{"id": "m1", "q": "Capital of France?", "c": ["Paris", "Rome", "Oslo"], "a": 0}]
    task = make_task(tmp_path / "mc", rows, "name: mc\nversion: 1\ndescription: d\nkind: multiple_choice\n"
                     "data: {path: data.jsonl}\nfields: {id: id, prompt: q, choices: c, answer: a}\n")
    out = run(resolve_config(tasks=[str(task)], arms=arms(tiny_models), out=str(tmp_path)), progress=False)
    recs = {r["arm"]: r for r in records(out)}
    assert recs["base"]["continuations"] == [" Paris", " Rome", " Oslo"]
    assert recs["chat"]["continuations"] == ["Paris", "Rome", "Oslo"]
    for r in recs.values():
        assert r["kind"] == "loglikelihood" and len(r["logprobs"]) == 3
        assert all(lp < 0 for lp, _ in r["logprobs"])


def test_too_long_prompt_is_a_stored_failure_not_a_silent_cut(tiny_models: dict, tmp_path: Path) -> None:
    rows = [{"id": "long", "q": "word " * 400}, {"id": "short", "q": "hi"}]
    task = make_task(tmp_path / "long", rows, "name: long\nversion: 1\ndescription: d\n"
                     "data: {path: data.jsonl}\nfields: {id: id, prompt: q}\ngeneration: {max_gen_toks: 4}\n")
    out = run(resolve_config(tasks=[str(task)], arms=arms(tiny_models), out=str(tmp_path), max_error_rate=1.0),
              progress=False)
    by = {(r["arm"], r["sample_id"]): r for r in records(out)}
    for arm in ("base", "chat"):
        failed = by[(arm, "long")]
        assert failed["status"] == "failed" and failed["output"] is None
        assert failed["error"]["kind"] == "context_too_long"
        assert by[(arm, "short")]["status"] == "ok"
    assert json.loads((out / "manifest.json").read_text())["counts"]["base"] == {
        "ok": 1, "failed": 1, "failures": {"context_too_long": 1}}


def test_second_process_on_a_run_folder_is_refused(tiny_models: dict, qa_task: Path, tmp_path: Path) -> None:
    out = run(resolve_config(tasks=[str(qa_task)], arms=arms(tiny_models), out=str(tmp_path)), progress=False)
    config = resolve_config(tasks=[str(qa_task)], arms=arms(tiny_models), out=str(tmp_path))
    with RunStore(out):
        with pytest.raises(RunLockedError, match="in use by another psm-eval process"):
            run(config, resume=out, progress=False)


def test_resume_drops_a_torn_line_and_refuses_changed_data(tiny_models: dict, qa_task: Path, tmp_path: Path) -> None:
    config = resolve_config(tasks=[str(qa_task)], arms=arms(tiny_models), out=str(tmp_path))
    out = run(config, progress=False)
    full = (out / "generations.jsonl").read_bytes()
    lines = full.splitlines(keepends=True)
    (out / "generations.jsonl").write_bytes(b"".join(lines[:6]) + lines[6][:25])
    run(config, resume=out, progress=False)
    assert sorted((out / "generations.jsonl").read_bytes().splitlines()) == sorted(full.splitlines())
    (qa_task / "data.jsonl").write_text((qa_task / "data.jsonl").read_text() + '{"id": "new", "question": "x"}\n')
    with pytest.raises(StoreError, match="changed since the run started"):
        run(config, resume=out, progress=False)


def test_corrupt_line_mid_file_is_an_error_naming_it(tiny_models: dict, qa_task: Path, tmp_path: Path) -> None:
    config = resolve_config(tasks=[str(qa_task)], arms=arms(tiny_models), out=str(tmp_path))
    out = run(config, progress=False)
    lines = (out / "generations.jsonl").read_text().splitlines(keepends=True)
    lines[2] = "{garbage\n"
    (out / "generations.jsonl").write_text("".join(lines))
    with pytest.raises(StoreError, match="generations.jsonl:line 3: corrupt record"):
        run(config, resume=out, progress=False)


def _cli(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "psm_eval.cli", *args], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_sigkill_mid_run_then_resume_loses_and_repeats_nothing(tiny_models: dict, tmp_path: Path) -> None:
    rows = [{"id": f"s{i:03d}", "q": f"Question number {i}?"} for i in range(120)]
    task = make_task(tmp_path / "big", rows, "name: big\nversion: 1\ndescription: d\n"
                     "data: {path: data.jsonl}\nfields: {id: id, prompt: q}\ngeneration: {max_gen_toks: 12}\n")
    flags = ["run", "--task", str(task), "--no-progress", "--no-cache", "--no-score"]
    for a in arms(tiny_models):
        flags += ["--arm", a]
    reference = _cli(*flags, "--out", str(tmp_path / "ref"))
    assert reference.wait(timeout=300) == 0, reference.stderr.read()
    ref_dir = next((tmp_path / "ref").iterdir())
    expected = sorted((ref_dir / "generations.jsonl").read_bytes().splitlines())
    victim = _cli(*flags, "--out", str(tmp_path / "killed"))
    deadline = time.time() + 120
    gen = None
    while time.time() < deadline:
        dirs = list((tmp_path / "killed").glob("*/generations.jsonl")) if (tmp_path / "killed").exists() else []
        if dirs and 0 < len(dirs[0].read_bytes().splitlines()) < len(expected) // 2:
            gen = dirs[0]
            break
        time.sleep(0.01)
    assert gen is not None, "run finished before it could be killed"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    partial = len(gen.read_bytes().splitlines())
    assert 0 < partial < len(expected)
    resumed = _cli("run", "--resume", str(gen.parent), "--no-progress", "--no-score")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    got = sorted(gen.read_bytes().splitlines())
    assert len(got) == len(set(got)) == len(expected)
    assert got == expected
    manifest = json.loads((gen.parent / "manifest.json").read_text())
    assert manifest["status"] == "complete" and len(manifest["resumed"]) == 1


def test_sampled_run_resumed_mid_chunk_draws_the_same_replies(tiny_models: dict, qa_task: Path, tmp_path: Path) -> None:
    sampled = arms(tiny_models, ",temperature=1.0")
    config = resolve_config(tasks=[str(qa_task)], arms=sampled, out=str(tmp_path), cache=False)
    out = run(config, progress=False)
    full = (out / "generations.jsonl").read_bytes().splitlines(keepends=True)
    assert len({json.loads(x)["output"] for x in full}) > 2, "replies should vary under sampling"
    (out / "generations.jsonl").write_bytes(b"".join(full[:3]))  # killed mid-way through the first chunk
    run(config, resume=out, progress=False)
    assert sorted((out / "generations.jsonl").read_bytes().splitlines(keepends=True)) == sorted(full)


def test_a_start_cut_short_leaves_no_half_made_run_folder(qa_task: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A run folder appears whole (config + manifest) or not at all; one cut just after it appears
    is `created` and resumes like any other."""
    from psm_eval.run import manifest as manifest_module
    from psm_eval.run.config import RunConfig
    from psm_eval.run.start import run_from_cli

    config = RunConfig.model_validate({"tasks": [str(qa_task)], "out": str(tmp_path / "runs"), "cache": False,
                                       "arms": [{"name": "a", "model": {"type": "dummy", "args": {}},
                                                 "render": "transcript:assistant"}]})

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(manifest_module, "os", SimpleNamespace(rename=interrupted))  # only the manifest module's
        with pytest.raises(KeyboardInterrupt):
            run(config, progress=False)
    assert list((tmp_path / "runs").iterdir()) == []  # not even the hidden starting folder
    with monkeypatch.context() as m:
        m.setattr(RunStore, "__enter__", interrupted)
        with pytest.raises(RunInterrupted, match="--resume"):
            run(config, progress=False)
    (out,) = (tmp_path / "runs").iterdir()
    assert json.loads((out / "manifest.json").read_text())["status"] == "created"
    assert not (out / "generations.jsonl").exists()
    assert run_from_cli(config_path=None, tasks=(), suite=None, arms=(), limit=None, seed=None, out=None,
                        resume=out, progress=False) == out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and len(manifest["resumed"]) == 1
    assert len(records(out)) == manifest["counts"]["a"]["ok"] > 0
