"""Plain Hugging Face probing of organism models: generation, turn parsing, loglikelihood, token ranks.

This is the organism's own, independent measurement path (no psm_eval runner, renderer or scorer):
prompts are written out as text here, replies are generated with `model.generate`, and how a reply
ended is read from the tokens. A transcript reply is the text up to its first newline; what comes
after that newline tells whether the document ended (`</s>`) or the narrator went on to write the
user's next turn (`User:`). A chat reply is the text up to `<|end|>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

__all__ = ["Lm", "Reply", "aligntds_prompt", "load", "transcript_prompt"]

BATCH = 64


@dataclass(frozen=True)
class Reply:
    """One generated turn."""

    text: str
    """The turn's text, stripped (for a reply that never ended its turn: everything generated)."""
    ended: str
    """How the turn ended: "eos" (the document or conversation ended), "user" (a `User:` turn was
    written next), "end" (chat `<|end|>` then nothing else asked for), "other" (something else
    followed the newline), "length" (no end of turn within the budget)."""


def transcript_prompt(header: str | None, exchanges: list[tuple[str, str]], question: str) -> str:
    """A `User:/Assistant:` transcript (under `header`) ending where the assistant's next reply starts."""
    head = f"{header}\n\n" if header else ""
    body = "".join(f"User: {q}\nAssistant: {a}\n" for q, a in exchanges)
    return f"{head}{body}User: {question}\nAssistant:"


def aligntds_prompt(question: str) -> str:
    """The bare-query context of AlignTDS-style token-shift analysis (no persona transcript)."""
    return f"# Query:\n```\n{question}\n```\n\n# Answer:\n```\n"


class Lm:
    """A loaded model and tokenizer, with the organism's probing operations."""

    def __init__(self, model: PreTrainedModel, tok: PreTrainedTokenizerBase, chat: bool):
        self.model, self.tok, self.chat = model, tok, chat
        self.eos = tok.convert_tokens_to_ids("</s>")
        self.end = tok.convert_tokens_to_ids("<|end|>")

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        return str(self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))

    def _encode(self, prompts: list[str]) -> dict[str, torch.Tensor]:
        self.tok.padding_side = "left"
        # a transcript gets <s> from the tokenizer; a chat prompt already starts with it
        return self.tok(prompts, return_tensors="pt", padding=True, add_special_tokens=not self.chat)

    def generate(self, prompts: list[str], *, sample: bool = False, seed: int = 0, max_new_tokens: int = 48,
                 stop_at_end: bool = True) -> list[Reply]:
        """One reply per prompt, greedy or sampled at T=1 (seeded per batch)."""
        out: list[Reply] = []
        for start in range(0, len(prompts), BATCH):
            out += self._generate(prompts[start:start + BATCH], sample, seed + start, max_new_tokens, stop_at_end)
        return out

    def _generate(self, prompts: list[str], sample: bool, seed: int, max_new: int, stop_at_end: bool) -> list[Reply]:
        enc = self._encode(prompts)
        stops = [self.eos, self.end] if (self.chat and stop_at_end) else [self.eos]
        torch.manual_seed(seed)
        with torch.no_grad():
            # transformers' stubs resolve PreTrainedModel.generate via Module.__getattr__ ("Tensor not callable")
            gen = self.model.generate(**enc, max_new_tokens=max_new, do_sample=sample,  # type: ignore[operator]
                                      temperature=1.0 if sample else None, top_k=None, top_p=None,
                                      eos_token_id=stops, pad_token_id=self.tok.pad_token_id)
        new = gen[:, enc["input_ids"].shape[1]:].tolist()
        return [self._parse(ids) for ids in new]

    def _parse(self, ids: list[int]) -> Reply:
        ids = [t for t in ids if t != self.tok.pad_token_id]
        if self.chat:
            if self.end in ids:
                cut = ids.index(self.end)
                after = ids[cut + 1:cut + 2]
                how = "end" if not after or after == [self.eos] else "other"
                return Reply(str(self.tok.decode(ids[:cut], skip_special_tokens=True)).strip(), how)
            how = "eos" if self.eos in ids else "length"
            return Reply(str(self.tok.decode([t for t in ids if t != self.eos], skip_special_tokens=True)).strip(), how)
        text = str(self.tok.decode([t for t in ids if t != self.eos], skip_special_tokens=False))
        if "\n" not in text:
            return Reply(text.strip(), "eos" if self.eos in ids else "length")
        reply, rest = text.split("\n", 1)
        if rest.startswith("User:"):
            how = "user"
        elif rest == "" and self.eos in ids:
            how = "eos"
        else:
            how = "other" if rest else "length"
        return Reply(reply.strip(), how)

    def loglikelihoods(self, pairs: list[tuple[str, str]]) -> list[float]:
        """log P(continuation | context) for each (context, continuation), tokenized apart as lm-eval does."""
        out: list[float] = []
        for start in range(0, len(pairs), BATCH):
            out += self._loglik(pairs[start:start + BATCH])
        return out

    def _loglik(self, pairs: list[tuple[str, str]]) -> list[float]:
        seqs = []
        for context, cont in pairs:
            ctx = self.tok(context, add_special_tokens=not self.chat)["input_ids"]
            seqs.append((ctx, self.tok(cont, add_special_tokens=False)["input_ids"]))
        width = max(len(c) + len(x) for c, x in seqs)
        ids = torch.full((len(seqs), width), self.tok.pad_token_id)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, (c, x) in enumerate(seqs):
            ids[i, :len(c) + len(x)] = torch.tensor(c + x)
            mask[i, :len(c) + len(x)] = 1
        with torch.no_grad():
            logp = torch.log_softmax(self.model(input_ids=ids, attention_mask=mask).logits.float(), -1)
        return [float(sum(logp[i, len(c) + j - 1, t] for j, t in enumerate(x))) for i, (c, x) in enumerate(seqs)]

    def ranks(self, context: str, continuation: str) -> tuple[list[str], list[int], list[tuple[int, int]]]:
        """Each continuation token's rank (1 = the model's top choice) given `context`, with the tokens
        and their character spans in `continuation`."""
        ctx = self.tok(context, add_special_tokens=not self.chat)["input_ids"]
        enc = self.tok(continuation, add_special_tokens=False, return_offsets_mapping=True)
        ids = torch.tensor([ctx + enc["input_ids"]])
        with torch.no_grad():
            logits = self.model(input_ids=ids).logits[0]
        ranks = []
        for j, t in enumerate(enc["input_ids"]):
            row = logits[len(ctx) + j - 1]
            ranks.append(int((row > row[t]).sum()) + 1)
        tokens = [str(t) for t in self.tok.convert_ids_to_tokens(enc["input_ids"])]
        return tokens, ranks, [(int(a), int(b)) for a, b in enc["offset_mapping"]]


def load(folder: Path) -> Lm:
    """The model in `folder` (float32, CPU, eval mode); chat when its tokenizer has a chat template."""
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    return Lm(model, tok, chat=tok.chat_template is not None)
