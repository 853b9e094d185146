"""Issue 15, item 9: `transcript:urial:prompt=PATH` renders a URIAL prompt file exactly in URIAL's
published layout (the prompt file as written, each query and answer fenced in ```, the open answer
fence, a stop on "# Query", fences stripped from replies); the short template is now `icl`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from psm_eval.errors import RenderError, SpecError
from psm_eval.render import load_persona, make_renderer, postprocess
from psm_eval.render.postprocess import strip_fences
from psm_eval.run.config import parse_arm
from psm_eval.types import ModelInfo, Prompt, Turn

PROMPT = Path(__file__).parent / "urial_prompt.txt"
TEXT_MODEL = ModelInfo(model_type="hf", accepts="text", bos_token="<s>")
DIALOGUES = [
    [("user", "Hi")],
    [("user", "What is 2+2?"), ("assistant", "4"), ("user", "And 3+3?\nShow the steps.")],
    [("system", "Answer in French."), ("user", "Bonjour ?")],
]


def published_layout(prompt: str, dialogue: list[tuple[str, str]]) -> str:
    """URIAL's layout, built by hand: the prompt file, each turn as "\\n# Query:\\n```\\n...\\n```\\n"
    (or "# Answer:"), then the open answer "\\n# Answer:\\n```\\n" (a system message, which URIAL's
    layout lacks, follows the prompt file as its own paragraph)."""
    text = prompt
    system = next((c for r, c in dialogue if r == "system"), None)
    if system:
        text += f"\n{system}\n"
    for role, content in dialogue:
        if role != "system":
            text += f"\n# {'Query' if role == 'user' else 'Answer'}:\n```\n{content}\n```\n"
    return text + "\n# Answer:\n```\n"


def _urial(prompt: Path = PROMPT):
    return make_renderer(f"transcript:urial:prompt={prompt}")


def test_the_fixture_prompt_is_in_urial_layout() -> None:
    text = PROMPT.read_text(encoding="utf-8")
    head, *examples = text.split("\n\n# Query:\n```\n")
    assert head.startswith("# Instruction\n\n") and len(examples) == 3
    for example in examples:
        query, answer = example.split("\n```\n\n# Answer:\n```\n")
        assert query and "```" not in query and answer.endswith("\n```\n" if example is examples[-1] else "\n```")
    assert 300 <= len(text.split()) <= 600


@pytest.mark.parametrize("dialogue", DIALOGUES)
def test_urial_renders_the_published_layout(dialogue: list[tuple[str, str]]) -> None:
    prompt = _urial().render(tuple(Turn(r, c) for r, c in dialogue), TEXT_MODEL)
    assert prompt.text == "<s>" + published_layout(PROMPT.read_text(encoding="utf-8"), dialogue)
    assert prompt.text.endswith("# Answer:\n```\n")
    assert prompt.stop == ("# Query",) and prompt.answer_prefix == "" and prompt.postprocess == ("strip_fences",)
    assert prompt.renderer == "transcript" and prompt.template == f"urial:prompt={PROMPT.resolve()}"


def test_the_prompt_file_is_text_never_a_template(tmp_path: Path) -> None:
    hostile = tmp_path / "p.txt"
    hostile.write_text("# Instruction\n\n{{ 7*7 }} {% raw %} {# c #} {{ cycler.__init__ }}\n")
    text = _urial(hostile).render((Turn("user", "q"),), TEXT_MODEL).text
    assert text == "<s>" + published_layout(hostile.read_text(), [("user", "q")])


def test_template_hash_covers_the_prompt_file(tmp_path: Path) -> None:
    other = tmp_path / "other.txt"
    other.write_text(PROMPT.read_text(encoding="utf-8").replace("candid", "frank"))
    turns = (Turn("user", "q"),)
    a, b, again = (_urial(p).render(turns, TEXT_MODEL) for p in (PROMPT, other, PROMPT))
    assert a.template_hash != b.template_hash and a.template_hash == again.template_hash
    assert a.template_hash != load_persona("urial").sha256


def test_bare_urial_is_one_line_saying_what_to_pass() -> None:
    for call in (lambda: make_renderer("transcript:urial"),
                 lambda: load_persona("urial").render((Turn("user", "q"),), TEXT_MODEL)):
        with pytest.raises(RenderError) as refused:
            call()
        message = str(refused.value)
        assert "\n" not in message and "transcript:urial:prompt=PATH" in message and "'transcript:icl'" in message


def test_prompt_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="transcript:<persona>:prompt=PATH"):
        make_renderer("transcript:urial:prompt=")
    with pytest.raises(SpecError, match="transcript:<persona>:prompt=PATH"):
        make_renderer(f"transcript:urial:file={PROMPT}")
    with pytest.raises(RenderError, match="'assistant' takes no prompt file"):
        make_renderer(f"transcript:assistant:prompt={PROMPT}")
    with pytest.raises(RenderError, match="prompt file .*missing.txt not found"):
        make_renderer(f"transcript:urial:prompt={tmp_path / 'missing.txt'}")
    (tmp_path / "big.txt").write_text("x" * 300_000)
    with pytest.raises(RenderError, match="larger than"):
        make_renderer(f"transcript:urial:prompt={tmp_path / 'big.txt'}")


def test_an_arm_spec_carries_the_prompt_path_even_with_a_comma(tmp_path: Path) -> None:
    folder = tmp_path / "a,b"
    folder.mkdir()
    (folder / "p.txt").write_text(PROMPT.read_text(encoding="utf-8"))
    arm = parse_arm(f'base=hf:pretrained=x,render="transcript:urial:prompt={folder / "p.txt"}"')
    assert arm["render"] == f"transcript:urial:prompt={folder / 'p.txt'}"
    assert make_renderer(arm["render"]).render((Turn("user", "q"),), TEXT_MODEL).text.endswith("# Answer:\n```\n")


def test_strip_fences_is_urials_cleanup_and_postprocess_applies_the_declared_steps() -> None:
    raw = "Sure! Here it is:\n\n```python\nprint(1)\n```\nAnything else?\n```\n\n"  # as cut by the stop "# Query"
    assert strip_fences(raw) == "Sure! Here it is:\n\npython\nprint(1)\n\nAnything else?"
    assert postprocess(raw, ("strip_fences",)) == strip_fences(raw) and postprocess(raw, ()) == raw
    assert strip_fences("  no fences  ") == "no fences"


def test_prompt_json_names_postprocess_only_when_declared() -> None:
    plain = Prompt(text="t", renderer="transcript", template="icl", template_hash="h", stop=("x",))
    assert json.dumps(plain.to_json(), sort_keys=True) == (
        '{"renderer": "transcript", "stop": ["x"], "template": "icl", "template_hash": "h", "text": "t"}')
    fenced = Prompt(text="t", renderer="transcript", template="urial", template_hash="h", stop=("x",),
                    postprocess=("strip_fences",))
    assert fenced.to_json()["postprocess"] == ["strip_fences"]


def test_header_postprocess_and_prompt_fields_are_checked(tmp_path: Path) -> None:
    for n, (extra, match) in enumerate([("postprocess: [strip_fence]", "did you mean 'strip_fences'"),
                                        ("postprocess: strip_fences", "must be a list"),
                                        ("prompt: optional", "'prompt' is 'required'"),
                                        ("description: [1, 2]", "must be strings")]):
        path = tmp_path / f"p{n}.j2"
        path.write_text('{#- psm\nstop: ["\\nUser:"]\n' + extra + "\n-#}\n{{ messages }}")
        with pytest.raises(RenderError, match=match):
            load_persona(str(path))


def test_a_users_template_can_take_a_prompt_file_too(tmp_path: Path) -> None:
    path = tmp_path / "mine.j2"
    path.write_text('{#- psm\nstop: ["\\nQ:"]\nprompt: required\n-#}\n{{ prompt }}{% for m in messages %}'
                    "Q: {{ m.content }}\n{% endfor %}A:")
    prompt_file = tmp_path / "p.txt"
    prompt_file.write_text("Header.\n")
    text = make_renderer(f"transcript:{path}:prompt={prompt_file}").render((Turn("user", "hi"),), TEXT_MODEL).text
    assert text == "<s>Header.\nQ: hi\nA:"


def test_icl_is_the_short_template_and_says_it_is_not_urial() -> None:
    icl = load_persona("icl")
    assert "not URIAL" in icl.description and not icl.needs_prompt and icl.postprocess == ()
    assert icl.render((Turn("user", "Hi"),)).text.endswith("# Query:\nHi\n# Answer:\n")
