"""Generation for in-process Hugging Face models: one random stream per request, and what ended each reply.

lm-eval samples a whole batch from torch's one global generator, so a reply depends on which other
requests shared its batch — and batches change with `--shard`, `--limit`, a resume point or what the
cache held. Here each row of a batch draws from its own `torch.Generator`, seeded by its request, so
a reply depends only on (model, prompt, settings, seed): the same under any batching, up to the last
bits of the logits that left padding can change. Sampling is temperature plus optional top-p over the
full vocabulary (no implicit top-k, unlike transformers' default of 50); `model.generate` runs greedy
over logits in which only the drawn token is left.

lm-eval's `generate_until` also hides how a reply ended: it cuts the stop sequence and decodes with
special tokens skipped, so a role marker or a control token the model wrote is invisible. This path
uses lm-eval's own machinery on the same `HFLM` object — batch encoding, stop criteria, the
`model.generate` call, reply clean-up, so `text` is exactly what `generate_until` returns — and also
reports which stop sequence or end-of-sequence token ended the reply, the reply with special tokens
kept, and, on request, the next few tokens the model would have written past the stop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from lm_eval.models.utils import handle_stop_sequences, postprocess_generated_text
from transformers import LogitsProcessor, LogitsProcessorList

__all__ = ["Generated", "RowSampler", "generate"]


@dataclass(frozen=True)
class Generated:
    """One reply and how it ended."""

    text: str
    """As lm-eval's `generate_until` returns it: special tokens skipped, cut before the first stop."""
    raw: str
    """Decoded with special tokens kept, cut before what ended it."""
    stop: str | None
    """The stop sequence, or the end-of-sequence token's text, that ended the reply; None: max tokens."""
    after: str | None = None
    """Up to `look_past` tokens the model went on to write past the stop (special tokens kept)."""


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
        picks = _draw(probs, self.generators)
        out = torch.full_like(scores, float("-inf"))
        out[torch.arange(scores.shape[0], device=scores.device), picks.to(scores.device)] = 0.0
        return out  # type: ignore[return-value]


def _draw(probs: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """One token per row from that row's own generator: exactly `torch.multinomial(probs[i], 1, generator=g)`,
    whose one-sample path is the exponential race argmax(p / q), q ~ Exp(1) drawn from g. Done as one argmax
    over the batch with one validity check, instead of multinomial's checks row by row (a third of the time)."""
    sums = probs.sum(dim=-1)  # an inf or nan anywhere makes its row's sum one
    if not bool((torch.isfinite(sums) & (sums > 0)).all() & (probs >= 0).all()):
        raise RuntimeError("invalid sampling distribution: inf, nan, an element < 0 or a row summing to 0")
    q = torch.stack([torch.empty_like(probs[i]).exponential_(1, generator=g) for i, g in enumerate(generators)])
    return (probs / q).argmax(dim=-1)


def _nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep, per row, the most likely tokens until their mass reaches top_p (at least one), renormalised."""
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass of the tokens ranked above each token
    sorted_probs = sorted_probs.masked_fill(before >= top_p, 0.0)
    kept = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return kept / kept.sum(dim=-1, keepdim=True)


def _processors(seeds: Sequence[int], temperature: float, top_p: float | None) -> dict[str, Any]:
    if temperature <= 0:
        return {}
    # temperature/top_p/top_k left to None: the model's generation_config must not re-warp the greedy
    # pick over the sampler's one remaining token
    return {"logits_processor": LogitsProcessorList([RowSampler(seeds, temperature, top_p)]), "top_p": None,
            "top_k": None}


def _eos_ids(hflm: Any) -> set[int]:
    ids = hflm.model.generation_config.eos_token_id
    found = set(ids if isinstance(ids, (list, tuple)) else [ids] if ids is not None else [])
    return found | {hflm.eot_token_id}


def generate(hflm: Any, contexts: Sequence[str], seeds: Sequence[int], *, until: Sequence[str], max_gen_toks: int,
             temperature: float, top_p: float | None, look_past: int = 0) -> list[Generated]:
    """Replies to `contexts` (one batch of lm-eval's `HFLM`, the same settings): greedy at temperature 0,
    else sampled with per-row seeds."""
    eos = hflm.tok_decode(hflm.eot_token_id, skip_special_tokens=False)
    stop = handle_stop_sequences(list(until), eos=eos)
    context_enc, attention = hflm.tok_batch_encode(list(contexts), left_truncate_len=hflm.max_length - max_gen_toks,
                                                   truncation=hflm.truncation)
    out = hflm._model_generate(context=context_enc.to(hflm.device), attention_mask=attention.to(hflm.device),
                               stop=stop, max_length=context_enc.shape[1] + max_gen_toks, do_sample=False,
                               **_processors(seeds, temperature, top_p))
    eos_ids = _eos_ids(hflm)
    rows = [_ended(hflm, row[context_enc.shape[1]:], stop, eos_ids, look_past > 0) for row in out.tolist()]
    replies = [g for g, _ in rows]
    if look_past > 0:
        prefixes = [(i, ids) for i, (g, ids) in enumerate(rows) if g.stop is not None]
        if prefixes:
            afters = _look_past(hflm, [context_enc[i][attention[i].bool()].tolist() + ids for i, ids in prefixes],
                                [seeds[i] + 1 for i, _ in prefixes], look_past, temperature, top_p)
            for (i, _), after in zip(prefixes, afters):
                replies[i] = Generated(replies[i].text, replies[i].raw, replies[i].stop, after)
    return replies


def _ended(hflm: Any, tokens: list[int], stop: list[str], eos_ids: set[int],
           prefix: bool) -> tuple[Generated, list[int]]:
    """The reply of one row, and (if `prefix`) the tokens up to and including what ended it."""
    think = hflm.think_end_token
    end = next((k for k, t in enumerate(tokens) if t in eos_ids), None)
    generated = tokens if end is None else tokens[:end]
    if isinstance(think, int) and think in generated:  # as generate_until: keep what follows the last one
        generated = generated[len(generated) - generated[::-1].index(think):]
    text = hflm.tok_decode(generated)
    text = text.lstrip() if isinstance(think, int) and think in tokens else text
    cut = postprocess_generated_text(generation=text, stop=stop, think_end_token=think if isinstance(think, str)
                                     else None)
    raw = hflm.tok_decode(generated, skip_special_tokens=False)
    first = min(((text.find(s), s) for s in stop if s and s in text), default=None)
    if first is not None:  # a stop sequence came first: where it ends among the tokens, for a look past it
        term = first[1]
        raw = raw[:raw.find(term)] if term in raw else raw
        upto = len(generated) if not prefix else next(
            (k for k in range(1, len(generated) + 1) if term in hflm.tok_decode(generated[:k])), len(generated))
        return Generated(cut, raw, term), generated[:upto]
    if end is not None:
        token = tokens[end]
        return Generated(cut, raw, hflm.tok_decode([token], skip_special_tokens=False)), tokens[:end + 1]
    return Generated(cut, raw, None), generated


def _look_past(hflm: Any, prompts: list[list[int]], seeds: list[int], n: int, temperature: float,
               top_p: float | None) -> list[str]:
    """The next `n` tokens after each prompt (token ids), special tokens kept, no stop applied."""
    width = max(len(p) for p in prompts)
    pad = hflm.tokenizer.pad_token_id if hflm.tokenizer.pad_token_id is not None else 0
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=hflm.device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=hflm.device)
    out = hflm.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n,
                              do_sample=False, pad_token_id=pad, **_processors(seeds, temperature, top_p))
    return [hflm.tok_decode(row[width:], skip_special_tokens=False) for row in out.tolist()]
