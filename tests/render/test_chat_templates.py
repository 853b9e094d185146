"""Issue 14, item 6: a named chat template (`render=chat:template=PATH`) renders byte for byte as
transformers' `tokenizer.apply_chat_template(..., add_generation_prompt=True)` does, on five
templates written in the styles of Llama 3, ChatML/Qwen, Mistral, Gemma and Phi, compared with a
real tokenizer (the organism's, carrying each template) on several dialogues."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import pytest

from psm_eval.errors import RenderError
from psm_eval.render import make_renderer
from psm_eval.types import ModelInfo, Turn

TEMPLATES = Path(__file__).parent / "chat_templates"
STYLES = sorted(p.stem for p in TEMPLATES.glob("*.jinja"))
TOKENIZER = Path(__file__).resolve().parents[2] / "psm_eval" / "organism" / "models" / "psm-tiny-chat"
DIALOGUES = [
    [("user", "Hi")],
    [("system", "Be brief."), ("user", "Q1"), ("assistant", "A1"), ("user", "Q2 <b>é & 'x'\n")],
    [("user", "  padded  \n"), ("assistant", "{{ 7*7 }} {% raw %} {# c #}"), ("user", "多语言 \u202eRTL\u202c\ttab")],
    [("system", ""), ("user", "an empty system message first")],
]
ALTERNATING = ("mistral", "gemma")  # the styles that refuse two user turns in a row


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(TOKENIZER))


def _info(tok: Any) -> ModelInfo:
    return ModelInfo(model_type="hf", accepts="text", bos_token=tok.bos_token,
                             special_tokens=dict(tok.special_tokens_map))


def _theirs(tok: Any, source: str, dialogue: list[tuple[str, str]]) -> str:
    tok.chat_template = source
    return tok.apply_chat_template([{"role": r, "content": c} for r, c in dialogue], tokenize=False,
                                   add_generation_prompt=True)


def _ours(tok: Any, path: Path, dialogue: list[tuple[str, str]]) -> str:
    prompt = make_renderer(f"chat:template={path}").render(tuple(Turn(r, c) for r, c in dialogue), _info(tok))
    assert prompt.text is not None and prompt.renderer == "chat" and prompt.template == str(path.resolve())
    return prompt.text


def test_the_five_styles_are_there() -> None:
    assert STYLES == ["chatml", "gemma", "llama3", "mistral", "phi"]


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("dialogue", range(len(DIALOGUES)))
def test_named_template_renders_byte_for_byte_as_transformers(tokenizer: Any, style: str, dialogue: int) -> None:
    path = TEMPLATES / f"{style}.jinja"
    theirs = _theirs(tokenizer, path.read_text(encoding="utf-8"), DIALOGUES[dialogue])
    assert _ours(tokenizer, path, DIALOGUES[dialogue]) == theirs


@pytest.mark.parametrize("style", ALTERNATING)
def test_raise_exception_on_a_bad_role_order_is_one_line_with_the_templates_message(tokenizer: Any,
                                                                                     style: str) -> None:
    path = TEMPLATES / f"{style}.jinja"
    bad = [("user", "one"), ("user", "two")]
    with pytest.raises(jinja2.exceptions.TemplateError) as theirs:
        _theirs(tokenizer, path.read_text(encoding="utf-8"), bad)
    with pytest.raises(RenderError) as ours:
        _ours(tokenizer, path, bad)
    message = str(ours.value)
    assert message == f"chat template {path}: TemplateError: {theirs.value}" and "\n" not in message


ISSUE_TEMPLATE = """{% for m in messages %}
{% if m.role == 'user' %}U: {{ m.content }}
{% else %}A: {{ m.content }}
{% endif %}{% endfor %}A:"""


def test_the_issues_three_line_template_and_loop_controls(tokenizer: Any, tmp_path: Path) -> None:
    dialogue = [("user", "Q1"), ("assistant", "A1"), ("user", "Q2")]
    path = tmp_path / "three.jinja"
    path.write_text(ISSUE_TEMPLATE)
    assert _ours(tokenizer, path, dialogue) == _theirs(tokenizer, ISSUE_TEMPLATE, dialogue) == "U: Q1\nA: A1\nU: Q2\nA:"
    controls = "{% for m in messages %}{% if m.role == 'assistant' %}{% continue %}{% endif %}" \
               "{{ m.content }}{% if loop.index > 2 %}{% break %}{% endif %}{% endfor %}"
    path.write_text(controls)
    dialogue = [("user", "a"), ("assistant", "b"), ("user", "c"), ("user", "d")]
    assert _ours(tokenizer, path, dialogue) == _theirs(tokenizer, controls, dialogue) == "ac"


def test_filters_globals_and_undefined_as_transformers(tokenizer: Any, tmp_path: Path) -> None:
    source = ("{{ messages | tojson }}|{{ messages[0] | tojson(indent=2, sort_keys=true) }}|{{ tools is none }}"
              "|{{ documents }}|{{ nothing_passed }}|{{ eos_token }}{{ pad_token }}|{{ dict(a=1) }}"
              "|{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}"
              "|{% generation %}{{ messages[-1].content }}{% endgeneration %}|{{ strftime_now('%Y') }}")
    path = tmp_path / "features.jinja"
    path.write_text(source)
    dialogue = [("user", "<b>é & 'q' \"dq\"")]
    assert _ours(tokenizer, path, dialogue) == _theirs(tokenizer, source, dialogue)
    assert '"<b>é & \'q\' \\"dq\\""' in _ours(tokenizer, path, dialogue)  # no HTML escaping, non-ASCII kept


def test_a_named_template_stays_sandboxed(tokenizer: Any, tmp_path: Path) -> None:
    for n, body in enumerate(["{{ ''.__class__.__mro__ }}", "{{ cycler.__init__.__globals__.os }}",
                              "{% set ns = namespace() %}{% set ns._x = 1 %}{{ ns._x }}",
                              "{% for m in messages %}{{ m.update({'role': 'x'}) }}{% endfor %}"]):
        path = tmp_path / f"evil{n}.jinja"
        path.write_text(body)
        with pytest.raises(RenderError, match=f"evil{n}.jinja: refused: .*unsafe|may not start with") as refused:
            _ours(tokenizer, path, [("user", "hi")])
        assert "\n" not in str(refused.value)
    # an unsafe attribute merely printed is an empty Undefined, as in transformers: nothing leaks
    path = tmp_path / "quiet.jinja"
    path.write_text("[{{ (1).__class__ }}]")
    assert _ours(tokenizer, path, [("user", "hi")]) == _theirs(tokenizer, "[{{ (1).__class__ }}]", [("user", "hi")]) == "[]"


def test_without_the_tokenizers_special_tokens_only_the_bos_is_known(tmp_path: Path) -> None:
    path = tmp_path / "t.jinja"
    path.write_text("{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}")
    prompt = make_renderer(f"chat:template={path}").render((Turn("user", "x"),),
                                                         ModelInfo(model_type="hf", accepts="text", bos_token="<s>"))
    assert prompt.text == "<s>||True"
