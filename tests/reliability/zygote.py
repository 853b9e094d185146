"""A pre-imported parent that forks one run per line on stdin, so a kill trial costs the run, not
the imports. Each child runs `runner.run` with a deterministic, slightly slow fake backend; the
parent prints `{"pid": …}` when the child starts and `{"code": …}` when it ends.

    python -m tests.reliability.zygote CONFIG_JSON      stdin lines: {"resume": RUN_DIR | null}
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Sequence

from psm_eval.run.config import RunConfig
from psm_eval.backends import Capabilities
from psm_eval.errors import PsmError
from psm_eval.run.runner import run
from psm_eval.types import GenRequest, LLRequest, ModelInfo, Outcome


class SlowFake:
    """Replies that depend only on the request (prompt, seed), after a short pause per request."""

    info = ModelInfo(model_type="fake", accepts="text")
    capabilities = Capabilities(per_request_seed=True)  # a reply depends on its own request only

    def __init__(self, pause: float = 0.0005):
        self.pause = pause

    def _h(self, *parts: object) -> str:
        return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()

    def generate(self, requests: Sequence[GenRequest]) -> list[Outcome]:
        time.sleep(self.pause * len(requests))
        return [Outcome(ok=True, output=f" reply {self._h(r.prompt.text, r.seed)[:12]}", finish="stop")
                for r in requests]

    def loglikelihood(self, requests: Sequence[LLRequest]) -> list[Outcome]:
        time.sleep(self.pause * len(requests))
        return [Outcome(ok=True, logprobs=tuple((-int(self._h(r.prompt.text, c)[:4], 16) / 1000, False)
                                                for c in r.continuations)) for r in requests]

    def fingerprint(self, digest_file: object = None) -> None:
        return None  # a fake is never cached

    def close(self) -> None:
        pass


def main() -> None:
    # A background job of a non-interactive shell (CI's `... &`) inherits SIGINT *ignored*; the
    # trials need Python's own handler, or every SIGINT is silently dropped.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    config = RunConfig.model_validate(json.loads(Path(sys.argv[1]).read_text()))
    import psm_eval.backends.lm  # noqa: F401  (lm_eval's registry, imported once for every child)

    # No `datasets` work here: pyarrow starts a thread pool, and a child forked from a process with
    # live threads can deadlock on a lock one of them held. Each child loads its tasks itself.
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        resume = cmd.get("resume")
        config = config.model_copy(update={"out": cmd["out"]})
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                run(config, resume=Path(resume) if resume else None, progress=False,
                    backend_factory=lambda arm: SlowFake())
            except KeyboardInterrupt:
                code = 130
            except PsmError as exc:  # an interrupted run is one too: RunInterrupted, exit 130, as the CLI exits
                print(exc, file=sys.stderr)
                code = exc.exit_code
            os._exit(code)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    main()
