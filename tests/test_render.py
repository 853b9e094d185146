"""Rendering is explicit, pure and sandboxed: data is never a template; chat needs a chat template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from psm_eval.errors import RenderError, SpecError
from psm_eval.render import load_persona, make_renderer, shipped_personas
from psm_eval.types import ModelInfo, Turn

TEXT_MODEL = ModelInfo(model_type="hf", accepts="text", bos_token="<s>")
HOSTILE = "Compute {{ 7*7 }} {% raw %}x{% endraw %} {# c #} {{ cycler.__init__.__globals__ }}"
HEADER = '{#- psm\ndescription: test\nstop: ["\\nUser:"]\n-#}\n'
REPO = Path(__file__).resolve().parent.parent
GOLDEN = json.loads((REPO / "tests" / "cases" / "persona_renders.json").read_text(encoding="utf-8"))


def _persona(name: str):
    """A shipped persona, with the fixture prompt file for one that renders a prompt file (urial)."""
    prompt = GOLDEN["prompt_files"].get(name)
    return load_persona(name, REPO / prompt if prompt else None)


def test_golden_renders_cover_every_shipped_persona() -> None:
    assert sorted(GOLDEN["renders"]) == shipped_personas()


@pytest.mark.parametrize("persona", shipped_personas())
def test_shipped_personas_render_their_golden_text(persona: str) -> None:
    for dialogue, expected in zip(GOLDEN["dialogues"], GOLDEN["renders"][persona], strict=True):
        assert _persona(persona).render(tuple(Turn(role, text) for role, text in dialogue)).text == expected


@pytest.mark.parametrize("persona", shipped_personas())
def test_dialogue_text_reaches_the_prompt_literally(persona: str) -> None:
    turns = (Turn("user", HOSTILE), Turn("assistant", "{{ 1+1 }}"), Turn("user", "{% raw %}"))
    prompt = _persona(persona).render(turns, TEXT_MODEL)
    assert HOSTILE in prompt.text and "{{ 1+1 }}" in prompt.text and "{% raw %}" in prompt.text
    assert "49" not in prompt.text
    assert prompt.text.startswith("<s>") and prompt.text.count("<s>") == 1
    assert prompt.renderer == "transcript" and len(prompt.template_hash) == 64 and prompt.stop


@pytest.mark.parametrize("persona", shipped_personas())
def test_every_shipped_prompt_ends_where_the_reply_begins(persona: str) -> None:
    prompt = _persona(persona).render((Turn("user", "Hi"),), TEXT_MODEL)
    assert prompt.text.rstrip("\n").endswith(("Assistant:", "AI:", "# Answer:", "# Answer:\n```"))
    assert not any(prompt.text.endswith(s) for s in prompt.stop)


@pytest.mark.parametrize("body", [
    "{{ messages.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ ''.__class__ }}",
    "{% for m in messages %}{{ m.update({'role': 'x'}) }}{% endfor %}",
])
def test_sandbox_refuses_escapes_in_user_templates(tmp_path: Path, body: str) -> None:
    path = tmp_path / "evil.j2"
    path.write_text(HEADER + body)
    with pytest.raises(RenderError, match="evil.j2"):
        load_persona(str(path))


def test_user_template_by_path_and_header_rules(tmp_path: Path) -> None:
    good = tmp_path / "mine.j2"
    good.write_text(HEADER + "{% for m in messages %}Q: {{ m.content }}\n{% endfor %}A:")
    prompt = load_persona(str(good)).render((Turn("user", "hi"),), TEXT_MODEL)
    assert prompt.text == "<s>Q: hi\nA:" and prompt.stop == ("\nUser:",)
    bare = tmp_path / "bare.j2"
    bare.write_text("{{ messages }}")
    with pytest.raises(RenderError, match="header"):
        load_persona(str(bare))
    undefined = tmp_path / "undef.j2"
    undefined.write_text(HEADER + "{{ nope }}")
    with pytest.raises(RenderError, match="undefined"):
        load_persona(str(undefined))


def test_unknown_persona_and_renderer_suggest() -> None:
    with pytest.raises(RenderError, match="did you mean 'urial'"):
        make_renderer("transcript:urail")
    with pytest.raises(SpecError, match="unknown renderer"):
        make_renderer("template:x")


def test_chat_renderer_refuses_a_model_without_chat_template() -> None:
    with pytest.raises(RenderError, match="no chat template"):
        make_renderer("chat").render((Turn("user", "hi"),), TEXT_MODEL)


def test_named_chat_template_renders_in_the_sandbox(tmp_path: Path) -> None:
    path = tmp_path / "t.jinja"
    path.write_text("{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}[assistant]")
    prompt = make_renderer(f"chat:template={path}").render((Turn("user", "{{ 7*7 }}"),), TEXT_MODEL)
    assert prompt.text == "<s>[user]{{ 7*7 }}[assistant]" and prompt.renderer == "chat"


def test_messages_model_gets_messages_not_text() -> None:
    info = ModelInfo(model_type="local-chat-completions", accepts="messages", supports_loglikelihood=False)
    prompt = make_renderer("chat").render((Turn("system", "s"), Turn("user", "u")), info)
    assert prompt.text is None and prompt.messages == ({"role": "system", "content": "s"}, {"role": "user", "content": "u"})


def test_exactly_one_bos_through_the_real_hf_backend(tiny_models: dict[str, Path]) -> None:
    from psm_eval.backends import create_backend, parse_model_spec

    for name, renderer in (("chat", "chat"), ("base", "transcript:assistant"), ("chat", "transcript:plain")):
        backend = create_backend(parse_model_spec(f"hf:pretrained={tiny_models[name]},dtype=float32"))
        prompt = make_renderer(renderer).render((Turn("user", "hi"),), backend.info)
        ids = backend.lm.tok_encode(prompt.text)
        assert backend.probe.encode(prompt.text) == ids  # the pre-send check counts what lm-eval sends
        assert backend.probe.max_length == backend.lm.max_length
        bos = backend.lm.tokenizer.bos_token_id
        assert ids[0] == bos and ids[1] != bos, (name, renderer, ids[:3])
        backend.close()
    with pytest.raises(RenderError, match="no chat template"):
        base = create_backend(parse_model_spec(f"hf:pretrained={tiny_models['base']},dtype=float32"))
        make_renderer("chat").render((Turn("user", "hi"),), base.info)


# Honest templates render in the worker exactly as in Jinja2's own sandbox in this process.
SAME_AS_JINJA = [
    "{{ x|map('upper')|list }} {{ (x|map('upper'))|first }} {{ x|batch(2, 'z')|list }} {{ x|slice(2)|list }}",
    "{% for m in msgs|selectattr('role', 'eq', 'user') %}{{ loop.index }}/{{ loop.length }}{{ m.content }}"
    "{% if loop.last %}!{% endif %}{% endfor %}{% for m in msgs|rejectattr('n', 'lt', 9) %}{% else %}none{% endfor %}",
    "{{ '{:>5}|{:.2f}|{!r}'.format('a', 3.14159, 'q') }} {{ '{a}{b}'.format_map({'a': 1, 'b': 2}) }}",
    "{{ '%5s|%-3d|%.1f|%%' % ('a', 7, 2.25) }} {{ '%(a)s-%(b)05d' % {'a': 'x', 'b': 42} }} {{ '%s-%s'|format(1, 2) }}",
    "{{ [1, 2, 3]|sum }} {{ [[1], [2]]|sum(start=[]) }} {{ msgs|sum(attribute='n') }} {{ x|join(', ') }}"
    " {{ x|map('upper')|join('-') }} {{ msgs|join('|', attribute='role') }} {{ ','.join(x) }}",
    "{{ 'a,b'|replace(',', ';') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ msgs|tojson }} {{ msgs|tojson(indent=2) }}",
    "{% set ns = namespace(a=1) %}{% for i in range(3) %}{% set ns.a = ns.a * 2 + i %}{% endfor %}{{ ns.a }}"
    " {{ range(5)|last }} {{ range(2, 9, 3)|list }} {{ range(5)|length }}",
    "{{ 'abcdef'[::-1] }} {{ x[1:] }} {{ x[-1] }} {{ {'b': 1, 'a': 2}|dictsort }} {{ msgs|groupby('role') }}"
    " {{ x|unique|list }} {{ x|sort|reverse|list }} {{ x|min }} {{ msgs|map(attribute='n')|max }} {{ x|count }}",
    "{{ 'a\tb'.expandtabs(4) }}|{{ 'x'.center(5, '*') }}|{{ 'x'.ljust(3) }}|{{ '7'.zfill(3) }}"
    "|{{ 'ab'.replace('a', 'zz') }}",
    "{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }} {% set j = joiner(', ') %}"
    "{% for i in x %}{{ j() }}{{ i }}{{ loop.cycle('-', '+') }}{% endfor %}",
    "{% for n in tree recursive %}<{{ n.name }}{% if n.kids %}:{{ loop(n.kids) }}{% endif %}>{% endfor %}",
    "{% filter upper %}abc {{ x|first }}{% endfilter %} {% set b %}x{{ 1 + 1 }}{% endset %}{{ b }}"
    " {% macro m(a) %}[{{ a }}{{ caller(a * 2) }}]{% endmacro %}{% call(v) m(3) %}<{{ v }}>{% endcall %}",
    "{{ 7 // 2 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ -3 % 2 }} {{ 'a' + 'b' }} {{ [1] + [2] }} {{ 'ab' * 3 }} {{ 2 * [0] }}"
    " {{ (2 ** 64) * (2 ** 64) }} {{ 10 ** 300 // 7 % 1000 }}",
    "{{ 'a' in 'abc' }} {{ (1, 2) in {(1, 2): 1} }} {{ d['k'] }} {{ 1 < 2 < 3 }} {{ x == ['a', 'b', 'c'] }}"
    " {{ x.index('b') }} {{ d.items()|list }} {{ d|items|list }} {{ d|string }}",
    "{{ '<b>'|safe ~ 'x' }} {% autoescape true %}{{ '<x>' ~ y }}{{ '<i>'|safe }}{% endautoescape %} {{ '<a>'|e }}"
    " {{ '<a> &amp;'|striptags }} {{ 'go to example.com'|urlize }} {{ {'a': 'b'}|xmlattr }}"
    " {{ {'q': 'x y'}|urlencode }}",
    "{{ 'a b c'|truncate(3, true, '.', 0) }} {{ 'xxhixx'|trim('x') }} {{ 'a\nb'|indent(2, true) }}"
    " {{ 'abc'|center(9) }}"
    " {{ 'Hello World'|title|wordwrap(5) }} {{ msgs[0].content|wordcount }} {{ msgs|pprint }}",
    "{{ 3.14159|round(2, 'floor') }} {{ '42'|int + 1 }} {{ -3|abs }} {{ 1000000|filesizeformat }} {{ x is sequence }}"
    " {{ 4 is divisibleby(2) }} {{ z is defined }} {{ x|select('eq', 'b')|list }} {{ 'é'.encode('latin-1') }}",
    "{% for a, b in [(1, 2), (3, 4)] %}{{ a + b }}{% endfor %} {% for i in range(10) if i is even %}{{ i }}{% endfor %}"
    " {% with q = 5 %}{{ q * q }}{% endwith %}",
]


@pytest.mark.parametrize("source", SAME_AS_JINJA)
def test_the_worker_renders_like_jinjas_own_sandbox(source: str, tmp_path: Path) -> None:
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from psm_eval.render import sandbox

    data = dict(x=["a", "b", "c"], y="<y>", d={"k": 1, "t": "u"},
                msgs=[{"role": "user", "content": "hi there", "n": 1}, {"role": "assistant", "content": "yo", "n": 5}],
                tree=[{"name": "r", "kids": [{"name": "a", "kids": []},
                                             {"name": "b", "kids": [{"name": "c", "kids": []}]}]}])
    jinjas = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined).from_string(source).render(**data)
    (tmp_path / "t.j2").write_text(source)
    assert sandbox.render("test", name="t.j2", search=[tmp_path], **data) == jinjas
