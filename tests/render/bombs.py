"""Hostile persona templates: 31 that repeat work, 39 that widen text or structures, 4 sandbox
escapes. Shared by the reliability tests and `benchmarks/render_sandbox.py`.

The sandbox worker refuses a template by what it does (CPU time, memory, prompt size), not by an
estimate of what it might do, so eight of them render, within the limits, on the 100 kB text they
are given (`WITHIN_LIMITS`): three quadratic loops that take under 1 s of CPU there (refused once the
text is 1 MB: `QUADRATIC`), and five operations that are cheap on this input.
"""

from __future__ import annotations

HEADER = "{#- psm\nstop: ['\\nUser:']\n-#}\n"
LONG = ("ab.c\t\n " * 20000)[:100_000]  # the text bombs are rendered on: `t` in their bodies ("probe" at load)
DAG = "{% set ns = namespace(x=[1], y=[1]) %}{% for i in range(40) %}{% set ns.x = [ns.x, ns.x] %}" \
      "{% set ns.y = [ns.y, ns.y] %}{% endfor %}"  # 2**40 elements when written out, 80 lists in memory
# Work that repeats: refused by the CPU-time limit, Jinja's range cap or Python's recursion limit.
TIME_BOMBS = [
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    "{% for a in t %}{% for b in t %}{% endfor %}{% endfor %}",
    "{% for a in t|map('upper') %}{% for b in t|list %}{% endfor %}{% endfor %}",
    "{% for a in t %}{% if t == t ~ '' %}{% endif %}{% endfor %}",
    "{% for a in t %}{% set x = t.upper() %}{% endfor %}",
    "{% for a in t %}{% set x = t[1:] %}{% endfor %}",
    "{% for a in t %}{% set x = t|trim %}{% endfor %}",
    "{% for i in range(900000) %}" + "{% set a = 1 %}" * 1000 + "{% endfor %}",
    "{% set c = cycler(t, t) %}{% for i in range(900000) %}{% if loop.changed(c.next()) %}{% endif %}{% endfor %}",
    "{% set x %}{% for i in range(900000) %}{{ t }}{% endfor %}{% endset %}",
    "{% macro m() %}{{ caller() }}{{ caller() }}{% endmacro %}{% for i in range(90000) %}{% call m() %}{{ t }}"
    "{% endcall %}{% endfor %}",
    "{% block b %}{{ t }}{% endblock %}{% for i in range(900000) %}{% set x = self.b() %}{% endfor %}",
    "{% for a in [1, 2] recursive %}{{ loop([1, 2]) }}{% endfor %}",
    "{% for a in [1, 2] recursive %}{% if loop.depth < 50 %}{{ loop([1, 2]) }}{% endif %}{% endfor %}",
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
    "{% include 'evil.j2' %}",
    "{% for i in range(100) %}{% set x = range(900000)|list %}{% endfor %}",
    "{% for i in range(100) %}{% set x = {}.fromkeys(range(900000)) %}{% endfor %}",
    "{{ range(10)|slice(10**9)|list }}",
    "{{ ([[1]] * 1000000)|sum(start=[]) }}",
    "{% for i in range(100) %}{% set x = (t * 19)|wordwrap(5) %}{% endfor %}",
    "{% for a in t %}" * 25 + "{% endfor %}" * 25,  # nested past Python's compiler
    "{{ " + "(" * 2000 + "1" + ")" * 2000 + " }}",  # nested past Jinja's parser
    "{{ " + " and ".join(["t"] * 300) + " }}",  # deep enough to take Jinja's optimiser seconds: refused first
    "{{ 1 / 0 }}",
    DAG + "{{ ns.x }}",  # shared references: tiny in memory, exponential when written out, compared or hashed
    DAG + "{{ ns.x == ns.y }}",
    DAG + "{{ '{!r}'.format(ns.x) }}",
    "{% set ns = namespace(x=(1,)) %}{% for i in range(40) %}{% set ns.x = (ns.x, ns.x) %}{% endfor %}"
    "{% set d = {ns.x: 1} %}",
]
# Operations that widen text or structures: refused by the memory limit or the prompt-size cap.
SIZE_BOMBS = [
    "{{ 'x' * 10**9 }}",
    "{{ 2 ** 100000000 }}",
    "{% set ns = namespace(n=3) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}{% endfor %}",
    "{% set ns = namespace(n=3) %}{% for i in range(9000) %}{% set ns.n = ns.n - (-ns.n) %}{% endfor %}",
    "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "{% set ns = namespace(s=[1]) %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
    "{{ " + " ~ ".join(["t"] * 100) + " }}",
    "{{ ([t] * 1000)|join }}",
    "{{ ','.join([t] * 1000) }}",
    "{{ t.join(t) }}",
    "{{ 'x'|center(10**9) }}",
    "{{ t|indent(1000000) }}",
    "{{ ('\\n' * 1000000)|indent(100) }}",
    "{{ t|wordwrap(1, wrapstring='x' * 100000) }}",
    "{{ t|replace('c', t) }}",
    "{{ t.replace('', t) }}",
    "{{ t.translate({97: t}) }}",
    "{{ 'x'.ljust(10**9) }}",
    "{{ 'x'.rjust(10**9) }}",
    "{{ 'x'.zfill(10**9) }}",
    "{{ t.center(10**9) }}",
    "{{ t.expandtabs(100000) }}",
    "{{ (1).to_bytes(10**9, 'big') }}",
    "{{ '%1000000000s' % 'x' }}",
    "{{ '%*s' % (1000000000, 'x') }}",
    "{{ '%.1000000000f' % 1.0 }}",
    "{{ ('%(a)s' * 10000) % {'a': t} }}",
    "{{ '%1000000000s'|format('x') }}",
    "{{ '{:>1000000000}'.format('x') }}",
    "{{ '{:{w}}'.format('x', w=1000000000) }}",
    "{{ ('{0}' * 1000).format(t) }}",
    "{{ ('{a}' * 1000).format_map({'a': t}) }}",
    "{{ (t * 19)|trim('y' * 1000000 ~ 'x') }}",
    "{{ t.encode('punycode') }}",
    "{{ range(10)|batch(10**9, 'x')|list }}",
    "{{ lipsum(10**9) }}",
    "{{ ([[[[1]]]] * 1000)|tojson(indent=10**6) }}",
    "{{ t|urlize(target='x' * 100000) }}",
    "{% set x %}{% for i in range(900000) %}" + "y" * 2000 + "{% endfor %}{% endset %}",
]
ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('echo pwned').read() }}",
    "{{ self._TemplateReference__context }}",
    "{% set x = [] %}{% for i in range(10) %}{{ x.append(i) }}{% endfor %}",
]

QUADRATIC = [  # per loop item, a copy or comparison of the whole text: 10**10 characters on 100 kB
    "{% for a in t %}{% if t == t ~ '' %}{% endif %}{% endfor %}",
    "{% for a in t %}{% set x = t[1:] %}{% endfor %}",
    "{% for a in t %}{% set x = t|trim %}{% endfor %}",
]
WITHIN_LIMITS = QUADRATIC + [
    "{% set ns = namespace(n=3) %}{% for i in range(9000) %}{% set ns.n = ns.n - (-ns.n) %}{% endfor %}",  # 9000 bits
    "{{ ('\\n' * 1000000)|indent(100) }}",  # blank lines are not indented: 1 M characters
    "{{ (t * 19)|trim('y' * 1000000 ~ 'x') }}",  # the text's ends are in no set: nothing to strip
    "{{ t.encode('punycode') }}",  # ASCII text: linear
    "{{ t|urlize(target='x' * 100000) }}",  # no link in the text
]


def bomb_source(body: str) -> str:
    """A persona template that runs `body` on the dialogue's last message, then prints the dialogue."""
    return HEADER + "{% set t = messages[-1].content %}" + body + "{% for m in messages %}{{ m.content }}{% endfor %}"
