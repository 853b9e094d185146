"""How a reply ended is stored, not lost: the stop sequence or end-of-sequence token that ended it, the
reply with special tokens kept, what the model would have written past the stop, and the renderer's
declared clean-up (URIAL's fences) applied with the raw reply kept beside it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from psm_eval.backends import Capabilities
from psm_eval.run.config import build_config, organism_dir
from psm_eval.run.runner import run
from psm_eval.types import GenRequest, Outcome
from tests.fixtures.fake_backend import GenerateOnly
from tests.test_runner import make_task, records

ORGANISM = organism_dir()
QUESTIONS = ["What is the capital of Norway?", "Who are you?", "What colour is a plum?", "What should I cook tonight?"]


def _task(tmp_path: Path, look_past: int) -> Path:
    return make_task(tmp_path / f"t{look_past}", [{"id": f"q{i}", "q": q} for i, q in enumerate(QUESTIONS)],
                     "name: q\nversion: 1\ndescription: d\ndata: {path: data.jsonl}\nfields: {id: id, prompt: q}\n"
                     f"generation: {{max_gen_toks: 24, look_past_stop: {look_past}}}\n")


def _run(tmp_path: Path, look_past: int) -> dict[str, dict]:
    arms = [{"name": "base", "model": {"type": "hf", "args": {"pretrained": str(ORGANISM / "psm-tiny-base")}},
             "render": "transcript:assistant"},
            {"name": "chat", "model": {"type": "hf", "args": {"pretrained": str(ORGANISM / "psm-tiny-chat")}},
             "render": "chat"}]
    config = build_config({"tasks": [str(_task(tmp_path, look_past))], "arms": arms, "cache": False,
                           "out": str(tmp_path / f"runs{look_past}")}, "test")
    return {r["key"]: r for r in records(run(config, progress=False))}


def test_the_stop_that_ended_each_reply_and_what_came_after_it(tmp_path: Path) -> None:
    plain, looked = _run(tmp_path, 0), _run(tmp_path, 6)
    # looking past the stop never changes the reply
    assert {k: r["output"] for k, r in plain.items()} == {k: r["output"] for k, r in looked.items()}
    base = [r for r in looked.values() if r["arm"] == "base"]
    chat = [r for r in looked.values() if r["arm"] == "chat"]
    assert {r["stop_sequence"] for r in chat} == {"<|end|>"}  # the chat model ends its own turn
    assert {r["stop_sequence"] for r in base} <= {"\nUser:", "</s>"} and any(r["stop_sequence"] == "\nUser:"
                                                                            for r in base)
    for r in base + chat:
        assert r["after_stop"] and r["gen"]["look_past"] == 6
        assert "\nUser:" not in r["output"] and "<|end|>" not in r["output"]
    assert all(r["after_stop"] is None for r in plain.values())
    # a transcript whose turn ended at "\nUser:" goes on with the user's next words
    assert any(r["after_stop"].strip() for r in base if r["stop_sequence"] == "\nUser:")


class Fenced(GenerateOnly):
    """A fake model answering in URIAL's fenced layout (tests the runner's wiring only)."""

    capabilities = Capabilities(per_request_seed=True)

    def generate(self, requests: Sequence[GenRequest]) -> list[Outcome]:
        return [Outcome(ok=True, output="```\nOslo is the capital.\n``` ", finish="stop", stop_sequence="# Query")
                for _ in requests]


def test_declared_post_processing_cleans_the_reply_and_keeps_the_raw_one(tmp_path: Path) -> None:
    prompt = Path(__file__).parent / "render" / "urial_prompt.txt"
    config = build_config({"tasks": [str(_task(tmp_path, 0))], "cache": False, "out": str(tmp_path / "runs"),
                           "arms": [{"name": "u", "model": {"type": "dummy"}, "render": f"transcript:urial:prompt={prompt}"}]},
                          "test")
    (first, *_) = records(run(config, progress=False, backend_factory=lambda arm: Fenced()))
    assert first["output"] == "Oslo is the capital." and first["raw_output"] == "```\nOslo is the capital.\n``` "
    assert first["prompt"]["postprocess"] == ["strip_fences"] and first["stop_sequence"] == "# Query"
