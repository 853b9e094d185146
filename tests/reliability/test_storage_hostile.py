"""Storage faults (full disk, two writers, a stale lock from a killed holder) and hostile input
(persona template bombs, widening operations and escapes, names used as file names, dialogue text
through the store)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psm_eval.run.config import parse_arm, build_config
from psm_eval.errors import ConfigError, RenderError, RunLockedError
from psm_eval.records import GenerationRecord, RunStore, iter_generations
from psm_eval.render.transcript import MAX_PROMPT_CHARS, load_persona
from psm_eval.run.runner import run
from tests.fixtures.files import read_jsonl
from tests.fixtures.records import generation
from psm_eval.types import Turn
from tests.reliability.zygote import SlowFake
from tests.render.bombs import ESCAPES, HEADER, LONG, QUADRATIC, SIZE_BOMBS, TIME_BOMBS, WITHIN_LIMITS, bomb_source
from tests.test_runner import make_task

REPO = Path(__file__).resolve().parents[2]
TASK = "name: t\nversion: 1\ndescription: d\ndata: {path: data.jsonl}\nfields: {id: id, prompt: q}\n"


def _config(task: Path, out: Path):
    return build_config({"tasks": [str(task)], "cache": False, "out": str(out),
                         "arms": [parse_arm("a=dummy:render=transcript:assistant")]}, "test")


def test_full_disk_keeps_earlier_records_and_the_run_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task = make_task(tmp_path / "t", [{"id": f"s{i:02d}", "q": f"q{i}"} for i in range(70)], TASK)
    ref = run(_config(task, tmp_path / "ref"), progress=False, backend_factory=lambda a: SlowFake(0))
    expected = sorted((ref / "generations.jsonl").read_bytes().splitlines())
    real_append, n = RunStore.append, {"left": 40}

    def append(self: RunStore, record: GenerationRecord) -> None:
        if n["left"] == 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n["left"] -= 1
        real_append(self, record)

    monkeypatch.setattr(RunStore, "append", append)
    with pytest.raises(OSError, match="No space"):
        run(_config(task, tmp_path / "full"), progress=False, backend_factory=lambda a: SlowFake(0))
    out = next((tmp_path / "full").iterdir())
    assert json.loads((out / "manifest.json").read_text())["status"] == "failed"
    kept = list(read_jsonl(out / "generations.jsonl"))
    assert len(kept) == 40 and all(r["status"] == "ok" for r in kept)
    monkeypatch.setattr(RunStore, "append", real_append)
    run(_config(task, tmp_path / "full"), resume=out, progress=False, backend_factory=lambda a: SlowFake(0))
    assert sorted((out / "generations.jsonl").read_bytes().splitlines()) == expected


def test_two_writers_refused_and_a_sigkilled_holders_lock_recovers(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom psm_eval.records import RunStore\n"
                               f"s = RunStore({str(tmp_path)!r}).__enter__(); print('held', flush=True); time.sleep(60)"],
                              cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"  # type: ignore[union-attr]
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
            RunStore(tmp_path).__enter__()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert (tmp_path / ".lock").exists()  # the stale lock file stays; its fcntl lock died with the holder
    with RunStore(tmp_path) as store:
        store.append(generation("t", "s", "a"))


def _refused(tmp_path: Path, body: str, text: str = LONG) -> str:
    path = tmp_path / "evil.j2"
    path.write_text(bomb_source(body))
    with pytest.raises(RenderError) as refused:
        load_persona(str(path)).render((Turn("user", text),))
    assert str(path) in str(refused.value) and "\n" not in str(refused.value), str(refused.value)
    return str(refused.value)


# a render may use 1 s + 2 s per MB of dialogue of CPU time (not wall-clock time); work stuck in one
# C call (summing lists, printing a 2**40-wide structure) is ended by the kernel 1-2 s of CPU later
REFUSED_WITHIN_S = 15  # measured: at most 5.9 s, with the machine's 2 CPUs loaded 4 deep


@pytest.mark.parametrize("body", [b for b in TIME_BOMBS if b not in WITHIN_LIMITS] + ESCAPES)
def test_persona_template_bombs_and_escapes_are_refused_quickly(tmp_path: Path, body: str) -> None:
    t0 = time.monotonic()
    _refused(tmp_path, body)
    assert time.monotonic() - t0 < REFUSED_WITHIN_S


@pytest.mark.parametrize("body", [b for b in SIZE_BOMBS if b not in WITHIN_LIMITS])
def test_widening_template_operations_are_refused_within_the_memory_limit(tmp_path: Path, body: str) -> None:
    t0 = time.monotonic()
    tracemalloc.start()
    try:
        _refused(tmp_path, body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the worker holds what the template builds (at most its 512 MiB); this process never does
    assert time.monotonic() - t0 < REFUSED_WITHIN_S and peak < 64 * 2**20, peak


@pytest.mark.parametrize("body", WITHIN_LIMITS)
def test_templates_cheap_on_this_text_render_within_the_limits(tmp_path: Path, body: str) -> None:
    path = tmp_path / "busy.j2"
    path.write_text(bomb_source(body))
    t0 = time.monotonic()
    text = load_persona(str(path)).render((Turn("user", LONG),)).text
    assert time.monotonic() - t0 < REFUSED_WITHIN_S and text is not None and len(text) <= MAX_PROMPT_CHARS


@pytest.mark.parametrize("body", QUADRATIC)
def test_quadratic_templates_are_refused_once_the_text_grows(tmp_path: Path, body: str) -> None:
    # the CPU-time allowance grows linearly with the dialogue, their work with its square
    message = _refused(tmp_path, body, (LONG * 10)[:1_000_000])
    assert "s of CPU time" in message or "killed by signal" in message, message


def test_a_busy_honest_template_renders_a_long_dialogue_within_the_limits(tmp_path: Path) -> None:
    path = tmp_path / "busy.j2"
    path.write_text(HEADER + """{%- macro turn(m, i) -%}
