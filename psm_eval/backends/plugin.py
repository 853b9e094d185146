"""The `psm-transcript` lm-eval model type: any lm-eval model, chat-templated by a psm_eval persona.

With it, `--apply_chat_template` on a base model renders every lm-eval task's dialogue through a
persona template (and adds the template's stop sequences), so any lm-eval task runs on a base
model in the assistant persona:

    psm-eval lm-eval run --model psm-transcript \
        --model_args backend=hf,pretrained=PATH,persona=icl --apply_chat_template --tasks TASK
    (URIAL: persona=urial,persona_prompt=inst_1k_v4.txt)

lm-eval 0.4.13 discovers no third-party model types, so the bare `lm_eval` command cannot see this
one; `psm-eval lm-eval ARGS` runs lm-eval's own CLI with it registered, and Python users
`import psm_eval.backends.plugin` before `lm_eval.simple_evaluate(model="psm-transcript", ...)`.
"""

from __future__ import annotations

import sys
from typing import Any

import lm_eval.models  # noqa: F401  (lm-eval fills its model table only while the registry is empty)
from lm_eval.api.model import LM
from lm_eval.api.registry import get_model, model_registry

from psm_eval.backends.ifeval import missing_module_line, missing_nltk_line, nltk_resource
from psm_eval.errors import BackendError
from psm_eval.render.transcript import PersonaTemplate, load_persona
from psm_eval.types import Turn

__all__ = ["PsmTranscriptLM", "register", "run_lm_eval_cli", "MODEL_NAME"]

MODEL_NAME = "psm-transcript"


class PsmTranscriptLM(LM):
    """Wraps `backend` (any lm-eval model type) and renders chats with the persona template."""

    def __init__(self, backend: str = "hf", persona: str = "assistant", persona_prompt: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__()
        if backend == MODEL_NAME:
            raise ValueError("psm-transcript cannot wrap itself; set backend=hf (or another model type)")
        # persona_prompt: the prompt file a persona such as `urial` renders (its published prompt text)
        self.persona: PersonaTemplate = load_persona(persona, persona_prompt)
        self.inner = get_model(backend).create_from_arg_obj(kwargs)

    # chat templating -----------------------------------------------------------------------

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        turns = [Turn(m["role"], m["content"]) for m in chat_history]  # type: ignore[arg-type]
        partial = None
        if not add_generation_prompt and turns and turns[-1].role == "assistant":
            partial = turns.pop().content  # lm-eval's gen_prefix: continue the assistant's message
        text = self.persona.render(turns).text or ""
        return text if partial is None else text + self.persona.answer_prefix + partial

    def chat_template(self, chat_template: bool | str = False) -> str:
        return self.persona.path.read_text(encoding="utf-8")

    @property
    def tokenizer_name(self) -> str:
        return f"psm-transcript-{self.persona.path.stem}-{self.persona.sha256[:12]}"

    # requests ------------------------------------------------------------------------------

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        for req in requests:
            context, kwargs = req.arguments[0], dict(req.arguments[1])
            until = kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            kwargs["until"] = list(dict.fromkeys([*until, *self.persona.stop]))
            req.arguments = (context, kwargs)
        return self.inner.generate_until(requests, disable_tqdm=disable_tqdm)

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        return self.inner.loglikelihood(requests, disable_tqdm=disable_tqdm)

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        return self.inner.loglikelihood_rolling(requests, disable_tqdm=disable_tqdm)


def register() -> None:
    """Add `psm-transcript` (and `psm-steered`) to lm-eval's model registry (idempotent)."""
    if MODEL_NAME not in model_registry:
        model_registry.register(MODEL_NAME)(PsmTranscriptLM)
    if "psm-steered" not in model_registry:  # backends/steer.py, imported when first used
        model_registry.register("psm-steered", target="psm_eval.backends.steer:PsmSteeredLM")


def run_lm_eval_cli(args: list[str]) -> int:
    """lm-eval's own CLI, unchanged, with psm_eval's model types registered. A package or nltk data file
    that a task needs and is not installed is one line saying what to install, not a traceback."""
    from lm_eval.__main__ import cli_evaluate

    register()
    sys.argv = ["lm-eval", *[a for a in args if a != "--"]]
    try:
        cli_evaluate()
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except ModuleNotFoundError as exc:
        raise BackendError(missing_module_line(exc.name or str(exc))) from None
    except LookupError as exc:
        resource = nltk_resource(str(exc))
        if resource is None:
            raise
        raise BackendError(missing_nltk_line(resource)) from None
    return 0


register()
