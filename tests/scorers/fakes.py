"""Deterministic fakes for scorer unit tests: a scripted judge backend and a scripted rank model.

For tests of psm_eval's own logic only; behaviour of real models is tested on the model organism.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from psm_eval.backends import Capabilities, ModelSpec
from psm_eval.render import make_renderer
from psm_eval.score.scorers.judge import Judge
from psm_eval.types import GenRequest, LLRequest, ModelInfo, Outcome

__all__ = ["ScriptedBackend", "scripted_judge", "CharLM", "CharBackend"]


@dataclass
class ScriptedBackend:
    """A Backend whose replies are canned: the first rule whose regex matches the prompt text wins.
    A rule's reply None makes that request fail (an `http_error`)."""

    rules: Sequence[tuple[str, str | None]]
    default: str | None = "no verdict"
    info: ModelInfo = ModelInfo(model_type="scripted", accepts="text", supports_loglikelihood=False)
    prompts: list[str] = field(default_factory=list)
    closed: bool = False
    capabilities: Capabilities = Capabilities()

    def _reply(self, text: str) -> str | None:
        return next((reply for pattern, reply in self.rules if re.search(pattern, text, re.S)), self.default)

    def generate(self, requests: Sequence[GenRequest]) -> list[Outcome]:
        out = []
        for r in requests:
            text = r.prompt.text or ""
            self.prompts.append(text)
            reply = self._reply(text)
            out.append(Outcome(ok=True, output=reply, finish="stop") if reply is not None
                       else Outcome.failure("http_error", "scripted failure"))
        return out

    def loglikelihood(self, requests: Sequence[LLRequest]) -> list[Outcome]:
        return [Outcome.failure("unsupported", "scripted judge") for _ in requests]

    def fingerprint(self, digest_file: object = None) -> None:
        return None  # a fake is never cached

    def close(self) -> None:
        self.closed = True


def scripted_judge(rules: Sequence[tuple[str, str | None]], default: str | None = "no verdict") -> Judge:
    """A Judge over a ScriptedBackend, rendering with the plain transcript persona."""
    return Judge(backend=ScriptedBackend(list(rules), default), renderer=make_renderer("transcript:plain"),
                 spec="scripted render=transcript:plain")


class _Tok:
    def decode(self, ids: Sequence[int]) -> str:
        return "".join(chr(i) for i in ids)

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        return {"input_ids": [ord(c) for c in text]}


class _Out:
    def __init__(self, logits):
        self.logits = logits


class CharLM:
    """A character-level 'model': at continuation position i it ranks the characters of `prefers[i]`'s
    neighbourhood first — the preferred char at rank 1, then ascending code points after it."""

    tokenizer = _Tok()
    device = "cpu"

    def __init__(self, prefers: str, max_length: int = 4096):
        self.prefers = prefers
        self.max_length = max_length
        self._ctx = 0

    def tok_encode(self, context: str) -> list[int]:
        self._ctx = len(context)
        return [ord(c) for c in context]

    def model(self, ids):
        import torch

        n = ids.shape[1]
        logits = torch.zeros((1, n, 256))
        for pos in range(self._ctx - 1, n):
            i = pos - (self._ctx - 1)
            top = ord(self.prefers[i]) if i < len(self.prefers) else 0
            logits[0, pos] = -((torch.arange(256) - top) % 256).float()
        return _Out(logits)


@dataclass
class CharBackend:
    """An 'hf' backend around CharLM, for token_shift cases."""

    prefers: str
    info: ModelInfo = ModelInfo(model_type="hf", accepts="text")
    spec: ModelSpec = ModelSpec(type="hf", args={})

    def __post_init__(self) -> None:
        self.lm = CharLM(self.prefers)

    def close(self) -> None:
        pass
