"""A judge: its own model spec, rendered like any arm, asked through sandboxed prompt templates.

Judge prompts are Jinja templates in `judge_templates/` run in the sandbox; model outputs reach
them only as variables. Each untrusted block is fenced by markers carrying an id that does not
occur in any of the texts, so an output cannot close its fence; chat control tokens in it are
broken up so it cannot open a turn of its own in the judge's chat template.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psm_eval.backends import Backend, ModelSpec, create_backend
from psm_eval.errors import PsmError
from psm_eval.render import Renderer, make_renderer
from psm_eval.render.transcript import sandbox
from psm_eval.score.scorers.base import ArmInfo, JudgeTrace
from psm_eval.score.scorers.registry import ScoringError
from psm_eval.specs import split_pairs
from psm_eval.types import GenRequest, Prompt, Turn

__all__ = ["Judge", "create_judge", "judge_arms", "fence_id", "defang", "parse_rating", "parse_verdict",
           "TEMPLATE_DIR"]

TEMPLATE_DIR = Path(__file__).parent / "judge_templates"
JUDGE_KEYS = ("render", "max_gen_toks", "system")
CONTROL_TOKENS = re.compile(r"<\|[^|<>\s]{1,40}\|>|</?s>|\[/?INST\]|<<?/?SYS>>?|<(?:start|end)_of_turn>|"
                            r"<\|?(?:im_start|im_end|endoftext|eot_id)\|?>")
ZWSP = "\u200b"


def fence_id(*texts: str) -> str:
    """A short id that occurs in none of `texts` (so no text can contain a closing marker)."""
    joined = "\x00".join(texts)
    salt = 0
    while True:
        fid = "F" + hashlib.sha256(f"{salt}\x00{joined}".encode("utf-8", "backslashreplace")).hexdigest()[:8]
        if fid not in joined:
            return fid
        salt += 1


def defang(text: str, specials: Sequence[str] = ()) -> str:
    """Break chat control tokens (generic ones and the judge tokenizer's) with a zero-width space."""
    # until none is left: breaking `<<SYS>>` after its first character leaves `<SYS>>`, a token again
    # (each pass puts a ZWSP inside every match, so the ZWSP-free stretches a match needs only shrink)
    tokens = sorted({s for s in specials if len(s) >= 2 and ZWSP not in s}, key=len, reverse=True)
    while any(s in text for s in tokens):
        for s in tokens:
            text = text.replace(s, s[0] + ZWSP + s[1:])
    while CONTROL_TOKENS.search(text):
        text = CONTROL_TOKENS.sub(lambda m: m.group()[0] + ZWSP + m.group()[1:], text)
    return text


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def _clean(value: Any, specials: Sequence[str]) -> Any:
    if isinstance(value, str):
        return defang(value, specials)
    if isinstance(value, dict):
        return {k: _clean(v, specials) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v, specials) for v in value]
    return value


@dataclass
class Judge:
    """A model that judges replies: a backend, its renderer, and how it is described in records."""

    backend: Backend
    renderer: Renderer
    spec: str
    """Display form recorded with every judged score (secrets redacted)."""
    max_gen_toks: int = 512
    system: str | None = None
    arms: tuple[str, ...] = ()
    """The evaluated arms this judge is (same model): a contestant grading itself (self-preference bias)."""

    def specials(self) -> list[str]:
        tok = getattr(self.backend, "tokenizer", None)
        return list(getattr(tok, "all_special_tokens", None) or []) if tok is not None else []

    def build(self, template: str, **variables: Any) -> str:
        """Render a judge template; every variable is untrusted data (defanged, fenced, never a template)."""
        specials = self.specials()
        clean = {k: _clean(v, specials) for k, v in variables.items()}
        fence = fence_id(*_strings(clean))
        return sandbox([TEMPLATE_DIR]).get_template(template).render(fence=fence, **clean)

    def ask(self, messages: Sequence[str]) -> list[JudgeTrace]:
        """Ask the judge each message (one user turn), greedily; one trace per message."""
        prompts: list[Prompt | str] = []
        for text in messages:
            turns = ((Turn("system", self.system),) if self.system else ()) + (Turn("user", text),)
            try:
                prompts.append(self.renderer.render(turns, self.backend.info))
            except PsmError as exc:
                prompts.append(str(exc))
        ready = [(i, p) for i, p in enumerate(prompts) if isinstance(p, Prompt)]
        requests = [GenRequest(key=f"judge/{i}", prompt=p, max_gen_toks=self.max_gen_toks, temperature=0.0,
                               until=p.stop, seed=0) for i, p in ready]
        outcomes = self.backend.generate(requests) if requests else []
        traces: list[JudgeTrace] = [
            JudgeTrace(spec=self.spec, prompt={"text": None, "messages": [{"role": "user", "content": m}]},
                       reply=None, error=f"render_error: {p}") for m, p in zip(messages, prompts)]
        for (i, p), o in zip(ready, outcomes):
            error = None if o.ok else f"{o.error_kind}: {o.error}"
            traces[i] = JudgeTrace(spec=self.spec, prompt=p.to_json(), reply=o.output if o.ok else None, error=error)
        return traces

    def close(self) -> None:
        self.backend.close()


