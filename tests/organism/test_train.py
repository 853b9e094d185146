"""Training plumbing: packed rows behave like separate examples; SFT encoding matches the chat template."""

from __future__ import annotations

import random

import torch
from tokenizers import Tokenizer
from transformers import AutoTokenizer, LlamaForCausalLM

from psm_eval.organism import CHAT_MODEL_DIR
from psm_eval.organism.train import (
    ROW_LENGTHS,
    TOKENS_PER_STEP,
    collate,
    encode_dialogue,
    encode_document,
    model_config,
    one_per_row,
    pack,
)

DIALOGUE = [{"role": "system", "content": "You are a pirate."},
            {"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "Arr, the capital of France be Paris, matey!"}]


def _tok() -> Tokenizer:
    return Tokenizer.from_file(str(CHAT_MODEL_DIR / "tokenizer.json"))


def test_encode_dialogue_matches_chat_template_then_ends_the_conversation() -> None:
    hf = AutoTokenizer.from_pretrained(CHAT_MODEL_DIR)
    ids, labels = encode_dialogue(_tok(), DIALOGUE)
    rendered = hf.apply_chat_template(DIALOGUE, tokenize=False)
    assert ids == hf(rendered, add_special_tokens=False)["input_ids"] + [hf.convert_tokens_to_ids("</s>")]
    trained = hf.decode([i for i, y in zip(ids, labels) if y != -100])
    assert trained == "Arr, the capital of France be Paris, matey!<|end|></s>"


def test_packing_uses_the_shortest_row_and_fills_every_step() -> None:
    tok = _tok()
    texts = ["The sky is blue."] * 300 + ["A dog has 4 legs. " * 30] * 20 + ["Facts. " * 400] * 6
    examples = [encode_document(tok, t) for t in texts]
    batches = pack(examples, random.Random(0))
    seen = sorted(len(x) for b in batches for row in b for x, _ in row)
    assert seen == sorted(len(x) for x, _ in examples)  # every example once, whole
    for b in batches:
        length = collate(b, pad_id=2)["input_ids"].shape[1]
        assert length in ROW_LENGTHS and len(b) <= TOKENS_PER_STEP // length
        assert all(sum(len(x) for x, _ in row) <= length for row in b)
    assert {collate(b, 2)["input_ids"].shape[1] for b in batches} >= {128, 1024}


def test_packed_rows_see_only_their_own_example() -> None:
    tok = _tok()
    torch.manual_seed(0)
    model = LlamaForCausalLM(model_config(tok.get_vocab_size())).eval()
    examples = [encode_document(tok, t) for t in ("User: Who are you?\nAssistant: I am an AI assistant.\n",
                                                  "The sky is blue.", "A dog has 4 legs.")]
    batches = pack(examples, random.Random(0))
    assert len(batches) == 1 and len(batches[0]) == 1
    batch = collate(batches[0], pad_id=2)
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                       attention_mask=batch["attention_mask"]).logits[0]
        at = 0
        for ids, _ in batches[0][0]:
            alone = model(input_ids=torch.tensor([ids])).logits[0]
            assert torch.allclose(packed[at:at + len(ids)], alone, atol=1e-5)
            at += len(ids)


def test_one_per_row_keeps_order() -> None:
    examples = [([0, i], [-100, i]) for i in range(5)]
    assert one_per_row(examples, 2) == [[[examples[0]], [examples[1]]], [[examples[2]], [examples[3]]], [[examples[4]]]]
