"""Sampled generation for in-process Hugging Face models with one random stream per request.

lm-eval samples a whole batch from torch's one global generator, so a reply depends on which other
requests shared its batch — and batches change with `--shard`, `--limit`, a resume point or what the
cache held. Here each row of a batch draws from its own `torch.Generator`, seeded by its request, so
a reply depends only on (model, prompt, settings, seed): the same under any batching, up to the last
bits of the logits that left padding can change.

The rest is lm-eval's own machinery on the same `HFLM` object — its batch encoding, stop-sequence
criteria, `model.generate` call and reply clean-up — so a sampled reply is cut and decoded exactly as
`generate_until` would. Sampling is temperature plus optional top-p over the full vocabulary (no
implicit top-k, unlike transformers' default of 50), and `model.generate` runs greedy over logits in
which only the drawn token is left.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from lm_eval.models.utils import handle_stop_sequences, postprocess_generated_text
from transformers import LogitsProcessor, LogitsProcessorList

__all__ = ["RowSampler", "generate_seeded"]


class RowSampler(LogitsProcessor):
    """Draws each row's next token from that row's own generator; leaves only that token possible."""

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float | None):
        self.generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        self.temperature = temperature
        self.top_p = top_p

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        probs = torch.softmax(scores.float() / self.temperature, dim=-1).cpu()
        if self.top_p is not None and self.top_p < 1.0:
            probs = _nucleus(probs, self.top_p)
        picks = torch.cat([torch.multinomial(probs[i], 1, generator=g) for i, g in enumerate(self.generators)])
        out = torch.full_like(scores, float("-inf"))
        out[torch.arange(scores.shape[0], device=scores.device), picks.to(scores.device)] = 0.0
        return out  # type: ignore[return-value]


def _nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep, per row, the most likely tokens until their mass reaches top_p (at least one), renormalised."""
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass of the tokens ranked above each token
    sorted_probs = sorted_probs.masked_fill(before >= top_p, 0.0)
    kept = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return kept / kept.sum(dim=-1, keepdim=True)


def generate_seeded(hflm: Any, contexts: Sequence[str], seeds: Sequence[int], *, until: Sequence[str],
                    max_gen_toks: int, temperature: float, top_p: float | None) -> list[str]:
    """Replies to `contexts` (one batch of lm-eval's `HFLM`, the same settings) sampled with per-row seeds."""
    eos = hflm.tok_decode(hflm.eot_token_id, skip_special_tokens=False)
    stop = handle_stop_sequences(list(until), eos=eos)
    context_enc, attention = hflm.tok_batch_encode(list(contexts), left_truncate_len=hflm.max_length - max_gen_toks,
                                                   truncation=hflm.truncation)
    sampler = RowSampler(seeds, temperature, top_p)
    # temperature/top_p/top_k left to None: the model's generation_config must not re-warp the greedy
    # pick over the sampler's one remaining token
    out = hflm._model_generate(context=context_enc.to(hflm.device), attention_mask=attention.to(hflm.device),
                               stop=stop, max_length=context_enc.shape[1] + max_gen_toks, do_sample=False,
                               logits_processor=LogitsProcessorList([sampler]), top_p=None, top_k=None)
    think = hflm.think_end_token
    replies = []
    for row in out.tolist():
        tokens = row[context_enc.shape[1]:]
        if isinstance(think, int) and think in tokens:  # as generate_until: keep what follows the last one
            tokens = tokens[len(tokens) - tokens[::-1].index(think):]
        text = hflm.tok_decode(tokens)
        text = text.lstrip() if isinstance(think, int) and think in row[context_enc.shape[1]:] else text
        replies.append(postprocess_generated_text(generation=text, stop=stop,
                                                  think_end_token=think if isinstance(think, str) else None))
    return replies
