"""Per-token ranks of a continuation under an hf model: the token distribution shift analysis (URIAL).

One forward pass per (context, continuation): for each continuation token, its rank among the base
model's next-token logits (1 = the model's own top choice) and its log-probability. Given also the
post-trained model and the context it answered in, one more forward pass gives its own distribution at
each position, and with it the KL divergence KL(P_post || P_base) over the full vocabulary and the
overlap of the two top-k token sets — the per-position comparisons of Lin et al.'s analysis (AlignTDS
reads them off the top 50 tokens renormalised; here the whole vocabulary enters the KL). Contexts and
the continuation alone (no special tokens), as AlignTDS does, so both models see the same reply tokens at
the same positions; the contexts as lm-eval encodes them (one BOS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psm_eval.backends.probe import HF_TYPES
from psm_eval.errors import BackendError

__all__ = ["TokenRank", "RankResult", "RankModel", "rank_model", "TOP_K"]

TOP_K = 10
"""Top-k for the overlap of the two models' candidate sets (Jaccard of the top-10 token sets)."""


@dataclass(frozen=True)
class TokenRank:
    """One continuation token under the base model (and, when compared, the post-trained one)."""

    token: str
    """The token's text (decoded alone)."""
    rank: int
    """1 + the number of vocabulary entries with a strictly higher base logit."""
    logprob: float
    """Its log-probability under the base model."""
    kl: float | None = None
    """KL(P_post || P_base) at this position, in nats, over the full vocabulary."""
    overlap: float | None = None
    """Jaccard overlap of the two models' top-k token sets at this position."""


@dataclass(frozen=True)
class RankResult:
    """Ranks of every continuation token, or why they could not be computed."""

    ok: bool
    ranks: tuple[TokenRank, ...] = ()
    error_kind: str | None = None
    error: str | None = None
    compare_error: str | None = None
    """Why the two distributions could not be compared (the ranks still stand)."""


class RankModel:
    """Token ranks from the hf model behind an `LMBackend`."""

    def __init__(self, lm: Any):
        self.lm = lm

    def encode_reply(self, continuation: str) -> list[int]:
        return list(self.lm.tokenizer(continuation, add_special_tokens=False)["input_ids"])

    def _logprobs(self, context: str, cont: list[int]) -> Any:
        """Log-probabilities at each continuation position (tokens × vocabulary), or a RankResult saying why not."""
        import torch

        if not context:
            return RankResult(False, error_kind="empty_context", error="the context is empty")
        ids = list(self.lm.tok_encode(context)) + cont
        if len(ids) > int(self.lm.max_length):
            return RankResult(False, error_kind="context_too_long",
                              error=f"{len(ids)} tokens > the model's {int(self.lm.max_length)}")
        with torch.no_grad():
            logits = self.lm.model(torch.tensor([ids], device=self.lm.device)).logits[0].float()
        start = len(ids) - len(cont)
        return torch.log_softmax(logits[start - 1:len(ids) - 1], dim=-1)

    def ranks(self, context: str, continuation: str, *, post: RankModel | None = None,
              post_context: str | None = None) -> RankResult:
        """Rank of each token of `continuation` given `context`; with `post` (the post-trained model) and
        the context it answered in, also the per-position KL and top-k overlap of the two distributions."""
        import torch

        cont = self.encode_reply(continuation)
        if not cont:
            return RankResult(True)
        base = self._logprobs(context, cont)
        if isinstance(base, RankResult):
            return base
        target = torch.tensor(cont, device=base.device)
        chosen = base.gather(1, target[:, None])
        rank = (base > chosen).sum(dim=1) + 1
        kl: list[float | None] = [None] * len(cont)
        overlap: list[float | None] = [None] * len(cont)
        why = None
        if post is not None and post_context is not None:
            post_lp = post._logprobs(post_context, cont) if post.encode_reply(continuation) == cont else None
            if post_lp is None or isinstance(post_lp, RankResult) or post_lp.shape[-1] != base.shape[-1]:
                why = (post_lp.error if isinstance(post_lp, RankResult) else
                       "the two models tokenize the reply differently: no per-position comparison")
            else:
                post_lp = post_lp.to(base.device)
                kl = (post_lp.exp() * (post_lp - base)).sum(dim=-1).clamp(min=0.0).tolist()
                top_b, top_p = base.topk(TOP_K, dim=-1).indices, post_lp.topk(TOP_K, dim=-1).indices
                overlap = [len(set(a) & set(b)) / len(set(a) | set(b)) for a, b in zip(top_b.tolist(), top_p.tolist())]
        tok = self.lm.tokenizer
        logprob = chosen[:, 0].tolist()
        return RankResult(True, tuple(TokenRank(tok.decode([t]), int(r), float(lp), k, o)
                                      for t, r, lp, k, o in zip(cont, rank.tolist(), logprob, kl, overlap)),
                          compare_error=why)


def rank_model(backend: Any) -> RankModel:
    """A RankModel for an hf backend; other backends cannot give full-vocabulary ranks here."""
    spec = getattr(backend, "spec", None)
    if spec is None or spec.type not in HF_TYPES or getattr(backend, "lm", None) is None:
        kind = getattr(spec, "type", type(backend).__name__)
        raise BackendError(f"token ranks need an hf model (got '{kind}')")
    return RankModel(backend.lm)
