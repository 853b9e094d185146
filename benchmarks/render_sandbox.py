"""Issue 13: the render sandbox for templates users write. Measures the worker design (Jinja2's stock
ImmutableSandboxedEnvironment in a persistent worker process with CPU-time and memory limits,
`render/sandbox.py` + `render/worker.py`) against the budgeted in-process sandbox it replaced
(`render/sandbox.py`, `budget.py`, `guards.py` at BASELINE, loaded from git), in the same process:

  1. render cost per prompt, short and long dialogues, persona and named chat template: the ratio
     worker / budgeted (and stock in-process Jinja, the floor);
  2. the 70 template bombs and 4 escapes of tests/render/bombs.py: refused or not, seconds to the
     answer, and the peak RSS growth of the process that rendered (the budgeted sandbox renders in
     a fresh child process per bomb, so that its peak is its own).

    python benchmarks/render_sandbox.py [--baseline REV] [--skip-bombs] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BASELINE = "55354f0"  # the last commit with the budgeted in-process sandbox
SHORT = [{"role": "user", "content": "What is the capital of Norway?"}]
LONG = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}: " + "word " * 100} for i in range(40)]
# a style the budgeted sandbox can compile (it has no loop controls); its output differed (no trim_blocks)
CHAT_TEMPLATE = ROOT / "tests" / "render" / "chat_templates" / "chatml.jinja"


def budgeted_package(rev: str) -> Path:
    """The budgeted sandbox's three modules at `rev`, as the package `_budgeted` in a temp folder."""
    root = Path(tempfile.mkdtemp(prefix="psm-budgeted-"))
    (root / "_budgeted").mkdir()
    (root / "_budgeted" / "__init__.py").write_text("")
    for name in ("sandbox", "budget", "guards"):
        text = subprocess.run(["git", "show", f"{rev}:psm_eval/render/{name}.py"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
        (root / "_budgeted" / f"{name}.py").write_text(text.replace("psm_eval.render", "_budgeted"))
    return root


# ---- render cost ------------------------------------------------------------------------------

def per_call_us(fn: Callable[[], Any], seconds: float = 1.0, repeats: int = 5) -> float:
    """Median over `repeats` of the mean time of one call, each repeat running about `seconds`."""
    fn()
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < seconds / 4:
        fn()
        n += 1
    results = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n * 4):
            fn()
        results.append((time.perf_counter() - t0) / (n * 4) * 1e6)
    return statistics.median(results)


def render_cost(old: Any) -> list[dict[str, Any]]:
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from psm_eval.render import sandbox as new
    from psm_eval.render.transcript import PERSONA_DIR

    chat_source = CHAT_TEMPLATE.read_text()
    old_persona = old.sandbox([PERSONA_DIR]).get_template("assistant.j2")
    old_chat = old.sandbox([CHAT_TEMPLATE.parent]).get_template(CHAT_TEMPLATE.name)
    stock = ImmutableSandboxedEnvironment(loader=jinja2.FileSystemLoader([str(PERSONA_DIR)]),
                                          undefined=jinja2.StrictUndefined).get_template("assistant.j2")
    stock_chat = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                               extensions=["jinja2.ext.loopcontrols"]).from_string(chat_source)
    rows: list[dict[str, Any]] = []
    for label, msgs in (("short", SHORT), ("long", LONG)):
        size = sum(len(m["content"]) for m in msgs)
        chat_vars = {"messages": msgs, "tools": None, "documents": None, "add_generation_prompt": True,
                     "bos_token": "<s>"}
        persona_vars = {"messages": msgs, "system": None}
        cases = {
            "persona": (lambda v=persona_vars: new.render("b", name="assistant.j2", search=[PERSONA_DIR], **v),
                        lambda v=persona_vars: old.render_bounded(old_persona, "b", **v),
                        lambda v=persona_vars: stock.render(**v)),
            "chat template": (lambda v=chat_vars: new.render("b", source=chat_source, **v),
                              lambda v=chat_vars: old.render_bounded(old_chat, "b", **v),
                              lambda v=chat_vars: stock_chat.render(**v)),
        }
        for kind, (worker, budgeted, floor) in cases.items():
            row: dict[str, Any] = {"template": kind, "dialogue": f"{label} ({len(msgs)} turns, {size} chars)",
                   "worker_us": per_call_us(worker), "budgeted_us": per_call_us(budgeted),
                   "stock_in_process_us": per_call_us(floor)}
            row["ratio"] = row["worker_us"] / row["budgeted_us"]
            rows.append(row)
    return rows


# ---- bombs ------------------------------------------------------------------------------------

_OLD_CHILD = """
import json, resource, sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from _budgeted import sandbox as old
from tests.render.bombs import LONG
env = old.sandbox([sys.argv[3]])
old.render_bounded(env.from_string("{{ 1 }}"), "warm")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
try:
    tpl = env.get_template("evil.j2")
    old.render_bounded(tpl, "evil", messages=[{"role": "user", "content": "probe"}], system=None)
    old.render_bounded(tpl, "evil", messages=[{"role": "user", "content": LONG}], system=None)
    error = None
except Exception as exc:
    error = str(exc)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"refused": error is not None, "one_line": error is None or "\\n" not in error, "seconds": seconds,
                  "peak_growth_mib": (peak - before) / 1024, "error": error}))
"""


