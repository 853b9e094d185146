"""psm_eval's HTTP call for lm-eval's API models: the payload lm-eval builds, sent under a hard time
limit per attempt and a size limit, and the reply's shape checked before lm-eval parses it.

lm-eval's own call waits up to `timeout` seconds per socket read (a server that trickles bytes never
times out), reads bodies of any size, and its parsers turn some malformed replies into plausible
values: `choices: []` into a crash far from the cause, a chat choice without `message` into the
answer "", and an echo of fewer prompt logprobs than the prompt has tokens into the loglikelihood
0.0 (the sum of an empty slice). Here each of those is a `ResponseError` with its kind.
"""

from __future__ import annotations

import copy
import json
import math
import threading
import time
from typing import Any

from psm_eval.backends.retry import ResponseError, attempt_deadline
from psm_eval.backends.spec import RequestLimits

__all__ = ["install", "BoundedCall", "post_json", "check_reply", "check_echo", "MAX_RESPONSE_BYTES"]

# Far above any honest reply (a 32k-token echo with top logprobs is ~4 MB; the stored reply is cut at
# 1 M characters anyway), far below what would hurt the process: a server ignoring max_tokens, or a
# compressed body that inflates without end, stops here.
MAX_RESPONSE_BYTES = 64 * 2**20
_CHUNK = 1 << 16


def install(lm: Any, limits: RequestLimits) -> bool:
    """Route an lm-eval API model's requests through `BoundedCall` where it uses lm-eval's own
    `TemplateAPI.model_call` (a subclass with its own transport, e.g. litellm, keeps it), and check
    echoed logprobs before `LocalCompletionsAPI.parse_logprobs` sums them."""
    from lm_eval.models.api_models import TemplateAPI
    from lm_eval.models.openai_completions import LocalCompletionsAPI

    if not isinstance(lm, TemplateAPI) or type(lm).model_call is not TemplateAPI.model_call:
        return False
    lm.model_call = BoundedCall(lm, limits)
    if type(lm).parse_logprobs is LocalCompletionsAPI.parse_logprobs:
        parse = lm.parse_logprobs

        def parse_checked(outputs: Any, tokens: Any = None, ctxlens: Any = None, **kwargs: Any) -> Any:
            check_echo(outputs, tokens, ctxlens)
            return parse(outputs=outputs, tokens=tokens, ctxlens=ctxlens, **kwargs)

        lm.parse_logprobs = parse_checked
    return True


class BoundedCall:
    """Stands in for `TemplateAPI.model_call` on one lm-eval model instance (same arguments)."""

    def __init__(self, lm: Any, limits: RequestLimits) -> None:
        self.lm = lm
        self.limits = limits

    def __call__(self, messages: Any, *, generate: bool = True, gen_kwargs: dict | None = None, **kwargs: Any) -> Any:
        lm = self.lm
        payload = lm._create_payload(lm.create_message(messages), generate=generate,
                                     gen_kwargs=copy.deepcopy(gen_kwargs), seed=lm._seed, eos=lm.eos_string, **kwargs)
        verify = lm.ca_cert_path if lm.verify_certificate and lm.ca_cert_path else lm.verify_certificate
        body = post_json(lm.base_url, payload, lm.header, verify, attempt_deadline(self.limits.timeout))
        check_reply(body, messages, generate=generate, chat="messages" in payload)
        return body


def post_json(url: str, payload: Any, headers: dict, verify: Any, deadline: float) -> Any:
    """POST `payload`, return the parsed JSON reply; `requests.Timeout` once `deadline` (monotonic
    clock) passes, whatever the server does (also while it trickles a body, or DNS stalls). The
    request runs in a daemon thread that is abandoned at the deadline; its own socket timeouts end
    it no later than one more time budget after."""
    import requests

    budget = deadline - time.monotonic()
    if budget <= 0:
        raise requests.Timeout("no time left for this attempt")
    box: dict[str, Any] = {}
    done = threading.Event()

    def send() -> None:
        try:
            box["reply"] = _post(url, payload, headers, verify, deadline)
        except BaseException as exc:  # handed to the waiting thread
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=send, name="psm-eval-http", daemon=True).start()
    if not done.wait(budget):
        raise requests.Timeout(f"no complete reply within {budget:.3g} s (the arm's timeout per attempt, or what "
                               "was left of its retry deadline)")
    if "error" in box:
        raise box["error"]
    return box["reply"]


