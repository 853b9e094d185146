"""Transcript renderer: a persona template turns a dialogue into plain text for a base model.

Persona templates are Jinja2 files rendered in the sandbox worker (`sandbox.py`) with StrictUndefined;
dialogue text reaches them only as variables (`messages`, `system`), never as template source. Each
starts with a `{#- psm ... -#}` YAML header:

    description: one line for `psm-eval personas`
    stop: ["\\nUser:"]          what ends the assistant's turn (required)
    answer_prefix: " "          what precedes an answer continuation (default " ")
    prompt: required            the template renders a prompt file the user names,
                                `transcript:NAME:prompt=PATH`, as the variable `prompt` (plain text)
    postprocess: [strip_fences] clean-ups of the raw reply (`postprocess.py`), carried on the Prompt
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from psm_eval.errors import RenderError
from psm_eval.render import sandbox as sb
from psm_eval.render.postprocess import check_postprocess
from psm_eval.types import ModelInfo, Prompt, Turn

__all__ = ["PersonaTemplate", "load_persona", "shipped_personas", "missing_prompt", "PERSONA_DIR", "sandbox",
           "MAX_PROMPT_CHARS", "MAX_TEMPLATE_BYTES"]

PERSONA_DIR = Path(__file__).parent / "personas"
MAX_PROMPT_CHARS, MAX_TEMPLATE_BYTES, sandbox = sb.MAX_PROMPT_CHARS, sb.MAX_TEMPLATE_BYTES, sb.sandbox
_HEADER = re.compile(r"\A\{#-?\s*psm\s*\n(?P<body>.*?)\n\s*-?#\}", re.S)
_HEADER_KEYS = ("description", "stop", "answer_prefix", "prompt", "postprocess")
_PROBE = (Turn("system", "probe"), Turn("user", "probe"), Turn("assistant", "probe"), Turn("user", "probe"))
_RENAMED = {"urial": "icl"}  # shipped personas whose old form now has another name


@dataclass(frozen=True)
class PersonaTemplate:
    """A loaded persona template, the metadata from its header and, when it takes one, its prompt file."""

    name: str
    path: Path
    description: str
    stop: tuple[str, ...]
    answer_prefix: str
    sha256: str
    """Of the template, every template it includes, and the prompt file's text."""
    postprocess: tuple[str, ...] = ()
    needs_prompt: bool = False
    prompt: str | None = None
    """The prompt file's text, for a template whose header says `prompt: required`."""

    def render(self, turns: Sequence[Turn], model: ModelInfo | None = None) -> Prompt:
        """Render the dialogue so the text ends where the assistant's reply begins."""
        if self.needs_prompt and self.prompt is None:
            raise RenderError(missing_prompt(self.name))
        system = next((t.content for t in turns if t.role == "system"), None)
        messages = [{"role": t.role, "content": t.content} for t in turns if t.role != "system"]
        extra = {} if self.prompt is None else {"prompt": self.prompt}
        text = sb.render(f"persona template {self.path}", name=self.path.name, search=(self.path.parent, PERSONA_DIR),
                         messages=messages, system=system, **extra)
        bos = model.bos_token if model is not None and model.bos_token else ""
        return Prompt(text=bos + text, renderer="transcript", template=self.name, template_hash=self.sha256,
                      stop=self.stop, answer_prefix=self.answer_prefix, postprocess=self.postprocess)


def shipped_personas() -> list[str]:
    """Names of the persona templates that ship with psm_eval."""
    return sorted(p.stem for p in PERSONA_DIR.glob("*.j2") if not p.name.startswith("_"))


