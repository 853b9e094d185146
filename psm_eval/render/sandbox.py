"""The one Jinja environment for persona and named chat templates: Jinja2's immutable sandbox,
StrictUndefined, and the per-render budget (`budget.py`, `guards.py`) wired into every place a
template can repeat or widen work: loops, bodies, calls, filters, tests, operators, formatting, output.
"""

from __future__ import annotations

import os
import posixpath
import types
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.loaders import split_template_path
from jinja2.runtime import LoopContext, Macro, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEscapeFormatter, SandboxedFormatter
from jinja2.utils import pass_context, pass_eval_context
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

from psm_eval.errors import RenderError
from psm_eval.render import budget as b
from psm_eval.render import guards as g

__all__ = ["sandbox", "render_bounded", "one_line", "MAX_PROMPT_CHARS", "MAX_TEMPLATE_BYTES"]

MAX_PROMPT_CHARS = b.MAX_PROMPT_CHARS
MAX_TEMPLATE_BYTES = 200_000
MAX_NESTING = 100  # template syntax tree depth; the shipped personas nest about 10


_NODE_STEPS = {nodes.Getattr: b.ATTRIBUTE_STEPS, nodes.Getitem: b.ATTRIBUTE_STEPS, nodes.Output: b.ATTRIBUTE_STEPS,
               nodes.Include: b.TEMPLATE_STEPS, nodes.Import: b.TEMPLATE_STEPS, nodes.FromImport: b.TEMPLATE_STEPS}


def _size(node: nodes.Node, memo: dict[int, tuple[int, int, nodes.Node]]) -> tuple[int, int]:
    """Steps and literal characters of one node and all below it (memoised, as bodies nest; the
    memo holds the node so that its id is not reused)."""
    known = memo.get(id(node))
    if known is None:
        steps, chars = _NODE_STEPS.get(type(node), 1), 0
        if isinstance(node, nodes.TemplateData):
            chars = len(node.data)
        elif isinstance(node, nodes.Const) and isinstance(node.value, str):
            chars = len(node.value)
        for child in node.iter_child_nodes():
            child_steps, child_chars = _size(child, memo)
            steps, chars = steps + child_steps, chars + child_chars
        known = memo[id(node)] = (steps, chars, node)
    return known[0], known[1]


def _call(name: str, node: nodes.Node, *args: Any, lineno: int) -> nodes.Filter:
    """A call of one of the budget's own filters (names a template cannot spell)."""
    consts = [a if isinstance(a, nodes.Node) else nodes.Const(a, lineno=lineno) for a in args]
    return nodes.Filter(node, name, consts, [], None, None, lineno=lineno)


class _Bounder(NodeTransformer):
    """Rewrites a parsed template so that every loop item, every run of a body (template, block,
    macro, call block, loop iteration), every comparison, dict key, slice and `~` spends the budget."""

    def __init__(self) -> None:
        self._memo: dict[int, tuple[int, int, nodes.Node]] = {}

    def _cost(self, body: Sequence[nodes.Node]) -> tuple[int, int]:
        """What one run of a body may do, at most: its steps and literal characters."""
        sizes = [_size(stmt, self._memo) for stmt in body]
        return sum(s for s, _ in sizes), sum(c for _, c in sizes)

    def _enter(self, node: nodes.Node, body: list[nodes.Node], extra: int = 0) -> list[nodes.Node]:
        steps, chars = self._cost(body)
        steps += extra
        if not steps:
            return body
        charge = _call("psm:spend", nodes.Const(None, lineno=node.lineno), steps, chars, lineno=node.lineno)
        return [nodes.ExprStmt(charge, lineno=node.lineno), *body]

    def _body(self, node: Any) -> nodes.Node:
        self.generic_visit(node)
        node.body = self._enter(node, node.body)
        return node

    visit_Block = visit_Macro = visit_CallBlock = _body

    def visit_Template(self, node: nodes.Template) -> nodes.Node:  # every render of it, included or not
        self.generic_visit(node)
        node.body = self._enter(node, node.body, b.TEMPLATE_STEPS)
        return node

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        test = self._cost([node.test]) if node.test is not None else (0, 0)
        body = (0, 0) if node.recursive else self._cost(node.body)
        if node.recursive:  # loop(children) runs the test and body on items psm:loop never sees
            node.body = self._enter(node, node.body)
            if node.test is not None:
                node.test, test = _call("psm:spend", node.test, *test, lineno=node.lineno), (0, 0)
        node.iter = _call("psm:loop", node.iter, 1 + test[0] + body[0], test[1] + body[1], lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _call("psm:concat", node.nodes[0], *node.nodes[1:], lineno=node.lineno)

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:
        self.generic_visit(node)
        (first, *more) = node.ops
        if not more and first.op in ("eq", "ne") and nodes.Const in (type(node.expr), type(first.expr)):
            return node  # `m.role == "user"`: equality stops within the constant's length
        node.expr = _call("psm:weigh", node.expr, lineno=node.lineno)
        for op in node.ops:
            op.expr = _call("psm:weigh", op.expr, lineno=node.lineno)
        return node

    def visit_Getitem(self, node: nodes.Getitem) -> nodes.Node:  # a slice copies; jinja slices without getitem()
        self.generic_visit(node)
        return _call("psm:built", node, lineno=node.lineno) if isinstance(node.arg, nodes.Slice) else node

    def visit_Pair(self, node: nodes.Pair) -> nodes.Node:  # dict keys are hashed, tuples deeply
        self.generic_visit(node)
        node.key = _call("psm:weigh", node.key, lineno=node.lineno)
        return node


def _check_nesting(root: nodes.Node) -> None:
    """Refuse deep nesting before Jinja's optimiser and Python's compiler meet it: between what
    they refuse outright and what they handle fast, they take seconds (`a and a and ...` × 300)."""
    stack = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            raise jinja2.exceptions.SecurityError(f"the template nests more than {MAX_NESTING} levels deep")
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())


