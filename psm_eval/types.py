"""psm_eval's own data types: dialogues, samples, prompts, requests and their stored records.

Everything outside `psm_eval/backends/` speaks these types, never lm-eval's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Role",
    "Turn",
    "Sample",
    "Prompt",
    "ModelInfo",
    "GenRequest",
    "LLRequest",
    "Outcome",
]

Role = Literal["system", "user", "assistant"]
RequestKind = Literal["generate", "loglikelihood"]


@dataclass(frozen=True)
class Turn:
    """One message of a dialogue."""

    role: Role
    """Who speaks: `system`, `user` or `assistant`."""
    content: str
    """The message text, verbatim from the data (never a template)."""


@dataclass(frozen=True)
class Sample:
    """One evaluation item of a task, with a stable id."""

    id: str
    """Stable id: from the data's id field, or a content hash (never the row order)."""
    task: str
    """Name of the task the sample belongs to."""
    turns: tuple[Turn, ...]
    """The dialogue; user turns drive generation, assistant turns are gold history."""
    references: tuple[str, ...] = ()
    """Accepted reference answers (may be empty)."""
    choices: tuple[str, ...] = ()
    """Answer options for multiple-choice samples (scored by loglikelihood)."""
    gold: int | None = None
    """Index of the correct choice, for multiple-choice samples."""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """Extra fields copied from the data (category, trait …), JSON-safe."""
    cluster: str | None = None
    """The independent unit the sample belongs to (the fact a paraphrase asks about), from the task's
    `fields.cluster`; None: the sample is its own unit. Every interval and test resamples clusters."""

    def user_turn_indices(self) -> list[int]:
        """Positions of the user turns, in order."""
        return [i for i, t in enumerate(self.turns) if t.role == "user"]


@dataclass(frozen=True)
class Prompt:
    """Exactly what is sent to a model: plain text, or a list of chat messages for chat APIs."""

    text: str | None = None
    """Rendered prompt text (transcript renderer, or a chat template applied locally)."""
    messages: tuple[Mapping[str, str], ...] | None = None
    """Chat messages, when the server applies the model's chat template itself."""
    renderer: str = ""
    """`transcript` or `chat`."""
    template: str = ""
    """Persona template name, or `model` for the model's own chat template."""
    template_hash: str = ""
    """sha256 of the template source that produced this prompt."""
    stop: tuple[str, ...] = ()
    """Stop sequences that end the assistant's turn for this rendering."""
    answer_prefix: str = ""
    """What precedes an answer continuation (e.g. a space after `Assistant:`)."""
    postprocess: tuple[str, ...] = ()
    """Named clean-ups the reply gets before scoring (`render/postprocess.py`), as the persona
    template's header declares them, e.g. `("strip_fences",)`."""

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"text": self.text} if self.text is not None else {
            "messages": [dict(m) for m in self.messages or ()]
        }
        extra = {"postprocess": list(self.postprocess)} if self.postprocess else {}  # older records stay identical
        return {
            **body,
            "renderer": self.renderer,
            "template": self.template,
            "template_hash": self.template_hash,
            "stop": list(self.stop),
            **extra,
        }


@dataclass(frozen=True)
class ModelInfo:
    """What the renderers may know about a model, provided by its backend."""

    model_type: str
    """lm-eval model type (`hf`, `local-chat-completions` …)."""
    accepts: Literal["text", "messages"]
    """Whether prompts are sent as text or as chat messages (the server renders them)."""
    bos_token: str | None = None
    """BOS token text the prompt must start with exactly once, when the model uses one."""
    chat_template: str | None = None
    """The model's own chat template source, or None when it has none."""
    supports_loglikelihood: bool = True
    """Whether the backend can score continuations."""
    apply_chat_template: Any = None
    """Callable(messages) -> str applying the model's template (hf), or None."""
    special_tokens: Mapping[str, str] = field(default_factory=dict)
    """The tokenizer's named special tokens (`bos_token`, `eos_token`, …), as chat templates see them."""


@dataclass(frozen=True)
class GenRequest:
    """One `generate_until` request."""

    key: str
    prompt: Prompt
    max_gen_toks: int
    temperature: float
    until: tuple[str, ...]
    seed: int
    top_p: float | None = None
    look_past: int = 0
    """Tokens to generate past the stop, to see what the model would have written next (in-process models)."""


@dataclass(frozen=True)
class LLRequest:
    """One multiple-continuation loglikelihood request (all choices of one sample)."""

    key: str
    prompt: Prompt
    continuations: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    """What a backend returned for one request: a result, or a failure with its kind."""

    ok: bool
    output: str | None = None
    """Generated text (generate requests)."""
    logprobs: tuple[tuple[float, bool], ...] | None = None
    """(loglikelihood, is_greedy) per continuation (loglikelihood requests)."""
    finish: Literal["stop", "length"] | None = None
    """Why generation ended, where the backend can tell."""
    error_kind: str | None = None
    """Failure family: `context_too_long`, `http_error`, `empty_response`, `backend_error` …"""
    error: str | None = None
    """One-line failure message (secrets redacted)."""
    attempts: int = 1
    capped_from: int | None = None
    """The reply's length in characters before it was cut to the stored-reply cap; None: stored whole."""
    cached: bool = False
    """Served from the response cache."""
    stop_sequence: str | None = None
    """What ended the reply: the stop sequence that fired, or the end-of-sequence token's text; None when
    it ran to max_gen_toks or the backend cannot tell."""
    raw_output: str | None = None
    """The reply decoded with special tokens kept (control tokens visible), where that differs."""
    after_stop: str | None = None
    """What the model went on to write past the stop (`generation.look_past_stop` tokens)."""

    @staticmethod
    def failure(kind: str, message: str, attempts: int = 1) -> Outcome:
        return Outcome(ok=False, error_kind=kind, error=message, attempts=attempts)
