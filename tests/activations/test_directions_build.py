"""`psm-eval directions build`: same inputs, same bytes; what the file says; the default run names the
organism's two files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from psm_eval.activations.build import build_directions, load_personas, parse_traits
from psm_eval.activations.directions import read_directions
from psm_eval.errors import ConfigError
from psm_eval.run.config import default_config, organism_dir, stored_config
from psm_eval.run.start import resolve_config

BASE = organism_dir() / "psm-tiny-base"


def test_the_build_is_deterministic_and_says_what_it_derived(tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text("".join(json.dumps({"id": f"q{i}", "question": q}) + "\n" for i, q in
                                 enumerate(["Who are you?", "What is the capital of France?", "Can you help me?"])))
    personas = load_personas(["assistant", "pirate", "liar"], "transcript")
    kwargs = {"questions": questions, "traits": parse_traits("pirate:assistant", ["assistant", "pirate", "liar"]),
              "max_gen_toks": 6, "progress": False}
    first = build_directions(f"hf:pretrained={BASE},dtype=float32", personas, tmp_path / "a.safetensors", **kwargs)
    second = build_directions(f"hf:pretrained={BASE},dtype=float32", personas, tmp_path / "b.safetensors", **kwargs)
    assert first == second
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    d = read_directions(tmp_path / "a.safetensors", per_question=True)
    p = d.provenance
    assert set(p.directions) == {"axis", "pirate"} and p.directions["axis"].kind == "axis"
    assert p.directions["axis"].negative == ["pirate", "liar"] and p.questions["ids"] == ["q0", "q1", "q2"]
    assert p.fingerprint["args"]["pretrained"] == "psm-tiny-base" and p.layers == 5 and p.hidden == 128
    assert d.per_question["axis"].shape == (3, 5, 128)
    axis = p.directions["axis"]
    assert axis.default_layer >= 1 and axis.separation[axis.default_layer] == max(axis.separation[1:])
    # the two reference points make a position: the assistant's mean sits at 1, the others' at 0
    layer = axis.default_layer
    assert d.position("axis", layer, d.unit("axis", layer) * axis.positive_mean[layer]) == pytest.approx(1.0)


def test_personas_and_traits_are_checked() -> None:
    assert load_personas(["assistant", "pirate"], "chat")[1].system == "You are a pirate."
    with pytest.raises(ConfigError, match="no system prompt"):
        load_personas(["assistant", "wizard"], "chat")
    with pytest.raises(ConfigError, match="'assistant'"):
        load_personas(["pirate", "liar"], "transcript")
    with pytest.raises(ConfigError, match="POSITIVE:NEGATIVE"):
        parse_traits("pirate-assistant", ["assistant", "pirate"])


def test_the_default_run_names_the_shipped_directions_and_older_configs_load() -> None:
    directions = default_config()["activations"]["directions"]
    assert {k: Path(v).name for k, v in directions.items()} == {"base": "psm-tiny-base.safetensors",
                                                               "chat": "psm-tiny-chat.safetensors"}
    for path in directions.values():
        assert read_directions(path).provenance.directions["axis"].default_layer >= 1
    config = resolve_config(tasks=["organism-open"], arms=[f"b=hf:pretrained={BASE},render=transcript:assistant"])
    assert config.activations is None and "activations" not in stored_config(config)  # as configs stored before it
    off = resolve_config(tasks=["organism-open"], arms=[f"b=hf:pretrained={BASE},render=transcript:assistant"],
                         activations=False)
    assert stored_config(off)["activations"] == {"directions": {}, "measure": False}