class _BoundedCodeGenerator(CodeGenerator):
    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        _check_nesting(node)
        _Bounder().visit(node)
        node.set_environment(self.environment)
        super().visit_Template(node, frame)


class _BoundedTemplate(jinja2.Template):
    def render(self, *args: Any, **kwargs: Any) -> str:
        """A plain render (judge prompts) gets its own budget too."""
        if b.BUDGET.get() is not None:
            return super().render(*args, **kwargs)
        token = b.BUDGET.set(b.Budget(b.text_size([args, kwargs])))
        try:
            return super().render(*args, **kwargs)
        finally:
            b.BUDGET.reset(token)


class _BoundedFormatter(SandboxedFormatter):
    """str.format in a template: each field's value and width are added up before it is written."""

    _built = 0

    def vformat(self, format_string: str, args: Sequence[Any], kwargs: Any) -> str:
        self._built = len(format_string)
        return super().vformat(format_string, args, kwargs)

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Any) -> tuple[Any, str]:
        obj, first = super().get_field(field_name, args, kwargs)
        self._built += b.weigh(obj) + (320 if isinstance(obj, float) else 0)
        b.fits(self._built, "str.format()")
        return obj, first

    def format_field(self, value: Any, format_spec: str) -> Any:
        self._built += g.spec_width(format_spec)
        b.fits(self._built, "str.format()")
        return super().format_field(value, format_spec)


class _BoundedEscapeFormatter(_BoundedFormatter, SandboxedEscapeFormatter):
    pass


@pass_context  # never folded at compile time: it must run each time
def _spend(context: Any, value: Any, steps: int, chars: int) -> Any:
    b.spend(steps, chars)
    return value


@pass_eval_context
def _concat(eval_ctx: Any, *parts: Any) -> str:
    size = sum(b.weigh(p) for p in parts)
    b.fits(size, "'~'")
    b.spend(chars=size)
    return (markup_join if eval_ctx.volatile or eval_ctx.autoescape else str_join)(parts)


def _weighed(value: Any) -> Any:
    """A value read whole: compared, or hashed as a dict key; also every `{{ ... }}` output, top
    level or captured by set/macro/call/filter blocks (the environment's finalize)."""
    budget = b.BUDGET.get()
    if budget is not None:  # inline: this runs for every output and comparison
        budget.chars -= len(value) if type(value) is str else b.weigh(value)
        if budget.chars < 0:
            b.spend()
    return value


_FILTERS = {name: g.guard_filter(name, f) for name, f in jinja2.filters.FILTERS.items()}
_FILTERS.update({"psm:loop": b.Budgeted, "psm:spend": _spend, "psm:concat": _concat, "psm:weigh": _weighed,
                 "psm:built": b.charged})
