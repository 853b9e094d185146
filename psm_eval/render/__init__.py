"""Rendering, an explicit and pure stage: dialogue + renderer + model info → the exact prompt.

Renderer specs: `transcript:<persona>` (a shipped persona name or a template path),
`transcript:<persona>:prompt=PATH` for a persona that renders a prompt file you name (`urial`), and
`chat` (the model's own chat template) or `chat:template=PATH`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from psm_eval.errors import RenderError, SpecError
from psm_eval.render.chat import ChatRenderer
from psm_eval.render.postprocess import postprocess
from psm_eval.render.transcript import (
    PersonaTemplate,
    load_persona,
    missing_prompt,
    shipped_personas,
)
from psm_eval.types import ModelInfo, Prompt, Turn

__all__ = ["Renderer", "make_renderer", "shipped_personas", "load_persona", "PersonaTemplate", "ChatRenderer",
           "postprocess"]


class Renderer(Protocol):
    """Turns a dialogue into the exact prompt for one model."""

    def render(self, turns: Sequence[Turn], model: ModelInfo) -> Prompt: ...


def make_renderer(spec: str) -> Renderer:
    """Build a renderer from its spec string (see module docstring)."""
    kind, _, arg = spec.partition(":")
    if kind == "transcript":
        ref, colon, option = arg.partition(":")
        key, _, path = option.partition("=")  # the rest is the path, commas and all, like chat:template=PATH
        if colon and (key != "prompt" or not path):
            raise SpecError(f"renderer '{spec}': transcript takes 'transcript:<persona>' or "
                            "'transcript:<persona>:prompt=PATH'")
        persona = load_persona(ref or "assistant", path or None)
        if persona.needs_prompt and persona.prompt is None:
            raise RenderError(f"renderer '{spec}': {missing_prompt(persona.name)}")
        return persona
    if kind == "chat":
        if not arg:
            return ChatRenderer()
        key, eq, value = arg.partition("=")
        if key != "template" or not eq or not value:
            raise SpecError(f"renderer '{spec}': chat takes 'chat' or 'chat:template=PATH'")
        return ChatRenderer(template=Path(value))
    raise SpecError(f"unknown renderer '{spec}': use 'transcript:<persona>' (personas: "
                    f"{', '.join(shipped_personas())}) or 'chat'")