def load_persona(ref: str, prompt: str | Path | None = None) -> PersonaTemplate:
    """A shipped persona by name (`icl`) or a user's template by path (`my/persona.j2`), with the
    prompt file it renders when its header says `prompt: required` (`urial` + `inst_1k_v4.txt`)."""
    path = Path(ref)
    if not (path.suffix == ".j2" or "/" in ref or path.is_file()):
        path = PERSONA_DIR / f"{ref}.j2"
        if not path.is_file():
            close = difflib.get_close_matches(ref, shipped_personas(), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; shipped: {', '.join(shipped_personas())}"
            raise RenderError(f"unknown persona template '{ref}'{hint}")
    persona = _load(path.resolve())
    if prompt is None:
        return persona
    if not persona.needs_prompt:
        raise RenderError(f"persona template '{persona.name}' takes no prompt file (its header has no "
                          "'prompt: required'); drop ':prompt=...'")
    return _with_prompt(persona, Path(prompt).resolve())


@lru_cache(maxsize=64)
def _load(path: Path) -> PersonaTemplate:
    if not path.is_file():
        raise RenderError(f"persona template {path} not found")
    if path.stat().st_size > MAX_TEMPLATE_BYTES:
        raise RenderError(f"persona template {path} is larger than {MAX_TEMPLATE_BYTES} bytes")
    header = _HEADER.match(path.read_text(encoding="utf-8"))
    if header is None:
        raise RenderError(f"persona template {path}: must start with a '{{#- psm ... -#}}' header declaring 'stop'")
    meta = _header(header.group("body"), path)
    digest = sb.load(path.name, (path.parent, PERSONA_DIR), f"persona template {path}")
    persona = PersonaTemplate(name=path.stem if path.parent == PERSONA_DIR else str(path), path=path, sha256=digest,
                              **meta)
    # refuse a broken or unsafe template at load time, not mid-run (a prompt file is plain text: any will do)
    dataclasses.replace(persona, prompt="probe" if persona.needs_prompt else None).render(_PROBE)
    return persona


@lru_cache(maxsize=64)
def _with_prompt(persona: PersonaTemplate, path: Path) -> PersonaTemplate:
    if not path.is_file():
        raise RenderError(f"prompt file {path} not found (persona template '{persona.name}')")
    if path.stat().st_size > MAX_TEMPLATE_BYTES:
        raise RenderError(f"prompt file {path} is larger than {MAX_TEMPLATE_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RenderError(f"prompt file {path} is not UTF-8 text: {exc}") from None
    digest = hashlib.sha256(f"{persona.sha256}\x00{text}".encode("utf-8", "surrogatepass")).hexdigest()
    return dataclasses.replace(persona, name=f"{persona.name}:prompt={path}", sha256=digest, prompt=text)


def missing_prompt(name: str) -> str:
    """The one-line message for a persona template used without the prompt file it renders."""
    renamed = (f"; the short instruction + examples prompt that was called '{name}' is now "
               f"'transcript:{_RENAMED[name]}'") if name in _RENAMED else ""
    return (f"persona template '{name}' renders a prompt file you name: use render=transcript:{name}:prompt=PATH"
            f"{renamed}")


def _header(body: str, path: Path) -> dict:
    try:
        data = yaml.safe_load(body) or {}
    except yaml.YAMLError as exc:
        raise RenderError(f"persona template {path}: header is not valid YAML: {sb.one_line(exc)}") from None
    if not isinstance(data, dict) or set(data) - set(_HEADER_KEYS):
        raise RenderError(f"persona template {path}: header keys are {', '.join(_HEADER_KEYS)}")
    stop = data.get("stop")
    if not isinstance(stop, list) or not stop or not all(isinstance(s, str) and s for s in stop):
        raise RenderError(f"persona template {path}: header field 'stop' must be a non-empty list of strings")
    # each a string, never str() of whatever YAML built: aliases can nest a value exponentially wide
    description, prefix = data.get("description", ""), data.get("answer_prefix", " ")
    if not isinstance(description, str) or not isinstance(prefix, str):
        raise RenderError(f"persona template {path}: header fields 'description' and 'answer_prefix' must be strings")
    if data.get("prompt", "none") not in ("required", "none"):
        raise RenderError(f"persona template {path}: header field 'prompt' is 'required' (or absent)")
    return {"description": description, "stop": tuple(stop), "answer_prefix": prefix,
            "needs_prompt": data.get("prompt") == "required",
            "postprocess": check_postprocess(data.get("postprocess", []), f"persona template {path}")}