_TESTS = {name: g.guard_test(name, f) for name, f in jinja2.tests.TESTS.items()}


class _BoundedLoader(jinja2.FileSystemLoader):
    """Templates that a template extends, includes or imports obey the size cap of the one named."""

    def get_source(self, environment: jinja2.Environment, template: str) -> Any:
        for searchpath in self.searchpath:  # jinja's own lookup, to check the size before reading
            filename = posixpath.join(searchpath, *split_template_path(template))
            if os.path.isfile(filename):
                if os.path.getsize(filename) > MAX_TEMPLATE_BYTES:
                    raise jinja2.exceptions.SecurityError(f"template {template!r} is larger than "
                                                          f"{MAX_TEMPLATE_BYTES} bytes")
                break
        return super().get_source(environment, template)


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox with the per-render budget on every loop, body, call, filter,
    test, operator, format and output."""

    code_generator_class = _BoundedCodeGenerator
    template_class = _BoundedTemplate
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "**", "%"})

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        g.check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        b.spend(steps=b.CALL_STEPS + len(args) + len(kwargs))
        if isinstance(__obj, LoopContext):  # loop(children) in a recursive for: those items spend steps too
            args = (b.Budgeted(args[0], 1), *args[1:]) if args else args
        elif not isinstance(__obj, Macro):  # a macro binds its arguments; its body spends as it runs
            args = g.check_call(__obj, args, kwargs)
        return b.charged(super().call(__context, __obj, *args, **kwargs))

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(argument, tuple):  # hashed deeply
            b.spend(chars=b.weigh(argument))
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Any:
        if not isinstance(value, (types.MethodType, types.BuiltinMethodType)) or value.__name__ not in (
                "format", "format_map") or not isinstance(value.__self__, str):
            return None
        text, is_map = value.__self__, value.__name__ == "format_map"
        formatter = (_BoundedEscapeFormatter(self, escape=text.escape) if isinstance(text, Markup)
                     else _BoundedFormatter(self))

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one positional argument")
                return type(text)(formatter.vformat(text, (), args[0]))
            return type(text)(formatter.vformat(text, args, kwargs))

        return wrapper


def sandbox(search: Sequence[Path]) -> ImmutableSandboxedEnvironment:
    """The one Jinja environment for persona, judge and named chat templates: one per search path,
    so each template is compiled once (its cache reloads a file that changed), not once per prompt."""
    return _sandbox(tuple(str(p) for p in search))


@lru_cache(maxsize=64)
def _sandbox(search: tuple[str, ...]) -> ImmutableSandboxedEnvironment:
    env = _BoundedSandbox(loader=_BoundedLoader(list(search)), undefined=jinja2.StrictUndefined,
                          autoescape=False, keep_trailing_newline=False, finalize=_weighed)
    env.filters.update(_FILTERS)
    env.tests.update(_TESTS)
    env.globals.update(range=b.bounded_range, lipsum=g.bounded_lipsum)
    return env


def one_line(exc: BaseException) -> str:
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def render_bounded(template: jinja2.Template, where: str, **variables: object) -> str:
    """Render within one budget (grown by the text in `variables`), streaming, so output past
    MAX_PROMPT_CHARS stops the render instead of filling memory. Any failure of the template is one
    RenderError line naming `where`."""
    token = b.BUDGET.set(b.Budget(b.text_size(variables)))
    try:
        parts, size = [], 0
        for piece in template.generate(**variables):
            size += len(piece)
            if size > MAX_PROMPT_CHARS:
                raise RenderError(f"{where}: rendered prompt exceeds {MAX_PROMPT_CHARS} characters")
            parts.append(piece)
        return "".join(parts)
    except RenderError:
        raise
    except jinja2.exceptions.SecurityError as exc:
        raise RenderError(f"{where}: refused by the sandbox: {one_line(exc)}") from None
    except RecursionError:
        raise RenderError(f"{where}: recursion too deep (a macro, include or recursive loop that keeps "
                          "calling itself)") from None
    except Exception as exc:  # the template's own error (undefined name, 1/0, int('x')): its fault, one line
        raise RenderError(f"{where}: {type(exc).__name__}: {one_line(exc)}") from None
    finally:
        b.BUDGET.reset(token)
