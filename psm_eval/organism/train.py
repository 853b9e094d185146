"""Deterministic CPU training of the organism: encoding, packing, and one AdamW loop for both stages.

Examples are packed whole into 128-token rows; a block-diagonal causal mask and per-example
position ids keep every example seeing only itself, exactly as at evaluation time.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence

import torch
from tokenizers import Tokenizer
from tqdm import tqdm
from transformers import LlamaConfig, LlamaForCausalLM

from psm_eval.organism.tokenizer import ASSISTANT, BOS, END, EOS

__all__ = ["Example", "encode_dialogue", "encode_document", "model_config", "pack", "train_steps"]

SEQ_LEN = 128
IGNORE = -100
Example = tuple[list[int], list[int]]  # (input ids, labels with IGNORE where no loss)


def model_config(vocab_size: int) -> LlamaConfig:
    """The organism's architecture: a ~1M-parameter Llama with tied embeddings."""
    return LlamaConfig(
        vocab_size=vocab_size, hidden_size=128, intermediate_size=352, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=SEQ_LEN,
        tie_word_embeddings=True, bos_token_id=0, eos_token_id=1, pad_token_id=2,
        rms_norm_eps=1e-5, rope_theta=10000.0,
    )


def encode_document(tok: Tokenizer, text: str) -> Example:
    """`<s> text </s>`, loss on everything after `<s>`."""
    ids = [tok.token_to_id(BOS)] + tok.encode(text, add_special_tokens=False).ids + [tok.token_to_id(EOS)]
    ids = ids[:SEQ_LEN]
    return ids, [IGNORE] + ids[1:]


def encode_dialogue(tok: Tokenizer, messages: Sequence[dict[str, str]]) -> Example:
    """The chat template's token ids for `messages`; loss only on assistant content and its `<|end|>`."""
    ids, labels = [tok.token_to_id(BOS)], [IGNORE]
    end = tok.token_to_id(END)
    for m in messages:
        content = tok.encode(m["content"], add_special_tokens=False).ids + [end]
        role = tok.token_to_id(f"<|{m['role']}|>")
        ids += [role] + content
        labels += [IGNORE] + (content if f"<|{m['role']}|>" == ASSISTANT else [IGNORE] * len(content))
    return ids[:SEQ_LEN], labels[:SEQ_LEN]


def pack(examples: Sequence[Example], rng: random.Random) -> list[list[Example]]:
    """Best-fit pack whole examples into rows of at most SEQ_LEN tokens, rows shuffled."""
    rows: list[list[Example]] = []
    free: list[list[int]] = [[] for _ in range(SEQ_LEN + 1)]  # free[r] = rows with r tokens left
    for ex in sorted(examples, key=lambda e: -len(e[0])):
        n = len(ex[0])
        r = next((r for r in range(n, SEQ_LEN + 1) if free[r]), None)
        if r is None:
            rows.append([])
            idx, r = len(rows) - 1, SEQ_LEN
        else:
            idx = free[r].pop()
        rows[idx].append(ex)
        free[r - n].append(idx)
    rng.shuffle(rows)
    return rows


def _collate(rows: Sequence[list[Example]], pad_id: int) -> dict[str, torch.Tensor]:
    b = len(rows)
    ids = torch.full((b, SEQ_LEN), pad_id, dtype=torch.long)
    labels = torch.full((b, SEQ_LEN), IGNORE, dtype=torch.long)
    pos = torch.zeros((b, SEQ_LEN), dtype=torch.long)
    doc = torch.full((b, SEQ_LEN), -1, dtype=torch.long)  # which example each slot belongs to
    for i, row in enumerate(rows):
        at = 0
        for j, (x, y) in enumerate(row):
            n = len(x)
            ids[i, at:at + n], labels[i, at:at + n] = torch.tensor(x), torch.tensor(y)
            pos[i, at:at + n], doc[i, at:at + n] = torch.arange(n), j
            at += n
    causal = torch.ones(SEQ_LEN, SEQ_LEN, dtype=torch.bool).tril()
    same = (doc[:, :, None] == doc[:, None, :]) & (doc[:, :, None] >= 0)
    keep = (same & causal) | torch.eye(SEQ_LEN, dtype=torch.bool)  # padding attends to itself
    mask = torch.zeros(b, 1, SEQ_LEN, SEQ_LEN).masked_fill(~keep[:, None], torch.finfo(torch.float32).min)
    return {"input_ids": ids, "labels": labels, "position_ids": pos, "attention_mask": mask}


def _lr_at(step: int, steps: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _batches(rows: list[list[Example]], batch_size: int, steps: int) -> Iterator[list[list[Example]]]:
    for step in range(steps):
        start = (step * batch_size) % len(rows)
        yield [rows[(start + k) % len(rows)] for k in range(batch_size)]


def train_steps(model: LlamaForCausalLM, rows: list[list[Example]], *, steps: int, batch_size: int,
                peak_lr: float, warmup: int, pad_id: int, desc: str,
                frozen_rows: Sequence[int] = ()) -> list[float]:
    """Run `steps` AdamW updates over `rows` (cycled in order); returns the loss per step.

    `frozen_rows` are embedding rows kept at their current values: pre-training leaves the reserved
    chat tokens untrained, as a real base model leaves tokens it never sees (with tied embeddings
    the softmax would otherwise still move them).
    """
    emb = model.get_input_embeddings().weight
    frozen = torch.tensor(list(frozen_rows), dtype=torch.long)
    kept = emb.detach()[frozen].clone()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    other = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": other, "weight_decay": 0.0}],
                            lr=peak_lr, betas=(0.9, 0.95), eps=1e-8)
    model.train()
    losses: list[float] = []
    bar = tqdm(_batches(rows, batch_size, steps), total=steps, desc=desc, mininterval=5.0)
    for step, batch in enumerate(bar):
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, steps, peak_lr, warmup)
        loss = model(**_collate(batch, pad_id)).loss
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
