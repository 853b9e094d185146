"""Conformance probe for servers that score continuations from echoed prompt logprobs.

Some OpenAI-compatible servers return the echoed prompt's `token_logprobs` off by one position,
and every loglikelihood then silently scores the wrong tokens. The probe asks seven loglikelihoods
once per arm and refuses the arm when either shift shows:

- token i carries token i+1's logprob (llama.cpp's server): the chain rule breaks. For a context c
  and continuations a, b a faithful server gives ll(c, a+b) = ll(c, a) + ll(c+a, b); under this
  shift the two sides differ by lp(b₁ | c+a) − max lp(· | c+a), which is large when b is unlikely.
- token i carries token i−1's logprob: the chain rule still holds (every window just moves one
  token left), but a continuation's last token never counts. The one-token continuations '.', ',',
  '?', '!' after the same text then all score that text's last token, so they are equal; a
  faithful server gives the logprobs of four different tokens. This needs each ending to be one
  token of its own after the same tokens; byte-level BPE tokenizers (GPT-2's, tiktoken's) split
  trailing punctuation off before merging, and `endings_are_tokens` checks the arm's tokenizer.
  Where it merges an ending into the word before (lm-eval would then score an empty continuation,
  0.0, for each), this check is skipped and only the chain rule runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from psm_eval.errors import BackendError

__all__ = ["check_echo_logprobs", "endings_are_tokens", "probe_pairs", "ECHO_TYPES", "ENDING_TOLERANCE"]

# model types whose loglikelihood comes from a server's echoed prompt logprobs
ECHO_TYPES = frozenset({"local-completions"})
CONTEXT, FIRST, SECOND = "The quick brown fox jumps over the", " lazy dog", " purple elephant"
ENDINGS = (".", ",", "?", "!")
PROBE_PAIRS = ((CONTEXT, FIRST + SECOND), (CONTEXT, FIRST), (CONTEXT + FIRST, SECOND),
               *((CONTEXT + FIRST + SECOND, ending) for ending in ENDINGS))

# Under the i−1 shift the four endings score the same logprob: one position of one token
# sequence, so they differ only by a server's run-to-run noise: 0 on a deterministic server, of the
# order of 0.01 where a changing batch composition moves bf16 rounding. A faithful model would have to
# give '.', ',', '?' and '!' logprobs within 0.02 of each other to be refused. Trained models
# separate them by nats; an untrained model's logprobs spread like its logits (σ ≈ 0.1 for a
# random-init tiny model), and four such values fall within 0.02 about once in a thousand.
ENDING_TOLERANCE = 0.02


def probe_pairs(bos: str = "") -> list[tuple[str, str]]:
    """The (context, continuation) pairs to score, in the order `check_echo_logprobs` reads them."""
    return [(bos + c, x) for c, x in PROBE_PAIRS]


def endings_are_tokens(encode: Callable[[str], list[int]]) -> bool:
    """Whether `encode` (the arm's tokenizer) makes each ending one more token after the same ones."""
    text = CONTEXT + FIRST + SECOND
    base = encode(text)
    extended = [encode(text + ending) for ending in ENDINGS]
    return all(len(ids) == len(base) + 1 and ids[:-1] == base for ids in extended)


def check_echo_logprobs(scores: Sequence[tuple[float, bool]], model: str, last_token: bool = True) -> None:
    """Raise BackendError unless the server's loglikelihoods of `probe_pairs()` obey the chain
    rule (to a tolerance that admits numeric noise between forward passes of different lengths)
    and, when `last_token` (see `endings_are_tokens`), depend on a continuation's last token: the
    four endings spread more than ENDING_TOLERANCE."""
    whole, first, second, *ends = values = [float(ll) for ll, _ in scores]
    if not all(math.isfinite(v) for v in values):  # NaN would pass both checks below (comparisons are false)
        raise BackendError(f"model '{model}': the server's echoed prompt logprobs fail the conformance probe "
                           f"(non-finite loglikelihoods {values}); this arm is refused")
    if abs(whole - (first + second)) > 0.05 + 0.001 * abs(whole):
        _refuse(model, f"ll(c, a+b) = {whole:.3f} but ll(c, a) + ll(c+a, b) = {first + second:.3f}",
                "token i carries token i+1's logprob, as llama.cpp's server returns them")
    if last_token and max(ends) - min(ends) <= ENDING_TOLERANCE:
        endings = ", ".join(f"'{e}'" for e in ENDINGS)
        low, high = f"{min(ends):.3f}", f"{max(ends):.3f}"
        _refuse(model, f"the one-token continuations {endings} after the same text all score "
                f"{low if low == high else f'{low} to {high}'}, so a continuation's last token does not count",
                "token i carries token i−1's logprob")


def _refuse(model: str, observed: str, shift: str) -> None:
    raise BackendError(
        f"model '{model}': the server's echoed prompt logprobs fail the conformance probe ({observed}); "
        f"they look shifted by one token ({shift}) — its loglikelihoods would be wrong, so this arm is "
        "refused; use a server that echoes prompt logprobs correctly (e.g. vLLM) or a local hf arm")