### {{ m.role|capitalize }} {{ i }}
{{ m.content|trim|replace("\\r", "")|wordwrap(100)|indent(2, first=true) }}
{% endmacro -%}
{%- if system %}{{ "%s\\n\\n"|format(system|trim) }}{% endif -%}
{%- set ns = namespace(users=0) -%}
{%- for m in messages if m.content is string -%}
{%- if m.role == "user" %}{% set ns.users = ns.users + 1 %}{% endif -%}
{{ turn(m, loop.index) }}
{%- endfor -%}
{{ "{} user turns, {} characters".format(ns.users, messages|map(attribute="content")|map("length")|sum) }}
### Assistant""")
    turns = tuple(Turn("user" if i % 2 == 0 else "assistant", ("word " * 200)[:1000]) for i in range(1000))
    text = load_persona(str(path)).render((Turn("system", "Be brief."), *turns)).text
    assert text.startswith("Be brief.\n\n### User 1\n  word word") and len(text) > 1_000_000
    assert text.endswith("500 user turns, 1000000 characters\n### Assistant")


def test_templates_a_persona_includes_obey_the_size_cap_too(tmp_path: Path) -> None:
    (tmp_path / "data.jsonl").write_text("x" * 300_000)
    path = tmp_path / "evil.j2"
    path.write_text(HEADER + "{% include 'data.jsonl' %}")
    with pytest.raises(RenderError, match="evil.j2: .*template 'data.jsonl' is larger than"):
        load_persona(str(path))


def test_named_chat_templates_are_bounded_too(tmp_path: Path) -> None:
    from psm_eval.render import make_renderer
    from psm_eval.types import ModelInfo

    bomb = "{% for a in messages %}{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}" \
           "{% endfor %}{% endfor %}"
    path = tmp_path / "chat.jinja"
    path.write_text(bomb)
    text_model = ModelInfo(model_type="hf", accepts="text")
    with pytest.raises(RenderError, match="chat template .*chat.jinja: refused: ran past its .* s of CPU time"):
        make_renderer(f"chat:template={path}").render((Turn("user", "hi"),), text_model)
    deep = tmp_path / "deep.jinja"
    deep.write_text("{{ " + "(" * 2000 + "1" + ")" * 2000 + " }}")
    with pytest.raises(RenderError, match="chat template .*deep.jinja: refused: RecursionError"):
        make_renderer(f"chat:template={deep}").render((Turn("user", "hi"),), text_model)


HOSTILE_TEXT = st.one_of(
    st.text(min_size=0, max_size=200),
    st.sampled_from(["{{ 7*7 }}", "{% raw %}", "\u202eevil\u202c", "\x00\x01\x1b[31m", "\ud800 lone", "]]></x>",
                     "<script>alert(1)</script>", "=HYPERLINK(\"http://x\")", "x" * 1_000_000]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=HOSTILE_TEXT)
def test_dialogue_text_is_inert_through_render_and_store(tmp_path: Path, text: str) -> None:
    prompt = load_persona("assistant").render((Turn("user", text),))
    assert text in prompt.text or not text  # verbatim, never rendered as a template
    with RunStore(tmp_path / "r") as store:
        store.append(generation("t", "s", "a", output=text))
    (back,) = [r for r in read_jsonl(tmp_path / "r" / "generations.jsonl")][-1:]
    assert back["output"] == text
    assert [g.output for g in iter_generations(tmp_path / "r")] == [text]
    (tmp_path / "r" / "generations.jsonl").unlink()


@pytest.mark.parametrize("name", ["../up", "/abs", "org/model", "..", "a\\b", "", "x" * 65, "a b", "é"])
def test_names_used_as_file_names_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        _config_named(name)
    task = make_task(tmp_path / "t", [{"id": "s", "q": "q"}], TASK.replace("name: t", f"name: {json.dumps(name)}"))
    from psm_eval.errors import TaskError
    from psm_eval.data.task import load_task

    with pytest.raises(TaskError):
        load_task(str(task))


def _config_named(name: str):
    return build_config({"tasks": ["x"], "arms": [{"name": name, "model": {"type": "dummy"},
                                                   "render": "chat"}]}, "test")
