"""API arms against a real OpenAI-compatible server on 127.0.0.1 serving the same tiny model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from psm_eval.errors import ErrorBudgetError
from psm_eval.run.runner import run
from psm_eval.run.start import resolve_config
from tests.fixtures.openai_server import ModelServer, ServerFaults
from tests.test_runner import make_task, records

SECRET = "sk-psm-sentinel-0123456789abcdef"


@pytest.fixture()
def server(tiny_models: dict) -> Iterator[ModelServer]:
    srv = ModelServer(tiny_models["chat"])
    yield srv
    srv.close()


def test_chat_api_arm_matches_the_local_hf_arm(server: ModelServer, tiny_models: dict, qa_task: Path,
                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    api = (f"api=local-chat-completions:base_url={server.url}/chat/completions,model=tiny,"
           "tokenizer_backend=none,render=chat")
    local = f"local=hf:pretrained={tiny_models['chat']},dtype=float32,render=chat"
    out = run(resolve_config(tasks=[str(qa_task)], arms=[api, local], out=str(tmp_path)), progress=False)
    recs = records(out)
    by = {(r["arm"], r["sample_id"]): r for r in recs}
    for sid in ("q0", "q1", "q2", "q3", "q4"):
        api_rec, local_rec = by[("api", sid)], by[("local", sid)]
        assert api_rec["status"] == "ok" and api_rec["prompt"]["messages"][-1]["role"] == "user"
        assert api_rec["output"] == local_rec["output"]
    for path in out.iterdir():
        assert SECRET not in path.read_text(errors="replace"), path


def test_completions_api_loglikelihood_equals_hf(server: ModelServer, tiny_models: dict, tmp_path: Path) -> None:
    rows = [{"id": f"m{i}", "q": q, "c": c, "a": 0} for i, (q, c) in enumerate([
        ("Capital of France?", ["Paris", "Rome", "Oslo"]), ("How many legs has a spider?", ["eight", "six"])])]
    task = make_task(tmp_path / "mc", rows, "name: mc\nversion: 1\ndescription: d\nkind: multiple_choice\n"
                     "data: {path: data.jsonl}\nfields: {id: id, prompt: q, choices: c, answer: a}\n")
    api = (f"api=local-completions:base_url={server.url}/completions,model=tiny,"
           f"tokenizer={tiny_models['chat']},tokenizer_backend=huggingface,render=transcript:plain")
    local = f"local=hf:pretrained={tiny_models['chat']},dtype=float32,render=transcript:plain"
    out = run(resolve_config(tasks=[str(task)], arms=[api, local], out=str(tmp_path)), progress=False)
    by = {(r["arm"], r["sample_id"]): r for r in records(out)}
    for sid in ("m0", "m1"):
        a, b = by[("api", sid)], by[("local", sid)]
        assert a["status"] == b["status"] == "ok"
        for (lp_a, _), (lp_b, _) in zip(a["logprobs"], b["logprobs"]):
            assert lp_a == pytest.approx(lp_b, abs=1e-4)


@pytest.mark.parametrize("script,status,kind,attempts", [
    ([400], "failed", "http_error", 1),
    ([503, None], "ok", None, 2),
    ([429, None], "ok", None, 2),
    (["null"], "failed", "empty_response", 1),
    ([500, 500, 500, 500], "failed", "server_error", 4),
])
def test_api_failures_are_stored_with_their_kind(tiny_models: dict, tmp_path: Path, script: list,
                                                 status: str, kind: str | None, attempts: int,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import psm_eval.backends.retry as retry

    waits: list[float] = []
    monkeypatch.setattr(retry, "_pause", waits.append)
    srv = ModelServer(tiny_models["chat"], ServerFaults(script=list(script)))
    try:
        rows = [{"id": "only", "q": "hi"}]
        task = make_task(tmp_path / "one", rows, "name: one\nversion: 1\ndescription: d\n"
                         "data: {path: data.jsonl}\nfields: {id: id, prompt: q}\ngeneration: {max_gen_toks: 4}\n")
        api = (f"api=local-chat-completions:base_url={srv.url}/chat/completions,model=tiny,"
               "tokenizer_backend=none,render=chat,retries=3")
        out = run(resolve_config(tasks=[str(task)], arms=[api], out=str(tmp_path), max_error_rate=1.0), progress=False)
    finally:
        srv.close()
    (rec,) = records(out)
    assert rec["status"] == status and rec["attempts"] == attempts
    if kind:
        assert rec["error"]["kind"] == kind and rec["output"] is None
    else:
        assert rec["error"] is None and isinstance(rec["output"], str)
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"
    assert len(waits) == attempts - 1


def test_retry_after_is_honoured_and_4xx_is_final() -> None:
    import requests

    from psm_eval.backends.retry import classify as _classify

    def http_error(status: int, headers: dict) -> requests.HTTPError:
        response = requests.Response()
        response.status_code, response.headers = status, requests.structures.CaseInsensitiveDict(headers)
        return requests.HTTPError(response=response)

    assert _classify(http_error(429, {"Retry-After": "7"}), 1)[:3] == ("rate_limited", True, 7.0)
    assert _classify(http_error(429, {}), 3)[:3] == ("rate_limited", True, 2.0)
    assert _classify(http_error(503, {}), 1)[:3] == ("server_error", True, 0.5)
    assert _classify(http_error(404, {}), 1)[:3] == ("http_error", False, 0.0)
    assert _classify(requests.ConnectionError("refused"), 2)[:2] == ("connection_error", True)
    assert _classify(requests.Timeout("slow"), 1)[:2] == ("timeout", True)
    # an HTTP-date Retry-After counts from now; past the arm's cap the request ends at once, with the reason
    from email.utils import formatdate
    import time

    kind, retryable, wait, _ = _classify(http_error(429, {"Retry-After": formatdate(time.time() + 30, usegmt=True)}), 1)
    assert (kind, retryable) == ("rate_limited", True) and 25 < wait <= 31
    assert _classify(http_error(429, {"Retry-After": "100000"}), 1, max_retry_after=60)[:3] == ("rate_limited", False, 0)
    assert "asked to retry after 120 s" in _classify(http_error(429, {"Retry-After": "120"}), 1, max_retry_after=60).note


def test_concurrent_api_requests_keep_results_in_order(tiny_models: dict, qa_task: Path, tmp_path: Path) -> None:
    srv = ModelServer(tiny_models["chat"], ServerFaults(latency_s=0.05))
    try:
        outs = {}
        for n in (1, 8):
            arm = (f"api=local-chat-completions:base_url={srv.url}/chat/completions,model=tiny,"
                   f"tokenizer_backend=none,num_concurrent={n},render=chat")
            out = run(resolve_config(tasks=[str(qa_task)], arms=[arm], out=str(tmp_path / str(n)), cache=False),
                      progress=False)
            outs[n] = [(r["sample_id"], r["output"], r["gen"]["seed"]) for r in records(out)]
        assert srv.faults.max_in_flight > 1
    finally:
        srv.close()
    assert outs[1] == outs[8] and len(outs[8]) == 5


def test_a_slow_reply_holds_only_its_own_thread(tmp_path: Path) -> None:
    """Serve and shard: a server arm keeps `num_concurrent` requests in flight across the wave. The first
    request is a straggler the server answers only after 12 others; were requests sent in groups of 4 that each
    wait for their slowest, only 3 others could be answered before it (it would wait out `hold_s`)."""
    srv = ModelServer(None, ServerFaults(hold="HOLD-ME", hold_until=12))
    try:
        rows = [{"id": f"s{i:02d}", "q": ("HOLD-ME " if i == 0 else "") + f"question {i}"} for i in range(24)]
        task = make_task(tmp_path / "t", rows, "name: t\nversion: 1\ndescription: d\ndata: {path: data.jsonl}\n"
                         "fields: {id: id, prompt: q}\ngeneration: {max_gen_toks: 4}\n")
        arm = (f"api=local-chat-completions:base_url={srv.url}/chat/completions,model=tiny,"
               "tokenizer_backend=none,num_concurrent=4,render=chat")
        out = run(resolve_config(tasks=[str(task)], arms=[arm], out=str(tmp_path / "runs"), cache=False),
                  progress=False)
    finally:
        srv.close()
    assert srv.faults.released_after is not None and srv.faults.released_after >= 12
    assert srv.faults.max_in_flight <= 4 and srv.faults.requests == 24  # never more than asked, each once
    got = records(out)
    assert [r["sample_id"] for r in got] == [r["id"] for r in rows]  # stored in job order all the same
    assert all(r["status"] == "ok" for r in got)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["throughput"]["api"]["requests"] == 24


def test_a_dead_server_stops_a_concurrent_arm_within_one_window(tmp_path: Path) -> None:
    """Every request fails (400, final): the error budget (a tenth of 200 records) trips at the 21st failure,
    requests not yet sent are cancelled, and the server sees at most one window (32) beyond that."""
    srv = ModelServer(None, ServerFaults(script=[400] * 1000))
    try:
        rows = [{"id": f"d{i:03d}", "q": f"question {i}"} for i in range(200)]
        task = make_task(tmp_path / "t", rows, "name: t\nversion: 1\ndescription: d\ndata: {path: data.jsonl}\n"
                         "fields: {id: id, prompt: q}\ngeneration: {max_gen_toks: 4}\n")
        arm = (f"api=local-chat-completions:base_url={srv.url}/chat/completions,model=tiny,"
               "tokenizer_backend=none,num_concurrent=4,render=chat,retries=0")
        with pytest.raises(ErrorBudgetError):
            run(resolve_config(tasks=[str(task)], arms=[arm], out=str(tmp_path / "runs"), cache=False,
                               max_error_rate=0.1), progress=False)
    finally:
        srv.close()
    (run_dir,) = (tmp_path / "runs").iterdir()
    got = records(run_dir)
    assert len(got) == 21 and all(r["status"] == "failed" for r in got)
    assert [r["sample_id"] for r in got] == [r["id"] for r in rows[:21]]
    assert 21 <= srv.faults.requests <= 21 + 32
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "failed"