def _post(url: str, payload: Any, headers: dict, verify: Any, deadline: float) -> Any:
    import requests

    budget = max(0.001, deadline - time.monotonic())
    with requests.post(url, json=payload, headers=headers, verify=verify, stream=True,
                       timeout=(budget, budget)) as response:
        response.raise_for_status()
        chunks, size = [], 0
        for chunk in response.iter_content(_CHUNK):
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise ResponseError("response_too_large", f"the reply is over {MAX_RESPONSE_BYTES // 2**20} MiB "
                                    "(does the server ignore max_tokens?)", retryable=False)
            if time.monotonic() > deadline:  # the waiting thread has given up: stop reading
                raise requests.Timeout("abandoned")
            chunks.append(chunk)
    return json.loads(b"".join(chunks))


def check_reply(body: Any, prompts: Any, *, generate: bool, chat: bool) -> None:
    """Raise ResponseError unless `body` has one choice per prompt, each with its own index and, for a
    generation, its text (completions) or message content (chat; null is lm-eval's empty_response)."""
    if not isinstance(body, dict):
        raise _malformed(f"the reply is a JSON {type(body).__name__}, not an object")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise _malformed(f"the reply has no choices (choices: {json.dumps(choices)[:40]})")
    if len(choices) != len(prompts):
        raise _malformed(f"the reply has {len(choices)} choices for {len(prompts)} prompts")
    seen: set[int] = set()
    for choice in choices:
        index = choice.get("index") if isinstance(choice, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(prompts) or index in seen:
            raise _malformed("a choice lacks a distinct index within the prompts sent")
        seen.add(index)
        if not generate:
            continue  # echo logprobs: `check_echo`, which knows where each continuation starts
        if chat:
            message = choice.get("message")
            if not isinstance(message, dict) or not isinstance(message.get("content", 0), (str, type(None))):
                raise _malformed("a chat choice has no message with text content")
        elif not isinstance(choice.get("text", 0), (str, type(None))):
            raise _malformed("a completion choice has no text")


def check_echo(outputs: Any, tokens: Any, ctxlens: Any) -> None:
    """Raise ResponseError unless each echo choice carries one logprob entry per prompt token plus the
    generated token's, and a finite logprob with top logprobs at every continuation token (the
    positions lm-eval sums: from the context length to the prompt's end)."""
    for out in outputs if isinstance(outputs, list) else [outputs]:
        for choice in out["choices"]:
            index = choice["index"]
            _check_echo(choice, tokens[index], ctxlens[index])


def _check_echo(choice: dict, prompt: Any, ctxlen: int) -> None:
    logprobs = choice.get("logprobs")
    values = logprobs.get("token_logprobs") if isinstance(logprobs, dict) else None
    tops = logprobs.get("top_logprobs") if isinstance(logprobs, dict) else None
    if not isinstance(values, list) or not isinstance(tops, list):
        raise _malformed("an echo choice has no token_logprobs and top_logprobs lists")
    expected = len(prompt) + 1  # every prompt token (the first has no logprob), then the generated one
    if len(values) != expected or len(tops) != expected:
        raise _malformed(f"the server echoed {len(values)} token logprobs ({len(tops)} top logprobs) for a prompt "
                         f"of {len(prompt)} tokens; expected {expected} (each prompt token, then the generated one), "
                         "so its loglikelihoods would be wrong")
    for position in range(ctxlen, len(prompt)):
        value, top = values[position], tops[position]
        if not _finite(value) or not isinstance(top, dict) or not top or not all(map(_finite, top.values())):
            raise _malformed(f"the echoed logprob of continuation token {position} is not a finite number with "
                             f"its top logprobs (got {str(value)[:20]})")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _malformed(message: str) -> ResponseError:
    return ResponseError("malformed_response", message, retryable=True)
