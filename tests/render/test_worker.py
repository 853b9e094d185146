"""The sandbox worker (`render/sandbox.py`, `render/worker.py`) is one persistent process reused
across renders, replaced after a limit or a crash, never inherited by a fork, gone when its parent
goes, safe to share between threads, usable from daemonic multiprocessing workers; every failure is
one RenderError line."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from psm_eval.errors import RenderError
from psm_eval.render import sandbox
from psm_eval.render.transcript import PERSONA_DIR

REPO = Path(__file__).resolve().parents[2]
SPIN = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"


def _render(text: str = "hi") -> str:
    return sandbox.render("test", name="plain.j2", search=[PERSONA_DIR], messages=[{"role": "user", "content": text}],
                          system=None)


def _spin(tmp_path: Path, where: str = "spin") -> None:
    (tmp_path / "spin.j2").write_text(SPIN)
    sandbox.render(where, name="spin.j2", search=[tmp_path])


def _gone(pid: int, within: float) -> bool:
    """Whether `pid` has exited (or is an unreaped zombie) within `within` seconds."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def _workers_of(pid: int) -> list[int]:
    """Live render workers whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == pid and stat[0] != "Z" and b"worker.py" in cmdline:
            found.append(int(entry.name))
    return found


def test_one_worker_is_reused_across_renders() -> None:
    assert _render("a") == "User: a\nAssistant:"
    pid = sandbox.worker_pid()
    for i in range(20):
        assert _render(str(i)) == f"User: {i}\nAssistant:"
    assert sandbox.worker_pid() == pid and _workers_of(os.getpid()) == [pid]


def test_a_render_past_its_cpu_time_is_refused_in_one_line_and_the_worker_replaced(tmp_path: Path) -> None:
    _render()
    old = sandbox.worker_pid()
    assert old is not None
    t0 = time.monotonic()
    with pytest.raises(RenderError, match=r"^spin: refused: ran past its 1\.\d+ s of CPU time$"):
        _spin(tmp_path)
    assert time.monotonic() - t0 < 8 and _gone(old, 5)
    assert _render("after") == "User: after\nAssistant:" and sandbox.worker_pid() not in (None, old)


def test_a_render_past_the_memory_limit_is_refused_and_the_worker_replaced(tmp_path: Path) -> None:
    (tmp_path / "big.j2").write_text("{% set x = 'x' * 600000000 %}{{ x|length }}")
    _render()
    old = sandbox.worker_pid()
    with pytest.raises(RenderError, match=r"^big: refused: needed more than the 512 MiB a render may use$"):
        sandbox.render("big", name="big.j2", search=[tmp_path])
    assert old is not None and _gone(old, 5) and _render() == "User: hi\nAssistant:"


def test_a_killed_worker_is_one_line_and_replaced(tmp_path: Path) -> None:
    _render()
    idle = sandbox.worker_pid()
    assert idle is not None
    os.kill(idle, signal.SIGKILL)
    assert _gone(idle, 5) and _render("again") == "User: again\nAssistant:"  # died idle: a new one, silently
    busy = sandbox.worker_pid()
    assert busy is not None
    threading.Timer(0.3, os.kill, (busy, signal.SIGKILL)).start()
    with pytest.raises(RenderError, match=r"^spin: refused: the template render worker was killed by signal 9"):
        _spin(tmp_path)
    assert _render() == "User: hi\nAssistant:"


def test_threads_share_the_worker_one_render_at_a_time() -> None:
    errors: list[str] = []

    def work(n: int) -> None:
        for i in range(15):
            text = f"thread {n} render {i}"
            if _render(text) != f"User: {text}\nAssistant:":
                errors.append(text)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(_workers_of(os.getpid())) == 1


def test_a_forked_child_starts_its_own_worker_and_leaves_the_parents_alone() -> None:
    _render()
    parent_worker = sandbox.worker_pid()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            ok = _render("child") == "User: child\nAssistant:" and sandbox.worker_pid() != parent_worker
            os.write(write, f"{int(ok)} {sandbox.worker_pid()}".encode())
        finally:
            os._exit(0)  # no atexit: its worker must still go, seeing end-of-input
    os.close(write)
    ok, child_worker = os.read(read, 100).decode().split()
    os.close(read)
    os.waitpid(child, 0)
    assert ok == "1" and int(child_worker) != parent_worker and _gone(int(child_worker), 5)
    assert sandbox.worker_pid() == parent_worker and _render("parent") == "User: parent\nAssistant:"


def _pool_render(text: str) -> tuple[str, int | None]:
    return _render(text), sandbox.worker_pid()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_renders_inside_daemonic_multiprocessing_workers(method: str) -> None:
    _render()
    with multiprocessing.get_context(method).Pool(2) as pool:
        results = pool.map(_pool_render, ["a", "b", "c", "d"])
    assert [text for text, _ in results] == [f"User: {x}\nAssistant:" for x in "abcd"]
    assert all(pid is not None and pid != sandbox.worker_pid() for _, pid in results)
    assert all(_gone(pid, 5) for _, pid in results if pid is not None)


CHILD = """
import sys, time
sys.path.insert(0, {repo!r})
from pathlib import Path
from psm_eval.render import sandbox
from psm_eval.render.transcript import PERSONA_DIR
sandbox.render("w", name="plain.j2", search=[PERSONA_DIR], messages=[], system=None)
print(sandbox.worker_pid(), flush=True)
if {busy}:
    Path({folder!r}, "spin.j2").write_text({spin!r})
    sandbox.render("spin", name="spin.j2", search=[{folder!r}])
time.sleep(60)
"""


@pytest.mark.parametrize("busy", [False, True])
def test_the_worker_ends_when_its_parent_is_killed(tmp_path: Path, busy: bool) -> None:
    code = CHILD.format(repo=str(REPO), busy=busy, folder=str(tmp_path), spin=SPIN)
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(parent.stdout.readline())  # type: ignore[union-attr]
        time.sleep(0.3)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        # idle: it reads end-of-input at once; busy: its CPU-time limit ends the render first
        assert _gone(worker, 1 if not busy else 6)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_shutdown_leaves_no_worker() -> None:
    _render()
    pid = sandbox.worker_pid()
    sandbox._shutdown()
    assert pid is not None and _gone(pid, 5) and _workers_of(os.getpid()) == []
    assert _render() == "User: hi\nAssistant:"  # and the next render starts a new one
