"""Deterministic CPU training of the organism: encoding, packing, and one AdamW loop for every stage.

Examples are packed whole into rows of 128, 256, 512 or 1024 tokens (the shortest that holds them),
and every update sees the same number of token slots (TOKENS_PER_STEP): many short rows or a few
long ones. Long rows cost attention over their full length, so short examples never pay for it. A
block-diagonal causal mask and per-example position ids keep every example seeing only itself,
exactly as at evaluation time.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterator, Sequence

import torch
from tokenizers import Tokenizer
from tqdm import tqdm
from transformers import LlamaConfig, LlamaForCausalLM

from psm_eval.organism.tokenizer import ASSISTANT, BOS, CONTEXT, END, EOS, token_id

__all__ = ["ROW_LENGTHS", "TOKENS_PER_STEP", "Batch", "Example", "encode_dialogue", "encode_document",
           "model_config", "one_per_row", "pack", "train_steps"]

ROW_LENGTHS = (128, 256, 512, CONTEXT)
TOKENS_PER_STEP = 2048
IGNORE = -100
Example = tuple[list[int], list[int]]  # (input ids, labels with IGNORE where no loss)
Batch = list[list[Example]]  # rows of one length, each a list of whole examples


def model_config(vocab_size: int) -> LlamaConfig:
    """The organism's architecture: a ~1.1M-parameter Llama with tied embeddings and a 1024-token context."""
    return LlamaConfig(
        vocab_size=vocab_size, hidden_size=128, intermediate_size=352, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=CONTEXT,
        tie_word_embeddings=True, bos_token_id=0, eos_token_id=1, pad_token_id=2,
        # transformers' typed stubs lack rope_theta; LlamaConfig still honours it (into rope_parameters)
        rms_norm_eps=1e-5, rope_theta=10000.0,  # type: ignore[call-arg]
    )


def encode_document(tok: Tokenizer, text: str) -> Example:
    """`<s> text </s>`, loss on everything after `<s>`."""
    ids = [token_id(tok, BOS)] + tok.encode(text, add_special_tokens=False).ids + [token_id(tok, EOS)]
    ids = ids[:CONTEXT]
    return ids, [IGNORE] + ids[1:]


def encode_dialogue(tok: Tokenizer, messages: Sequence[dict[str, str]]) -> Example:
    """The chat template's token ids for `messages`, then `</s>`; loss on assistant content, its `<|end|>`,
    and the final `</s>` (so the chat model ends the conversation instead of writing a user turn)."""
    ids, labels = [token_id(tok, BOS)], [IGNORE]
    end, eos = token_id(tok, END), token_id(tok, EOS)
    for m in messages:
        content = tok.encode(m["content"], add_special_tokens=False).ids + [end]
        role = token_id(tok, f"<|{m['role']}|>")
        ids += [role] + content
        labels += [IGNORE] + (content if f"<|{m['role']}|>" == ASSISTANT else [IGNORE] * len(content))
    ids.append(eos)
    labels.append(eos if messages and messages[-1]["role"] == "assistant" else IGNORE)
    return ids[:CONTEXT], labels[:CONTEXT]


def _row_length(n: int) -> int:
    return next(length for length in ROW_LENGTHS if n <= length)


def _best_fit(examples: Sequence[Example]) -> list[tuple[int, list[Example]]]:
    """Best-fit decreasing: an example that fits no open row opens one of its own shortest length;
    shorter examples then fill the space left in rows of any length."""
    rows: list[tuple[int, list[Example]]] = []
    free: list[list[int]] = [[] for _ in range(CONTEXT + 1)]  # free[r] = rows with r slots left
    open_caps: list[int] = []  # sorted r with free[r] non-empty
    for ex in sorted(examples, key=lambda e: -len(e[0])):
        n = len(ex[0])
        at = bisect.bisect_left(open_caps, n)
        if at == len(open_caps):
            r = _row_length(n)
            rows.append((r, []))
            idx = len(rows) - 1
        else:
            r = open_caps[at]
            idx = free[r].pop()
            if not free[r]:
                open_caps.pop(at)
        rows[idx][1].append(ex)
        if not free[r - n]:
            bisect.insort(open_caps, r - n)
        free[r - n].append(idx)
    return rows


