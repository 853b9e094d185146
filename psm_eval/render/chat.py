"""Chat renderer: a dialogue through the model's own chat template (or one the user names).

A chat renderer on a model without a chat template is refused, never silently replaced by a
transcript: that is the base-model/chat-template pitfall psm_eval exists to make explicit. A named
template renders exactly as transformers' `apply_chat_template(..., add_generation_prompt=True)`
would render it for this model (same Jinja options, filters, globals and variables), but in the
sandbox worker, within its limits: it is text a user supplied.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from psm_eval.errors import RenderError
from psm_eval.render import sandbox as sb
from psm_eval.types import ModelInfo, Prompt, Turn

__all__ = ["ChatRenderer", "template_variables"]


@dataclass(frozen=True)
class ChatRenderer:
    """Renders with the model's chat template, or with `template` (a Jinja file) when given."""

    template: Path | None = None

    def render(self, turns: Sequence[Turn], model: ModelInfo) -> Prompt:
        messages = [{"role": t.role, "content": t.content} for t in turns]
        if self.template is not None:
            return self._named(messages, model)
        if model.accepts == "messages":
            return Prompt(messages=tuple(messages), renderer="chat", template="server",
                          template_hash="", answer_prefix="")
        if not model.chat_template or model.apply_chat_template is None:
            raise RenderError(
                f"model ({model.model_type}) has no chat template: render a base model with "
                "'render=transcript:<persona>', or name a template with 'render=chat:template=PATH'")
        try:
            text = model.apply_chat_template(messages)
        except jinja2.exceptions.TemplateError as exc:
            raise RenderError(f"the model's chat template failed: {type(exc).__name__}: {exc}") from None
        return Prompt(text=text, renderer="chat", template="model", template_hash=_sha(model.chat_template),
                      answer_prefix="")

    def _named(self, messages: list[dict], model: ModelInfo) -> Prompt:
        assert self.template is not None
        path = self.template.resolve()
        if model.accepts == "messages":
            raise RenderError(f"chat template {path} cannot be applied: this model type takes chat messages "
                              "and its server applies its own template")
        source = _read(path)
        text = sb.render(f"chat template {path}", source=source, **template_variables(messages, model))
        return Prompt(text=text, renderer="chat", template=str(path), template_hash=_sha(source), answer_prefix="")


def template_variables(messages: list[dict], model: ModelInfo) -> dict[str, Any]:
    """What transformers hands a chat template: the messages, no tools or documents, the generation
    prompt, and the tokenizer's named special tokens (`bos_token`, `eos_token`, `pad_token`, ...)."""
    # the tokenizer's special_tokens_map, from the backend probe; without a tokenizer only the BOS is known
    special = dict(model.special_tokens) or ({"bos_token": model.bos_token} if model.bos_token else {})
    return {"messages": messages, "tools": None, "documents": None, "add_generation_prompt": True, **special}


def _read(path: Path) -> str:
    if not path.is_file():
        raise RenderError(f"chat template {path} not found")
    if path.stat().st_size > sb.MAX_TEMPLATE_BYTES:
        raise RenderError(f"chat template {path} is larger than {sb.MAX_TEMPLATE_BYTES} bytes")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RenderError(f"chat template {path} is not UTF-8 text: {exc}") from None


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
