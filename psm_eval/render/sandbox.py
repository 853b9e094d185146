"""Templates users write (persona templates, named chat templates) render in a worker process
(`worker.py`): Jinja2's stock immutable sandbox, under a CPU-time limit per render, a memory limit
for the process and a cap on the prompt's size. A render past a limit, or one that kills the worker,
is one RenderError line; the worker is replaced on the next render.

One persistent worker per process, started on first use and shared by its threads (one render at a
time). A forked child never uses its parent's worker: it starts its own. The worker ends when its
parent exits or dies (it reads end-of-input), or by its own CPU-time limit if it is busy then.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import select
import subprocess
import sys
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from psm_eval.errors import RenderError
from psm_eval.render import worker as w

__all__ = ["render", "load", "sandbox", "one_line", "MAX_PROMPT_CHARS", "MAX_TEMPLATE_BYTES", "CPU_SECONDS",
           "CPU_SECONDS_PER_MB"]

MAX_PROMPT_CHARS = 2_000_000
MAX_TEMPLATE_BYTES = w.MAX_TEMPLATE_BYTES
# A render may use CPU_SECONDS plus CPU_SECONDS_PER_MB per megabyte of text in its variables: an
# honest but busy template takes about 0.4 s per MB of dialogue, so work may grow with the data,
# linearly. CPU time, not wall-clock time, so that a loaded machine refuses nothing more.
CPU_SECONDS, CPU_SECONDS_PER_MB = 1.0, 2.0
# The worker enforces its limits itself (and the kernel ends it 1-2 s of CPU past its limit, when it
# is stuck inside one C call); the parent kills one that has not answered after this long (stopped).
HUNG_FACTOR, HUNG_EXTRA_S = 10, 10.0
_BOOT = "import runpy, sys; sys.path.pop(0); runpy.run_path(sys.argv[1], run_name='__main__')"


class _Worker:
    """One worker process and its two pipes."""

    def __init__(self) -> None:
        # its own session: Ctrl-C in a terminal interrupts psm_eval, which then ends the worker
        try:
            self.proc = subprocess.Popen([sys.executable, "-c", _BOOT, w.__file__], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            raise RenderError(f"cannot start the template render worker ({sys.executable!r}): {exc}") from None
        self.owner = os.getpid()

    def ask(self, payload: bytes, wait_s: float) -> dict | None:
        """Send one request; its reply, or None when the worker died or did not answer in `wait_s`."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            w.write_frame(self.proc.stdin.fileno(), payload)
        except BrokenPipeError:
            return None
        replies = self.proc.stdout.fileno()
        if not select.select([replies], [], [], wait_s)[0]:
            return None
        frame = w.read_frame(replies)
        return None if frame is None else w.decode_reply(frame)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, kill: bool = False) -> int | None:
        """End the worker (closing its input ends an idle one; a kill ends any) and reap it."""
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if kill:
            self.proc.kill()
        try:
            return self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


_lock = threading.Lock()
_worker: _Worker | None = None
_last_peak_kib = 0  # the worker's peak RSS after the last render it answered (the benchmark reads it)


def _forget_in_child() -> None:
    """After fork: the parent's worker belongs to the parent. Drop it without ending it, and close
    this copy of its pipes so that the worker still sees end-of-input when the parent goes."""
    global _worker, _lock
    _lock = threading.Lock()
    if _worker is not None:
        for stream in (_worker.proc.stdin, _worker.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    os.close(stream.fileno())
        _worker = None


def _shutdown() -> None:
    global _worker
    if _worker is not None and _worker.owner == os.getpid():
        _worker.stop()
    _worker = None


os.register_at_fork(after_in_child=_forget_in_child)
atexit.register(_shutdown)


def _call(request: dict, where: str) -> dict:
    global _worker, _last_peak_kib
    payload = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
    # the request's size stands for the text in its variables: what its CPU-time allowance grows with
    cpu = CPU_SECONDS + CPU_SECONDS_PER_MB * len(payload) / 1e6
    payload = w.CPU.pack(cpu) + payload
    with _lock:
        if _worker is None or not _worker.alive():
            if _worker is not None:
                _worker.stop()
            _worker = _Worker()
        worker = _worker
        try:
            reply = worker.ask(payload, HUNG_FACTOR * cpu + HUNG_EXTRA_S)
        except BaseException:  # e.g. Ctrl-C while waiting: its late reply must never answer the next request
            _worker = None
            worker.stop(kill=True)
            raise
        if reply is None or reply.get("restart"):
            _worker = None
            code = worker.stop(kill=reply is None)
    if reply is None:
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with status {code}"
        raise RenderError(f"{where}: refused: the template render worker {how} (past its CPU-time or memory limit)")
    _last_peak_kib = reply.get("peak_kib", 0)
    if not reply["ok"]:
        raise RenderError(f"{where}: {'' if reply['kind'] == 'template' else 'refused: '}{reply['error']}")
    return reply


def load(name: str, search: Sequence[Path], where: str) -> str:
    """Compile the persona template `name` (found on `search`) in the worker: the sha256 of its
    source and of every template it extends, includes or imports."""
    request = {"op": "load", "kind": "persona", "name": name, "search": [str(p) for p in search]}
    return _call(request, where)["sha256"]


def render(where: str, *, name: str | None = None, search: Sequence[Path] = (), source: str | None = None,
           **variables: Any) -> str:
    """Render a persona template (`name`, found on `search`) or a chat template (its `source`) with
    `variables` (plain data: strings, numbers, lists, dicts) in the worker, within its limits. A
    failure is one RenderError line naming `where`."""
    request: dict[str, Any] = {"op": "render", "vars": variables, "max_chars": MAX_PROMPT_CHARS}
    if source is not None:
        request.update(kind="chat", source=source)
    else:
        request.update(kind="persona", name=name, search=[str(p) for p in search])
    return _call(request, where)["text"]


def worker_pid() -> int | None:
    """The running worker's pid, if one is running (tests and the benchmark watch it)."""
    return _worker.proc.pid if _worker is not None and _worker.alive() else None


def sandbox(search: Sequence[Path]) -> ImmutableSandboxedEnvironment:
    """An in-process immutable sandbox for psm_eval's own templates (judge prompts): code we ship,
    filled with untrusted data as variables. Templates users write go through `render` instead."""
    return _sandbox(tuple(str(p) for p in search))


@lru_cache(maxsize=16)
def _sandbox(search: tuple[str, ...]) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(loader=jinja2.FileSystemLoader(list(search)), undefined=jinja2.StrictUndefined,
                                         autoescape=False, keep_trailing_newline=False)


def one_line(exc: BaseException) -> str:
    return w.one_line(exc)