def bomb_budgeted(package: Path, folder: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _OLD_CHILD, str(package), str(ROOT), str(folder)],
                         capture_output=True, text=True, timeout=600, check=False)  # a crash is a result too
    if out.returncode != 0:
        return {"refused": True, "one_line": False, "seconds": None, "peak_growth_mib": None,
                "error": f"the rendering process died ({out.returncode})"}
    return json.loads(out.stdout.strip().splitlines()[-1])


class _PeakWatch:
    """Samples the worker's VmHWM (peak RSS) while a render runs, in case the worker is killed
    before it can report its own peak."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_kib, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak_kib = max(self.peak_kib, int(line.split()[1]))
            except (OSError, ValueError):
                return
            self._stop.wait(0.002)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak_kib


def bomb_worker(path: Path) -> dict:
    from psm_eval.errors import RenderError
    from psm_eval.render import sandbox as new
    from psm_eval.render import transcript
    from psm_eval.types import Turn
    from tests.render.bombs import LONG

    transcript._load.cache_clear()
    new._shutdown()  # a fresh worker per bomb, so that its peak is this bomb's
    new.render("warm", name="assistant.j2", search=[transcript.PERSONA_DIR], messages=SHORT, system=None)
    pid = new.worker_pid()
    assert pid is not None
    base = int(next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if line.startswith("VmHWM:")).split()[1])
    watch = _PeakWatch(pid)
    t0 = time.perf_counter()
    try:
        transcript.load_persona(str(path)).render((Turn("user", LONG),))
        error = None
    except RenderError as exc:
        error = str(exc)
    seconds = time.perf_counter() - t0
    peak = max(watch.stop(), new._last_peak_kib)  # sampled, or as the worker reported it in its last answer
    return {"refused": error is not None, "one_line": error is None or "\n" not in error, "seconds": seconds,
            "peak_growth_mib": max(peak - base, 0) / 1024, "error": error}


def bombs(package: Path) -> list[dict]:
    from tests.render.bombs import ESCAPES, SIZE_BOMBS, TIME_BOMBS, bomb_source

    rows: list[dict[str, Any]] = []
    for family, bodies in (("time", TIME_BOMBS), ("size", SIZE_BOMBS), ("escape", ESCAPES)):
        for body in bodies:
            folder = Path(tempfile.mkdtemp(prefix="psm-bomb-"))
            (folder / "evil.j2").write_text(bomb_source(body))
            w, b = bomb_worker(folder / "evil.j2"), bomb_budgeted(package, folder)
            rows.append({"family": family, "body": body[:90], "worker": w, "budgeted": b})
            print(f"  {family:6} worker {'refused' if w['refused'] else 'RENDERED':8} {w['seconds']:5.2f} s "
                  f"{w['peak_growth_mib']:6.1f} MiB | budgeted {'refused' if b['refused'] else 'RENDERED':8} "
                  f"{b['seconds'] or 0:5.2f} s {b['peak_growth_mib'] or 0:6.1f} MiB | {body[:60]}", flush=True)
    return rows


def summary(rows: list[dict], design: str) -> str:
    picked = [r[design] for r in rows if r["family"] != "escape"]
    refused = [r for r in picked if r["refused"]]
    secs = [r["seconds"] for r in refused if r["seconds"] is not None]
    peaks = [r["peak_growth_mib"] for r in picked if r["peak_growth_mib"] is not None]
    escapes = [r[design] for r in rows if r["family"] == "escape"]
    return (f"{design:8}: bombs refused {len(refused)}/{len(picked)} (all one line: "
            f"{all(r['one_line'] for r in picked)}); seconds to refusal median {statistics.median(secs):.2f}, "
            f"max {max(secs):.2f}; peak RSS growth of the rendering process median {statistics.median(peaks):.1f} MiB, "
            f"max {max(peaks):.1f} MiB; escapes refused {sum(r['refused'] for r in escapes)}/{len(escapes)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=BASELINE, help="git revision with the budgeted sandbox")
    parser.add_argument("--skip-bombs", action="store_true")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    package = budgeted_package(args.baseline)
    sys.path.insert(0, str(package))
    from _budgeted import sandbox as old  # type: ignore[import-not-found]

    print(f"load: {Path('/proc/loadavg').read_text().split()[:3]} on {os.cpu_count()} CPUs; baseline {args.baseline}")
    cost = render_cost(old)
    print("render cost per prompt (µs): worker | budgeted | stock Jinja in-process | worker/budgeted")
    for r in cost:
        print(f"  {r['template']:13} {r['dialogue']:30} {r['worker_us']:8.1f} {r['budgeted_us']:8.1f} "
              f"{r['stock_in_process_us']:8.1f}   {r['ratio']:.2f}x")
    result: dict[str, Any] = {"baseline": args.baseline, "render_cost": cost}
    if not args.skip_bombs:
        rows = bombs(package)
        result["bombs"] = rows
        print(summary(rows, "worker"))
        print(summary(rows, "budgeted"))
        rendered = [r["body"] for r in rows if not r["worker"]["refused"]]
        print(f"rendered by the worker within its limits ({len(rendered)}): " + " | ".join(rendered))
    print(f"load after: {Path('/proc/loadavg').read_text().split()[:3]}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
