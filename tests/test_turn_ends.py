"""Issue «psm_eval core»: a base model's reply through each shipped transcript template stops at the
end of the assistant's turn (the template's stop sequences), never running on into the next turn.

Templates that render a prompt file the user supplies (`urial`) are not run here: a URIAL prompt is
about 1,000 tokens, past the organism's 128-token context, and the organism never saw its fenced
layout; `tests/render/test_urial.py` checks their layout, stop and clean-up."""

from __future__ import annotations

from pathlib import Path

from psm_eval.render import load_persona, shipped_personas
from psm_eval.run.config import organism_dir
from psm_eval.run.runner import run
from psm_eval.run.start import build_config
from tests.fixtures.files import read_jsonl

QUESTIONS = ["What is the capital of Norway?", "Who are you?", "What colour is a plum?", "How many legs does a bee have?"]


def test_every_shipped_template_ends_the_base_models_turn(tmp_path: Path) -> None:
    task = tmp_path / "q"
    task.mkdir()
    (task / "data.jsonl").write_text("".join(f'{{"id": "q{i}", "q": "{q}"}}\n' for i, q in enumerate(QUESTIONS)))
    (task / "task.yaml").write_text("name: q\nversion: 1\ndescription: d\ndata: {path: data.jsonl}\n"
                                    "fields: {id: id, prompt: q}\ngeneration: {max_gen_toks: 24}\n")
    base = {"type": "hf", "args": {"pretrained": str(organism_dir() / "psm-tiny-base")}}
    personas = [p for p in shipped_personas() if not load_persona(p).needs_prompt]
    arms = [{"name": p, "model": base, "render": f"transcript:{p}"} for p in personas]
    out = run(build_config({"tasks": [str(task)], "arms": arms, "out": str(tmp_path), "cache": False}, "test"),
              progress=False)
    records = list(read_jsonl(out / "generations.jsonl"))
    assert {r["arm"] for r in records} == set(personas) and "icl" in personas
    for r in records:
        assert r["status"] == "ok", (r["arm"], r["error"])
        assert r["finish"] == "stop", (r["arm"], r["output"])  # ended by the turn's end, not max_gen_toks
        assert "\n" not in r["output"].strip(), (r["arm"], r["output"])  # one turn, not the next speaker's
        assert r["output"].strip(), r["arm"]