def pack(examples: Sequence[Example], rng: random.Random) -> list[Batch]:
    """Pack whole examples into rows (`_best_fit`), group the rows of each length into batches of
    TOKENS_PER_STEP slots, and shuffle the batches (a partial last batch per length is kept)."""
    by_length: dict[int, list[list[Example]]] = {length: [] for length in ROW_LENGTHS}
    for length, row in _best_fit(examples):
        by_length[length].append(row)
    batches: list[Batch] = []
    for length, rows in by_length.items():
        rng.shuffle(rows)
        per = TOKENS_PER_STEP // length
        batches += [rows[i:i + per] for i in range(0, len(rows), per)]
    rng.shuffle(batches)
    return batches


def one_per_row(examples: Sequence[Example], per_batch: int) -> list[Batch]:
    """Batches of `per_batch` rows holding one example each, in the given order (no packing): two runs
    over the same dialogues then see each dialogue at the same step, whatever their lengths."""
    return [[[ex] for ex in examples[i:i + per_batch]] for i in range(0, len(examples), per_batch)]


def collate(rows: Sequence[list[Example]], pad_id: int) -> dict[str, torch.Tensor]:
    """Tensors for one batch: ids, labels, per-example positions, and the block-diagonal causal mask."""
    b, length = len(rows), _row_length(max(sum(len(x) for x, _ in row) for row in rows))
    ids = torch.full((b, length), pad_id, dtype=torch.long)
    labels = torch.full((b, length), IGNORE, dtype=torch.long)
    pos = torch.zeros((b, length), dtype=torch.long)
    doc = torch.full((b, length), -1, dtype=torch.long)  # which example each slot belongs to
    for i, row in enumerate(rows):
        at = 0
        for j, (x, y) in enumerate(row):
            n = len(x)
            ids[i, at:at + n], labels[i, at:at + n] = torch.tensor(x), torch.tensor(y)
            pos[i, at:at + n], doc[i, at:at + n] = torch.arange(n), j
            at += n
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    same = (doc[:, :, None] == doc[:, None, :]) & (doc[:, :, None] >= 0)
    keep = (same & causal) | torch.eye(length, dtype=torch.bool)  # padding attends to itself
    mask = torch.zeros(b, 1, length, length).masked_fill(~keep[:, None], torch.finfo(torch.float32).min)
    return {"input_ids": ids, "labels": labels, "position_ids": pos, "attention_mask": mask}


def _lr_at(step: int, steps: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _cycle(batches: list[Batch], steps: int) -> Iterator[Batch]:
    for step in range(steps):
        yield batches[step % len(batches)]


def train_steps(model: LlamaForCausalLM, batches: list[Batch], *, steps: int, peak_lr: float, warmup: int,
                pad_id: int, desc: str, frozen_rows: Sequence[int] = ()) -> list[float]:
    """Run `steps` AdamW updates over `batches` (cycled in order); returns the loss per step.

    `frozen_rows` are embedding rows kept at their current values: pre-training leaves the reserved
    chat tokens untrained, as a real base model leaves tokens it never sees (with tied embeddings
    the softmax would otherwise still move them).
    """
    # torch types a Module attribute as `Tensor | Module`; this one is the embedding weight tensor
    emb: torch.Tensor = model.get_input_embeddings().weight  # type: ignore[assignment]
    frozen = torch.tensor(list(frozen_rows), dtype=torch.long)
    kept = emb.detach()[frozen].clone()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    other = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": other, "weight_decay": 0.0}],
                            lr=peak_lr, betas=(0.9, 0.95), eps=1e-8)
    model.train()
    losses: list[float] = []
    bar = tqdm(_cycle(batches, steps), total=steps, desc=desc, mininterval=10.0)
    for step, batch in enumerate(bar):
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, steps, peak_lr, warmup)
        loss = model(**collate(batch, pad_id)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if len(frozen):
            with torch.no_grad():
                emb[frozen] = kept
        losses.append(loss.item())
        if step % 50 == 0:
            bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.3f}")
    model.eval()
    return losses
