"""API faults against a real server on 127.0.0.1: each ends as a stored success after bounded
retries or a stored failure with its kind; none becomes an answer or a cached value; the error
budget stops a run; a server with shifted echo logprobs is refused before anything is scored."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from psm_eval.errors import BackendError, ErrorBudgetError
from psm_eval.run.runner import run
from psm_eval.run.start import resolve_config
from tests.fixtures.openai_server import ModelServer, ServerFaults
from tests.test_runner import make_task, records

ONE = "name: one\nversion: 1\ndescription: d\ndata: {path: data.jsonl}\nfields: {id: id, prompt: q}\n"


def _arm(url: str, extra: str = "") -> str:
    return (f"api=local-chat-completions:base_url={url}/chat/completions,model=m,tokenizer_backend=none,"
            f"render=chat,retries=3{extra}")


@pytest.mark.parametrize("script,status,kind,attempts,waits", [
    ([429, None], "ok", None, 2, [0.0]),                      # Retry-After: 0 honoured
    (["retry-after", None], "ok", None, 2, [1.0]),            # Retry-After: 1 honoured
    (["no-retry-after", None], "ok", None, 2, [0.5]),         # exponential backoff instead
    ([500, None], "ok", None, 2, [0.5]),
    ([502, 503, None], "ok", None, 3, [0.5, 1.0]),
    (["malformed", None], "ok", None, 2, [0.5]),
    (["truncated", None], "ok", None, 2, [0.5]),
    ([503] * 4, "failed", "server_error", 4, [0.5, 1.0, 2.0]),
    ([429] * 4, "failed", "rate_limited", 4, [0.0, 0.0, 0.0]),
    (["malformed"] * 4, "failed", "malformed_response", 4, [0.5, 1.0, 2.0]),
    (["truncated"] * 4, "failed", "malformed_response", 4, [0.5, 1.0, 2.0]),
    ([401], "failed", "http_error", 1, []),
    (["null"], "failed", "empty_response", 1, []),
    (["empty-choices", None], "ok", None, 2, [0.5]),          # `choices: []` (was backend_error, not retried)
    (["empty-choices"] * 4, "failed", "malformed_response", 4, [0.5, 1.0, 2.0]),
    (["no-choices"] * 4, "failed", "malformed_response", 4, [0.5, 1.0, 2.0]),
    (["no-message"] * 4, "failed", "malformed_response", 4, [0.5, 1.0, 2.0]),  # was stored ok as ""
    (["no-index", None], "ok", None, 2, [0.5]),               # was stored ok as ""
    (["not-an-object", None], "ok", None, 2, [0.5]),
    (["retry-after-huge"], "failed", "rate_limited", 1, []),  # Retry-After: 100000 > max_retry_after: no wait
])
def test_api_fault_ends_stored_with_its_kind_and_is_never_cached(tmp_path: Path, script: list, status: str,
                                                                 kind: str | None, attempts: int, waits: list,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import psm_eval.backends.retry as retry

    paused: list[float] = []
    monkeypatch.setattr(retry, "_pause", paused.append)
    task = make_task(tmp_path / "one", [{"id": "only", "q": "hi"}], ONE)
    srv = ModelServer(None, ServerFaults(script=list(script)))
    try:
        config = resolve_config(tasks=[str(task)], arms=[_arm(srv.url)], out=str(tmp_path / "a"), max_error_rate=1.0,
                                cache_dir=str(tmp_path / "cache"))
        (rec,) = records(run(config, progress=False))
        assert (rec["status"], rec["attempts"]) == (status, attempts) and paused == waits
        if status == "ok":
            assert rec["output"] == "canned reply" and rec["error"] is None
        else:
            assert rec["output"] is None and rec["error"]["kind"] == kind
            if script[0] == "retry-after-huge":
                assert "asked to retry after 100000 s, more than this arm's max_retry_after of 60 s" in \
                    rec["error"]["message"]
            # never cached: the same request to a healthy server is asked again and answered
            before = srv.faults.requests
            (again,) = records(run(config.model_copy(update={"out": str(tmp_path / "b")}), progress=False))
            assert again["status"] == "ok" and srv.faults.requests == before + 1
    finally:
        srv.close()


def test_connection_refused_hang_and_empty_completion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import psm_eval.backends.retry as retry

    monkeypatch.setattr(retry, "_pause", lambda s: None)
    task = make_task(tmp_path / "one", [{"id": "only", "q": "hi"}], ONE)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    (rec,) = records(run(resolve_config(tasks=[str(task)], arms=[_arm(dead)], out=str(tmp_path / "r"), max_error_rate=1.0,
                                        cache=False), progress=False))
    assert rec["status"] == "failed" and rec["error"]["kind"] == "connection_error" and rec["attempts"] == 4
    srv = ModelServer(None, ServerFaults(script=["hang", "empty"], hang_s=2.0))
    try:
        arm = _arm(srv.url, ",timeout=1").replace("retries=3", "retries=0")
        (rec,) = records(run(resolve_config(tasks=[str(task)], arms=[arm], out=str(tmp_path / "h"), cache=False,
                                             max_error_rate=1.0),
                             progress=False))
        assert rec["status"] == "failed" and rec["error"]["kind"] == "timeout" and rec["output"] is None
        # an empty completion is the server's real (empty) reply, stored as such, not a failure placeholder
        (rec,) = records(run(resolve_config(tasks=[str(task)], arms=[arm], out=str(tmp_path / "e"), cache=False,
                                             max_error_rate=1.0),
                             progress=False))
        assert rec["status"] == "ok" and rec["output"] == ""
    finally:
        srv.close()


def test_error_budget_stops_the_run_keeps_records_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import psm_eval.backends.retry as retry

    monkeypatch.setattr(retry, "_pause", lambda s: None)
    task = make_task(tmp_path / "t", [{"id": f"s{i:02d}", "q": f"q{i}"} for i in range(40)], ONE.replace("one", "t"))
    srv = ModelServer(None, ServerFaults(script=[400] * 7))
    try:
        config = resolve_config(tasks=[str(task)], arms=[_arm(srv.url)], out=str(tmp_path), cache=False,
                                max_error_rate=0.14)
        # 0.14 of the 40 records the arm owes is 5.6: checked after every record, the run stops at the 6th
        with pytest.raises(ErrorBudgetError, match=r"arm 'api' has 6 failed records of the 40 it owes"):
            run(config, progress=False)
        out = next(tmp_path.glob("2*"))
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["status"] == "failed" and "error budget" in manifest["error"]
        assert len(records(out)) == 6  # every record asked is kept
        with pytest.raises(ErrorBudgetError, match=r"has 7 failed records"):  # the 7th fails too
            run(config, resume=out, progress=False)
        assert len(records(out)) == 7
        run(config.model_copy(update={"max_error_rate": 0.2}), resume=out, progress=False)  # 7 of 40 ≤ 20 %
        assert json.loads((out / "manifest.json").read_text())["status"] == "complete"
        assert len(records(out)) == 40
    finally:
        srv.close()


def test_length_cut_reply_is_stored_as_length_and_never_cached(tiny_models: dict, tmp_path: Path) -> None:
    srv = ModelServer(tiny_models["chat"])
    try:
        task = make_task(tmp_path / "one", [{"id": "only", "q": "hi"}], ONE + "generation: {max_gen_toks: 3}\n")
        arm = (f"api=local-completions:base_url={srv.url}/completions,model=m,tokenizer={tiny_models['chat']},"
               "tokenizer_backend=huggingface,render=transcript:plain")
        config = resolve_config(tasks=[str(task)], arms=[arm], out=str(tmp_path / "a"), cache_dir=str(tmp_path / "c"))
        (rec,) = records(run(config, progress=False))
        assert rec["status"] == "ok" and rec["finish"] == "length"
        before = srv.faults.requests
        run(config.model_copy(update={"out": str(tmp_path / "b")}), progress=False)
        assert srv.faults.requests == before + 1
    finally:
        srv.close()


def _mc(tmp_path: Path) -> Path:
    return make_task(tmp_path / "mc", [{"id": "m0", "q": "Capital of France?", "c": ["Paris", "Rome"], "a": 0}],
                     "name: mc\nversion: 1\ndescription: d\nkind: multiple_choice\ndata: {path: data.jsonl}\n"
                     "fields: {id: id, prompt: q, choices: c, answer: a}\n")


@pytest.mark.parametrize("shift,message", [
    (0, None),
    (1, r"shifted by one token \(token i carries token i\+1's logprob, as llama\.cpp"),
    (-1, r"'\.', ',', '\?', '!' after the same text all score .* shifted by one token \(token i carries token i−1's"),
], ids=["faithful", "shift+1", "shift-1"])
def test_conformance_probe_refuses_shifted_echo_logprobs(tiny_models: dict, tmp_path: Path, shift: int,
                                                         message: str | None) -> None:
    srv = ModelServer(tiny_models["chat"], ServerFaults(shift_logprobs=shift))
    try:
        arm = (f"api=local-completions:base_url={srv.url}/completions,model=m,tokenizer={tiny_models['chat']},"
               "tokenizer_backend=huggingface,render=transcript:plain")
        config = resolve_config(tasks=[str(_mc(tmp_path))], arms=[arm], out=str(tmp_path), cache=False)
        if message is None:
            (rec,) = records(run(config, progress=False))
            assert rec["status"] == "ok" and srv.faults.requests == 7 + 2  # 7 probe pairs, then the 2 choices
            assert len(rec["logprobs"]) == 2 and all(ll < 0 for ll, _ in rec["logprobs"])
            return
        with pytest.raises(BackendError, match=message) as refused:
            run(config, progress=False)
        assert "model 'local-completions:" in str(refused.value) and "\n" not in str(refused.value)
        out = next(tmp_path.glob("2*"))
        assert json.loads((out / "manifest.json").read_text())["status"] == "failed"
        assert records(out) == [] if (out / "generations.jsonl").exists() else True
        assert srv.faults.requests == 7  # nothing but the probe was asked
    finally:
        srv.close()


# [ll(c, a+b), ll(c, a), ll(c+a, b), then '.', ',', '?', '!' after c+a+b], as probe_pairs() orders them
CHAIN = [-30.0, -12.0, -18.0]


@pytest.mark.parametrize("scores,refused", [
    (CHAIN + [-5.795, -5.649, -5.923, -5.860], None),           # the tiny test model's real endings
    (CHAIN + [-1.784, -4.129, -5.448, -5.723], None),           # the organism chat model's
    ([-30.04, -12.0, -18.0, -6.0, -6.021, -6.01, -6.015], None),  # chain noise 0.04; endings 0.021 apart
    (CHAIN + [-6.0, -6.019, -6.01, -6.015], "i−1"),              # faithful but within 0.02: refused
    (CHAIN + [-4.2, -4.2, -4.2, -4.2], "i−1"),                   # i−1 shift: all four are one logprob
    (CHAIN + [-4.2, -4.2 + 1e-6, -4.2 - 3e-3, -4.2], "i−1"),     # … with a server's rounding noise
    ([-30.0, -12.0, -12.5, -6.0, -5.0, -7.0, -8.0], r"i\+1"),    # i+1 shift: the chain rule breaks
    ([0.0] * 7, "i−1"),                                          # all-zero logprobs
], ids=["tiny", "organism", "noisy", "close", "shift-1", "shift-1-noisy", "shift+1", "zeros"])
def test_check_echo_logprobs_on_hand_made_scores(scores: list[float], refused: str | None) -> None:
    from psm_eval.backends.conformance import check_echo_logprobs, probe_pairs

    assert len(scores) == len(probe_pairs())
    pairs = [(ll, False) for ll in scores]
    if refused is None:
        check_echo_logprobs(pairs, "m")
        return
    with pytest.raises(BackendError, match=f"^model 'm': .*token i carries token {refused}'s logprob"):
        check_echo_logprobs(pairs, "m")


def test_endings_check_runs_only_where_each_ending_is_a_token_of_its_own(tiny_models: dict) -> None:
    from transformers import AutoTokenizer

    from psm_eval.backends.conformance import check_echo_logprobs, endings_are_tokens
    from psm_eval.run.config import organism_dir

    for folder in (tiny_models["chat"], organism_dir() / "psm-tiny-chat"):
        assert endings_are_tokens(AutoTokenizer.from_pretrained(folder).encode), folder

    def merging(text: str) -> list[int]:  # characters, plus a "t." token: '.' joins the word before
        ids = [ord(c) for c in text]
        return ids[:-2] + [0x110000] if text.endswith("t.") else ids

    assert not endings_are_tokens(merging)
    # lm-eval would score such empty continuations 0.0 each: the check is skipped, no false alarm
    check_echo_logprobs([(ll, False) for ll in CHAIN + [0.0] * 4], "m", last_token=False)


def test_non_finite_probe_scores_are_refused() -> None:
    from psm_eval.backends.conformance import check_echo_logprobs

    for bad in (float("nan"), float("-inf")):
        with pytest.raises(BackendError, match="non-finite loglikelihoods"):
            check_echo_logprobs([(ll, False) for ll in [bad, bad, bad, -1.0, -2.0, -3.0, -4.0]], "m")


def _one_task(tmp_path: Path) -> Path:
    return make_task(tmp_path / "one", [{"id": "only", "q": "hi"}], ONE)


@pytest.mark.parametrize("fault,limits,attempts", [
    ("hang", "retries=3,timeout=0.5,retry_deadline=1.2", (1, 2)),  # every attempt hangs: the deadline ends it
    ("trickle", "retries=0,timeout=1", (1, 1)),  # each byte in time, the whole too late (was read to the end)
])
def test_hung_or_trickling_server_ends_as_a_timeout_within_the_limits(tmp_path: Path, fault: str, limits: str,
                                                                       attempts: tuple[int, int],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import psm_eval.backends.lm  # noqa: F401  (importing lm-eval takes seconds: not what is measured)
    import psm_eval.backends.retry as retry

    monkeypatch.setattr(retry, "_pause", lambda s: None)  # backoff waits are not what is measured here
    srv = ModelServer(None, ServerFaults(script=[fault] * 4, hang_s=4.0))
    try:
        arm = _arm(srv.url).replace("retries=3", limits)
        config = resolve_config(tasks=[str(_one_task(tmp_path))], arms=[arm], out=str(tmp_path), cache=False,
                                max_error_rate=1.0)
        started = time.monotonic()
        (rec,) = records(run(config, progress=False))
        elapsed = time.monotonic() - started
    finally:
        srv.close()
    assert rec["status"] == "failed" and rec["error"]["kind"] == "timeout" and rec["output"] is None
    assert attempts[0] <= rec["attempts"] <= attempts[1]
    if fault == "hang":
        assert "no answer within the retry deadline of 1.2 s" in rec["error"]["message"]
    assert elapsed < 3.5  # loose: the server would have answered after 4 s


def test_over_long_replies_are_capped_and_marked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server ignoring max_tokens: the stored reply is cut at MAX_REPLY_CHARS and the Outcome says
    how long it was; a body past MAX_RESPONSE_BYTES is refused unread."""
    import psm_eval.backends.http as http
    from psm_eval.backends import create_backend, parse_model_spec
    from psm_eval.backends.lm import MAX_REPLY_CHARS
    from psm_eval.types import GenRequest, Prompt

    srv = ModelServer(None, ServerFaults(reply_chars=MAX_REPLY_CHARS + 500_000))
    try:
        spec = parse_model_spec(f"local-chat-completions:base_url={srv.url}/chat/completions,model=m,"
                                "tokenizer_backend=none")
        request = GenRequest(key="k", prompt=Prompt(messages=({"role": "user", "content": "hi"},)), max_gen_toks=4,
                             temperature=0.0, until=(), seed=1)
        (outcome,) = create_backend(spec).generate([request])
        assert outcome.ok and outcome.capped_from == MAX_REPLY_CHARS + 500_000 and outcome.finish == "length"
        assert outcome.output == "x" * MAX_REPLY_CHARS
        (rec,) = records(run(resolve_config(tasks=[str(_one_task(tmp_path))], arms=[_arm(srv.url)],
                                            out=str(tmp_path / "r"), cache=False), progress=False))
        assert rec["status"] == "ok" and len(rec["output"]) == MAX_REPLY_CHARS and rec["finish"] == "length"
        monkeypatch.setattr(http, "MAX_RESPONSE_BYTES", 1_000_000)
        (outcome,) = create_backend(spec).generate([request])
        assert not outcome.ok and outcome.error_kind == "response_too_large" and outcome.attempts == 1
    finally:
        srv.close()


