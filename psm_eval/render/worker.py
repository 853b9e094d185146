"""The render worker: a separate program that renders templates users write, in Jinja2's stock
ImmutableSandboxedEnvironment, under a CPU-time limit per render and a memory limit for the process.

`sandbox.py` starts it (`python worker.py`) and talks to it over its stdin/stdout in length-prefixed
frames: requests are pickles from the parent; replies are a JSON header line and the text, never a
pickle, so that nothing this process sends can run code in the parent. It imports nothing from
psm_eval, and a template that exhausts a limit takes down only this process, which the parent replaces.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import resource
import signal
import struct
from collections.abc import Callable
from datetime import datetime
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

MEMORY_BYTES = 512 * 2**20  # address space of this process; an honest 2 M-character prompt needs < 100 MB
MAX_TEMPLATE_BYTES = 200_000
FRAME = struct.Struct(">Q")  # a frame: its length, then its bytes
CPU = struct.Struct(">d")  # a request frame: the CPU seconds it may use, then its pickle


class OutOfTime(BaseException):
    """Raised by the CPU-time alarm; a BaseException so no `except Exception` in Jinja swallows it."""


class Refused(Exception):
    """A limit this program enforces itself (output size, template size)."""


# ---- environments --------------------------------------------------------------------------

class CappedLoader(jinja2.FileSystemLoader):
    """A FileSystemLoader that refuses files larger than MAX_TEMPLATE_BYTES before reading them."""

    def get_source(self, environment: jinja2.Environment, template: str) -> Any:
        for root in self.searchpath:  # a name with '..' is refused by the lookup below
            path = os.path.join(root, *(p for p in template.split("/") if p not in ("", ".")))
            if os.path.isfile(path):
                if os.path.getsize(path) > MAX_TEMPLATE_BYTES:
                    raise Refused(f"template {template!r} is larger than {MAX_TEMPLATE_BYTES} bytes")
                break
        return super().get_source(environment, template)


def persona_env(search: tuple[str, ...]) -> jinja2.Environment:
    """Persona templates: the immutable sandbox, StrictUndefined, files from `search`."""
    return ImmutableSandboxedEnvironment(loader=CappedLoader(list(search)), undefined=jinja2.StrictUndefined,
                                         autoescape=False, keep_trailing_newline=False)


class GenerationTag(Extension):
    """`{% generation %}...{% endgeneration %}`: marks an assistant reply for training masks. A prompt
    has no use for the mask, so the body renders as it is, in its own scope, as transformers does."""

    tags = {"generation"}

    def parse(self, parser: Any) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

    def _body(self, caller: Callable[[], str]) -> str:
        return caller()


def raise_exception(message: Any) -> None:
    raise jinja2.exceptions.TemplateError(message)


def strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def tojson(value: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None,
           sort_keys: bool = False) -> str:
    """json.dumps without HTML escaping (Jinja's own tojson escapes `<`, `>`, `&`, `'`)."""
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


class TemplateDict:
    """`dict(...)` and `dict.fromkeys(...)` for templates, without handing them the dict type itself."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict:
        return dict(*args, **kwargs)

    def fromkeys(self, *args: Any) -> dict:
        return dict.fromkeys(*args)


class TemplateNamespace(Namespace):
    """`namespace(...)` that refuses attribute names starting with `_` (Python internals)."""

    def __init__(*args: Any, **kwargs: Any) -> None:
        self, rest = args[0], args[1:]
        attrs = dict(*rest, **kwargs)
        for name in attrs:
            TemplateNamespace.check(name)
        Namespace.__init__(self, attrs)

    def __setitem__(self, name: str, value: Any) -> None:
        TemplateNamespace.check(name)
        Namespace.__setitem__(self, name, value)

    @staticmethod
    def check(name: Any) -> None:
        if isinstance(name, str) and name.startswith("_"):
            raise jinja2.exceptions.SecurityError(f"a namespace attribute may not start with '_': {name!r}")


def chat_env() -> jinja2.Environment:
    """Chat templates exactly as transformers' `apply_chat_template` renders them: trim_blocks,
    lstrip_blocks, loop controls, the generation tag, its `tojson`, `raise_exception`,
    `strftime_now`, `dict` and `namespace`; lenient Undefined; no loader."""
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, "jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals.update(raise_exception=raise_exception, strftime_now=strftime_now, dict=TemplateDict(),
                       namespace=TemplateNamespace)
    return env


_ENVS: dict[tuple[str, ...], jinja2.Environment] = {}
_CHAT_TEMPLATES: dict[str, jinja2.Template] = {}
_CACHED = 64  # environments (one per search path) and chat templates kept compiled


def _env(key: tuple[str, ...], make: Callable[[], jinja2.Environment]) -> jinja2.Environment:
    if key not in _ENVS:
        if len(_ENVS) >= _CACHED:
            _ENVS.clear()
        _ENVS[key] = make()
    return _ENVS[key]


def template(request: dict) -> jinja2.Template:
    """The request's template, compiled once: a chat template by its source, a persona template by
    name on its search path (Jinja's cache recompiles a file that changed)."""
    if request["kind"] == "chat":
        source = request["source"]
        if source not in _CHAT_TEMPLATES:
            if len(_CHAT_TEMPLATES) >= _CACHED:
                _CHAT_TEMPLATES.clear()
            _CHAT_TEMPLATES[source] = _env(("chat",), chat_env).from_string(source)
        return _CHAT_TEMPLATES[source]
    search = tuple(request["search"])
    return _env(("persona", *search), lambda: persona_env(search)).get_template(request["name"])


def digest(env: jinja2.Environment, name: str, seen: set[str]) -> str:
    """sha256 over a template's source and every template it extends, includes or imports."""
    seen.add(name)
    assert env.loader is not None
    source = env.loader.get_source(env, name)[0]
    parts = [source]
    for ref in sorted(r for r in meta.find_referenced_templates(env.parse(source)) if r):
        if ref not in seen:
            parts.append(digest(env, ref, seen))
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


# ---- requests ------------------------------------------------------------------------------

def render(request: dict) -> dict:
    tpl = template(request)
    if request["op"] == "load":
        return {"ok": True, "sha256": digest(tpl.environment, request["name"], set())}
    text = tpl.render(**request["vars"])  # whole, not streamed: the memory limit bounds what it builds
    if len(text) > request["max_chars"]:
        raise Refused(f"the rendered prompt has {len(text)} characters; at most {request['max_chars']} are allowed")
    return {"ok": True, "text": text}


def encode_reply(reply: dict) -> bytes:
    """A JSON header line, then the rendered text (kept out of JSON: no escaping to do)."""
    text = reply.pop("text", "")
    return json.dumps(reply).encode("ascii") + b"\n" + text.encode("utf-8", "surrogatepass")


def decode_reply(frame: bytes) -> dict:
    head, _, text = frame.partition(b"\n")
    reply = json.loads(head)
    reply["text"] = text.decode("utf-8", "surrogatepass")
    return reply


def one_line(exc: BaseException) -> str:
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())


_busy = False


def _alarm(signum: int, frame: Any) -> None:
    if _busy:
        raise OutOfTime()


def handle(request: dict) -> dict:
    """One request under its CPU-time limit; every failure becomes a reply. `restart` asks the
    parent to replace this process (its state may be damaged)."""
    global _busy
    _busy = True
    cpu = request["cpu_seconds"]
    # the alarm raises between two Python steps; a render stuck inside one C call (summing lists,
    # printing a huge structure) is ended by the kernel 1-2 s of CPU later (SIGXCPU)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    set_limit(resource.RLIMIT_CPU, int(usage.ru_utime + usage.ru_stime + cpu) + 2)
    signal.setitimer(signal.ITIMER_PROF, cpu)
    try:
        return render(request)
    except OutOfTime:
        return {"ok": False, "kind": "time", "restart": True,
                "error": f"ran past its {cpu:.2f} s of CPU time"}
    except MemoryError:
        return {"ok": False, "kind": "memory", "restart": True,
                "error": f"needed more than the {MEMORY_BYTES >> 20} MiB a render may use"}
    except RecursionError:
        return {"ok": False, "kind": "recursion", "error": "RecursionError: recursion too deep (a macro, include, "
                "recursive loop or nesting that keeps going)"}
    except (jinja2.exceptions.SecurityError, Refused) as exc:
        return {"ok": False, "kind": "security", "error": one_line(exc)}
    except Exception as exc:  # the template's own error (syntax, undefined name, 1/0): one line
        return {"ok": False, "kind": "template", "error": f"{type(exc).__name__}: {one_line(exc)}"}
    finally:
        _busy = False  # first: an alarm due this instant is then ignored
        signal.setitimer(signal.ITIMER_PROF, 0)


def read_exact(fd: int, size: int) -> bytes | None:
    """`size` bytes from `fd`, or None at end of input."""
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> bytes | None:
    head = read_exact(fd, FRAME.size)
    return None if head is None else read_exact(fd, FRAME.unpack(head)[0])


def write_frame(fd: int, payload: bytes) -> None:
    view = memoryview(FRAME.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view):]


def set_limit(which: int, value: int) -> None:
    """Set a soft limit, never above the hard limit this process was given."""
    hard = resource.getrlimit(which)[1]
    resource.setrlimit(which, (value if hard == resource.RLIM_INFINITY else min(value, hard), hard))


def main() -> None:
    set_limit(resource.RLIMIT_AS, MEMORY_BYTES)
    set_limit(resource.RLIMIT_CORE, 0)
    signal.signal(signal.SIGPROF, _alarm)
    requests, replies = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)  # nothing else may write into the reply stream
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    while True:
        frame = read_frame(requests)
        if frame is None:  # the parent closed the pipe or died: nothing left to do
            return
        request = pickle.loads(frame[CPU.size:])
        request["cpu_seconds"] = CPU.unpack(frame[:CPU.size])[0]
        try:
            reply = handle(request)
        except OutOfTime:  # the alarm went off as the render ended, outside handle's own try
            reply = {"ok": False, "kind": "time", "restart": True, "error": "ran past its CPU time"}
        try:
            reply["peak_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            write_frame(replies, encode_reply(reply))
        except (BrokenPipeError, MemoryError):
            return
        if reply.get("restart"):
            return


if __name__ == "__main__":
    main()