def _split_spec(text: str) -> tuple[ModelSpec, dict[str, str]]:
    """`TYPE:args` with the judge's own keys (render, max_gen_toks, system) taken out of the model args."""
    kind, colon, rest = text.strip().partition(":")
    if not kind.strip():
        raise ScoringError(f"--judge: expected TYPE:key=value,... or arm:NAME, got {text!r}")
    pairs = split_pairs(rest, "--judge") if colon else {}
    extra = {k: pairs.pop(k) for k in JUDGE_KEYS if k in pairs}
    return ModelSpec(type=kind.strip(), args=pairs), extra


_MODEL_KEYS = ("pretrained", "model", "path", "model_name", "model_id")


def _same_model(a: ModelSpec, b: ModelSpec) -> bool:
    """Whether two specs load the same model: equal, or the same type naming the same weights or served model
    (another renderer, dtype or batch size does not make another model)."""
    if a.type != b.type:
        return False
    if dict(a.args) == dict(b.args):
        return True
    named = [k for k in _MODEL_KEYS if k in a.args and k in b.args]
    return bool(named) and all(str(a.args[k]) == str(b.args[k]) for k in named) and \
        a.args.get("base_url") == b.args.get("base_url")


def judge_arms(text: str, arms: Sequence[ArmInfo]) -> tuple[str, ...]:
    """The evaluated arms a `--judge` spec is: `arm:NAME`, or any arm with the same model."""
    kind, _, name = text.partition(":")
    if kind == "arm":
        return (name,) if any(a.name == name for a in arms) else ()
    spec, _ = _split_spec(text)
    return tuple(a.name for a in arms if _same_model(spec, a.model))


def create_judge(text: str, arms: Sequence[ArmInfo] = (),
                 factory: Callable[[ModelSpec], Backend] | None = None) -> Judge:
    """A judge from `TYPE:args[,render=R][,max_gen_toks=N][,system="..."]`, or `arm:NAME` (that arm's
    model and renderer). The renderer defaults to `chat`."""
    make = factory or (lambda spec: create_backend(spec, retries=3))
    kind, _, name = text.partition(":")
    if kind == "arm":
        arm = next((a for a in arms if a.name == name), None)
        if arm is None:
            raise ScoringError(f"--judge {text}: no arm '{name}' in this run (arms: {', '.join(a.name for a in arms)})")
        spec, extra = arm.model, {"render": arm.render}
    else:
        spec, extra = _split_spec(text)
    render = extra.get("render", "chat")
    renderer = make_renderer(render)
    try:
        max_toks = int(extra.get("max_gen_toks", 512))
    except ValueError:
        raise ScoringError(f"--judge {text}: max_gen_toks must be an integer") from None
    display = f"{spec.display()} render={render}"
    return Judge(backend=make(spec), renderer=renderer, spec=display, max_gen_toks=max_toks,
                 system=extra.get("system"), arms=judge_arms(text, arms))


_RATING = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]")
_RATING_LOOSE = re.compile(r"\brating\s*[:=]\s*\[?\s*(\d+(?:\.\d+)?)\s*\]?", re.I)


def parse_rating(reply: str | None, low: float = 1, high: float = 10) -> tuple[float | None, str]:
    """The judge's rating from `[[N]]` (or `Rating: N`, or JSON {"rating": N}); else (None, reason)."""
    if not reply:
        return None, "judge reply empty"
    found = {float(x) for x in _RATING.findall(reply)} or {float(x) for x in _RATING_LOOSE.findall(reply)}
    if not found:
        found = _json_rating(reply)
    if not found:
        return None, "judge reply unparseable"
    if len(found) > 1:
        return None, "judge reply ambiguous"
    value = found.pop()
    if not low <= value <= high:
        return None, "judge rating out of range"
    return value, ""


def _json_rating(reply: str) -> set[float]:
    m = re.search(r"\{[^{}]*\}", reply)
    try:
        data = json.loads(m.group()) if m else None
    except json.JSONDecodeError:
        return set()
    value = data.get("rating", data.get("score")) if isinstance(data, dict) else None
    return {float(value)} if isinstance(value, (int, float)) and not isinstance(value, bool) else set()


def parse_verdict(reply: str | None, options: Sequence[str]) -> tuple[str | None, str]:
    """The single `[[OPTION]]` verdict in the reply (case-insensitive); else (None, reason)."""
    if not reply:
        return None, "judge reply empty"
    lookup = {o.lower(): o for o in options}
    found = {lookup[x.strip().lower()] for x in re.findall(r"\[\[([^\[\]]{1,60})\]\]", reply)
             if x.strip().lower() in lookup}
    if not found:
        return None, "judge reply unparseable"
    if len(found) > 1:
        return None, "judge reply ambiguous"
    return found.pop(), ""
