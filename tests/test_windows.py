"""The runner hands a backend as many requests per call as its `Capabilities.window` asks (vLLM: whole waves),
in canonical windows, so a resumed run forms the same calls and stores the same records."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from psm_eval.backends import Capabilities
from psm_eval.run.config import build_config
from psm_eval.run.runner import CHUNK, run
from psm_eval.types import GenRequest, Outcome
from tests.fixtures.fake_backend import GenerateOnly
from tests.test_runner import make_task

SAMPLES = 120


class Batching(GenerateOnly):
    """A fake engine whose sampled replies depend on the whole call (as vLLM's do on its batch), recording
    the size of every call."""

    def __init__(self, window: int | None, calls: list[int]):
        self.capabilities = Capabilities(window=window)
        self.calls = calls

    def generate(self, requests: Sequence[GenRequest]) -> list[Outcome]:
        self.calls.append(len(requests))
        batch = hashlib.sha256("|".join(r.key for r in requests).encode()).hexdigest()[:8]
        return [Outcome(ok=True, output=f"{r.seed % 997} in {batch}", finish="stop") for r in requests]


def _config(tmp_path: Path) -> object:
    task = make_task(tmp_path / "t", [{"id": f"q{i}", "q": f"Question {i}?"} for i in range(SAMPLES)],
                     "name: q\nversion: 1\ndescription: d\ndata: {path: data.jsonl}\nfields: {id: id, prompt: q}\n"
                     "generation: {max_gen_toks: 8}\n")
    arm = {"name": "v", "model": {"type": "dummy"}, "render": "transcript:assistant", "temperature": 1.0}
    return build_config({"tasks": [str(task)], "arms": [arm], "cache": False, "out": str(tmp_path / "runs")}, "test")


def test_a_window_sets_the_requests_per_call(tmp_path: Path) -> None:
    config = _config(tmp_path)
    calls: list[int] = []
    run(config, progress=False, backend_factory=lambda arm: Batching(None, calls))  # type: ignore[arg-type]
    assert calls == [CHUNK] * 3 + [SAMPLES - 3 * CHUNK]
    calls.clear()
    run(config, progress=False, backend_factory=lambda arm: Batching(4096, calls))  # type: ignore[arg-type]
    assert calls == [SAMPLES]  # the whole wave in one call


def test_a_resumed_run_forms_the_same_windows_and_records(tmp_path: Path) -> None:
    config = _config(tmp_path)
    calls: list[int] = []
    out = run(config, progress=False, backend_factory=lambda arm: Batching(50, calls))  # type: ignore[arg-type]
    assert calls == [50, 50, 20]
    full = (out / "generations.jsonl").read_bytes().splitlines(keepends=True)
    (out / "generations.jsonl").write_bytes(b"".join(full[:70]))  # killed while storing the second window
    calls.clear()
    run(config, resume=out, progress=False, backend_factory=lambda arm: Batching(50, calls))  # type: ignore[arg-type]
    assert calls == [50, 20]  # the torn window asked whole (its replies depend on it), the first not again
    assert (out / "generations.jsonl").read_bytes().splitlines(keepends=True) == full
