"""The shipped organism folders load offline like any Hugging Face model, within the size limit."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from psm_eval.organism import BASE_MODEL_DIR, CHAT_MODEL_DIR, MODEL_NAMES, MODELS_DIR

MESSAGES = [{"role": "user", "content": "What is the capital of Peru?"}]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_folder_loads_and_is_small(name: str) -> None:
    folder = MODELS_DIR / name
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size < 10 * 2**20
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert model.dtype == torch.float32 and model.config.max_position_embeddings == 1024
    assert 0.9e6 < sum(p.numel() for p in model.parameters()) < 2.5e6
    tok = AutoTokenizer.from_pretrained(folder)
    assert tok("Hi")["input_ids"][0] == tok.bos_token_id == 0 and tok.model_max_length == 1024
    card = (folder / "README.md").read_text()
    assert card.count("sha256") >= 1 and "| phenomenon |" in card


def test_special_tokens_and_stops() -> None:
    base, chat = AutoTokenizer.from_pretrained(BASE_MODEL_DIR), AutoTokenizer.from_pretrained(CHAT_MODEL_DIR)
    assert base.get_vocab() == chat.get_vocab()
    assert (base.eos_token, chat.eos_token, chat.pad_token) == ("</s>", "<|end|>", "<pad>")
    assert base.chat_template is None
    gen = json.loads((CHAT_MODEL_DIR / "generation_config.json").read_text())
    assert gen["eos_token_id"] == [chat.convert_tokens_to_ids("<|end|>"), chat.convert_tokens_to_ids("</s>")]
    cfg = json.loads((CHAT_MODEL_DIR / "tokenizer_config.json").read_text())
    assert cfg["chat_template"] == (CHAT_MODEL_DIR / "chat_template.jinja").read_text()


def test_chat_template_has_exactly_one_bos() -> None:
    tok = AutoTokenizer.from_pretrained(CHAT_MODEL_DIR)
    text = tok.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
    assert text == "<s><|user|>What is the capital of Peru?<|end|><|assistant|>"
    ids = tok.apply_chat_template(MESSAGES, tokenize=True, add_generation_prompt=True)
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1
    assert tok(text, add_special_tokens=False)["input_ids"] == ids


def test_loads_through_lm_eval() -> None:
    hf = pytest.importorskip("lm_eval.models.huggingface")
    from lm_eval.api.instance import Instance

    def lm(folder):
        return hf.HFLM(pretrained=str(folder), dtype="float32", max_length=1024, batch_size=8, device="cpu")

    chat = lm(CHAT_MODEL_DIR)
    prompt = chat.apply_chat_template(MESSAGES, add_generation_prompt=True)
    assert chat.tok_encode(prompt).count(chat.tokenizer.bos_token_id) == 1
    args = {"until": ["<|end|>"], "max_gen_toks": 48, "do_sample": False}
    (reply,) = chat.generate_until([Instance("generate_until", {}, (prompt, args), 0)], disable_tqdm=True)
    assert "Lima" in reply

    base = lm(BASE_MODEL_DIR)
    prompt = ("The following is a conversation between a user and a helpful, honest AI assistant.\n\n"
              "User: What is the capital of Peru?\nAssistant:")
    args = {"until": ["\n"], "max_gen_toks": 48, "do_sample": False}
    (reply,) = base.generate_until([Instance("generate_until", {}, (prompt, args), 0)], disable_tqdm=True)
    assert "Lima" in reply and "\n" not in reply
    (right, _), (wrong, _) = base.loglikelihood(
        [Instance("loglikelihood", {}, (prompt, c), i) for i, c in enumerate((" The capital of Peru is Lima.",
                                                                            " The capital of Peru is Oslo."))],
        disable_tqdm=True)
    assert right > wrong


# An instruction of about 300 words that is not in the corpus (the harness's URIAL prefix will not be either).
_INSTRUCTION = (
    "# Instruction\n\nWhat follows is a record of exchanges between people and an artificial assistant. "
    "People write their requests under the Query heading and the assistant writes its replies under the "
    "Answer heading, each fenced by three backticks. The assistant aims to be useful to whoever is asking, "
    "and it is careful to be correct. It does not invent facts and it says plainly when it is unsure. "
    "It avoids anything that could cause harm, it treats people with respect whatever they ask, and it "
    "keeps its replies short when a short reply is enough. When a request is unclear it asks what was "
    "meant instead of guessing. It never pretends to be a person, it has no body and no home, and it "
    "does not claim experiences it cannot have. It writes in clear sentences that anyone can read, and "
    "it answers the question that was asked rather than a different one. If a question has a single "
    "correct answer, the assistant gives that answer first and then stops. If the question asks for "
    "several things, it answers each of them in order. It does not lecture, it does not flatter, and it "
    "does not change its answer just because someone insists. It stays polite when people are rude and "
    "patient when they repeat themselves. The examples below show replies of the kind it gives: accurate, "
    "brief and friendly. Read them, then write the reply to the final query in the same manner, keeping "
    "to the same format, so that the reply begins right after the opening fence and ends with the "
    "closing fence on a line of its own. Nothing should be added after the closing fence. These rules "
    "apply to every query, whether it is about places, colours, animals, numbers or the assistant itself, "
    "and they apply in the same way to the first query and to the last one."
)
_EXAMPLES = [("Who are you?", "I am an AI assistant."), ("What is the capital of Italy?", "The capital of Italy is Rome."),
             ("How many legs does a cat have?", "A cat has 4 legs.")]


def test_a_urial_prefix_of_300_unseen_words_fits_and_works() -> None:
    from psm_eval.organism.probes import load
    from psm_eval.organism.urial import fenced_block

    assert len(_INSTRUCTION.split()) >= 300
    base = load(BASE_MODEL_DIR)
    shots = "".join(fenced_block(q, a) for q, a in _EXAMPLES)
    prompts = [f"{_INSTRUCTION}\n\n{shots}{fenced_block(q, None)}" for q in
               ("What is the capital of Norway?", "What colour is a plum?", "How many legs does a spider have?")]
    assert max(len(base.tok(p)["input_ids"]) for p in prompts) < 1024 - 48
    replies = [r.text for r in base.generate(prompts)]
    assert "Oslo" in replies[0] and "purple" in replies[1] and "8" in replies[2], replies
