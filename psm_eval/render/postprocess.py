"""Clean-ups of a raw reply that a persona template declares in its header (`postprocess: [...]`),
carried on the Prompt, so that a reply is read the way the prompt's format intends. The raw reply
is kept as well; these functions are pure.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

from psm_eval.errors import RenderError

__all__ = ["POSTPROCESSORS", "postprocess", "strip_fences", "check_postprocess"]


def strip_fences(reply: str) -> str:
    """URIAL's answers are fenced in ```: its published clean-up deletes every ``` in the reply and
    strips the whitespace around what is left."""
    return reply.replace("```", "").strip()


POSTPROCESSORS: dict[str, Callable[[str], str]] = {"strip_fences": strip_fences}


def postprocess(reply: str, steps: Sequence[str]) -> str:
    """`reply` after each named clean-up in `steps`, in order (`Prompt.postprocess`)."""
    for step in steps:
        reply = POSTPROCESSORS[step](reply)
    return reply


def check_postprocess(steps: object, where: str) -> tuple[str, ...]:
    """A header's `postprocess` value as a tuple of known names; anything else is one RenderError line."""
    if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
        raise RenderError(f"{where}: header field 'postprocess' must be a list of names "
                          f"({', '.join(POSTPROCESSORS)})")
    for step in steps:
        if step not in POSTPROCESSORS:
            close = difflib.get_close_matches(step, list(POSTPROCESSORS), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(POSTPROCESSORS)}"
            raise RenderError(f"{where}: unknown postprocess step '{step}'; {hint}")
    return tuple(steps)