@pytest.mark.parametrize("echo_max,probe_fails", [(60, False), (20, True)], ids=["long-prompts", "every-prompt"])
def test_short_echo_is_a_failure_never_a_zero(tiny_models: dict, tmp_path: Path, echo_max: int, probe_fails: bool,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that echoes fewer prompt logprobs than the prompt has tokens: lm-eval sums an empty
    slice, 0.0 (was stored `ok`). Cut past 60 entries, the probe (≤ 51 tokens) passes and the long
    prompts fail; cut past 20, the probe itself fails and so does every request."""
    import psm_eval.backends.retry as retry

    monkeypatch.setattr(retry, "_pause", lambda s: None)
    question = "Please tell me, what is the capital of France and why is the sky blue? " * 3
    task = make_task(tmp_path / "mc", [{"id": "m0", "q": question, "c": ["Paris", "Rome"], "a": 0}],
                     "name: mc\nversion: 1\ndescription: d\nkind: multiple_choice\ndata: {path: data.jsonl}\n"
                     "fields: {id: id, prompt: q, choices: c, answer: a}\n")
    srv = ModelServer(tiny_models["chat"], ServerFaults(echo_max=echo_max))
    try:
        arm = (f"api=local-completions:base_url={srv.url}/completions,model=m,tokenizer={tiny_models['chat']},"
               "tokenizer_backend=huggingface,render=transcript:plain")
        (rec,) = records(run(resolve_config(tasks=[str(task)], arms=[arm], out=str(tmp_path), cache=False,
                                            max_error_rate=1.0), progress=False))
    finally:
        srv.close()
    assert rec["status"] == "failed" and rec["logprobs"] is None and rec["error"]["kind"] == "malformed_response"
    assert "the server echoed" in rec["error"]["message"] and "expected" in rec["error"]["message"]
    assert rec["error"]["message"].startswith("conformance probe") == probe_fails
