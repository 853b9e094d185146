"""Transcript renderer: a persona template turns a dialogue into plain text for a base model.

Templates are Jinja2 files rendered in the sandbox worker (`sandbox.py`) with StrictUndefined.
Dialogue text reaches them only as variables, so it is never itself rendered as a template. Each
template starts with a `{#- psm ... -#}` YAML header declaring its stop sequences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import yaml

from psm_eval.errors import RenderError
from psm_eval.render import sandbox as sb
from psm_eval.types import ModelInfo, Prompt, Turn

__all__ = ["PersonaTemplate", "load_persona", "shipped_personas", "PERSONA_DIR", "sandbox", "MAX_PROMPT_CHARS",
           "MAX_TEMPLATE_BYTES"]

PERSONA_DIR = Path(__file__).parent / "personas"
MAX_PROMPT_CHARS, MAX_TEMPLATE_BYTES, sandbox = sb.MAX_PROMPT_CHARS, sb.MAX_TEMPLATE_BYTES, sb.sandbox
_HEADER = re.compile(r"\A\{#-?\s*psm\s*\n(?P<body>.*?)\n\s*-?#\}", re.S)
_PROBE = (Turn("system", "probe"), Turn("user", "probe"), Turn("assistant", "probe"), Turn("user", "probe"))


@dataclass(frozen=True)
class PersonaTemplate:
    """A loaded persona template and the metadata from its header."""

    name: str
    path: Path
    description: str
    stop: tuple[str, ...]
    answer_prefix: str
    sha256: str

    def render(self, turns: Sequence[Turn], model: ModelInfo | None = None) -> Prompt:
        """Render the dialogue so the text ends where the assistant's reply begins."""
        system = next((t.content for t in turns if t.role == "system"), None)
        messages = [{"role": t.role, "content": t.content} for t in turns if t.role != "system"]
        text = sb.render(f"persona template {self.path}", name=self.path.name, search=(self.path.parent, PERSONA_DIR),
                         messages=messages, system=system)
        bos = model.bos_token if model is not None and model.bos_token else ""
        return Prompt(text=bos + text, renderer="transcript", template=self.name, template_hash=self.sha256,
                      stop=self.stop, answer_prefix=self.answer_prefix)


def shipped_personas() -> list[str]:
    """Names of the persona templates that ship with psm_eval."""
    return sorted(p.stem for p in PERSONA_DIR.glob("*.j2") if not p.name.startswith("_"))


def load_persona(ref: str) -> PersonaTemplate:
    """A shipped persona by name (`urial`) or a user's template by path (`my/persona.j2`)."""
    path = Path(ref)
    if not (path.suffix == ".j2" or "/" in ref or path.is_file()):
        path = PERSONA_DIR / f"{ref}.j2"
        if not path.is_file():
            import difflib

            close = difflib.get_close_matches(ref, shipped_personas(), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; shipped: {', '.join(shipped_personas())}"
            raise RenderError(f"unknown persona template '{ref}'{hint}")
    return _load(path.resolve())


@lru_cache(maxsize=64)
def _load(path: Path) -> PersonaTemplate:
    if not path.is_file():
        raise RenderError(f"persona template {path} not found")
    if path.stat().st_size > MAX_TEMPLATE_BYTES:
        raise RenderError(f"persona template {path} is larger than {MAX_TEMPLATE_BYTES} bytes")
    header = _HEADER.match(path.read_text(encoding="utf-8"))
    if header is None:
        raise RenderError(f"persona template {path}: must start with a '{{#- psm ... -#}}' header declaring 'stop'")
    meta_data = _header(header.group("body"), path)
    digest = sb.load(path.name, (path.parent, PERSONA_DIR), f"persona template {path}")
    persona = PersonaTemplate(name=path.stem if path.parent == PERSONA_DIR else str(path), path=path,
                              description=meta_data["description"], stop=meta_data["stop"],
                              answer_prefix=meta_data["answer_prefix"], sha256=digest)
    persona.render(_PROBE)  # refuse a broken or unsafe template at load time, not mid-run
    return persona


def _header(body: str, path: Path) -> dict:
    try:
        data = yaml.safe_load(body) or {}
    except yaml.YAMLError as exc:
        raise RenderError(f"persona template {path}: header is not valid YAML: {sb.one_line(exc)}") from None
    if not isinstance(data, dict) or set(data) - {"description", "stop", "answer_prefix"}:
        raise RenderError(f"persona template {path}: header keys are description, stop, answer_prefix")
    stop = data.get("stop")
    if not isinstance(stop, list) or not stop or not all(isinstance(s, str) and s for s in stop):
        raise RenderError(f"persona template {path}: header field 'stop' must be a non-empty list of strings")
    prefix = data.get("answer_prefix", " ")
    if not isinstance(prefix, str):
        raise RenderError(f"persona template {path}: header field 'answer_prefix' must be a string")
    return {"description": str(data.get("description", "")), "stop": tuple(stop), "answer_prefix": prefix}
