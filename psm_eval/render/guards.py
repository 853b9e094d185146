"""Checks on the operations a template can use to widen text or repeat work: arithmetic, `%` and
str.format widths, the str/bytes methods that pad, replace, join or translate, and every Jinja
filter and test. Each is refused before it would build past MAX_PROMPT_CHARS, and spends what it
reads and builds from the render's budget (`budget.py`).
"""

from __future__ import annotations

import codecs
import functools
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.runtime import Undefined
from jinja2.utils import _PassArg, generate_lorem_ipsum

from psm_eval.render.budget import (
    FILTER_STEPS,
    MAX_INT_BITS,
    MAX_PROMPT_CHARS,
    TEST_STEPS,
    Budgeted,
    charged,
    fits,
    reads,
    spend,
    weigh,
)

__all__ = ["printf_size", "spec_width", "check_binop", "check_call", "guard_filter", "guard_test", "bounded_lipsum"]


def _number(digits: str) -> int:
    return int(digits) if len(digits) < 10 else 10**10


_PRINTF = re.compile(r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*(?P<width>\*|\d+)?(?:\.(?P<prec>\*|\d*))?[hlL]?(?P<conv>.)",
                     re.S)
_DIGITS = re.compile(r"\d+")


def printf_size(fmt: str | bytes, args: Any) -> int:
    """Estimated length of `fmt % args`: widths and precisions (`*` ones too) plus each value; a
    step spent per conversion, and no further reading once past MAX_PROMPT_CHARS."""
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    values = list(args) if isinstance(args, tuple) else [args]
    size, pos = len(text), 0
    for match in _PRINTF.finditer(text):
        spend(steps=1)
        if size > MAX_PROMPT_CHARS:
            break
        if match["conv"] == "%":
            continue
        for part in (match["width"], match["prec"]):
            if part == "*":
                star = values[pos] if pos < len(values) else 0
                pos += 1
                size += abs(star) if isinstance(star, int) else 0
            elif part:
                size += _number(part)
        if match["key"] is not None and isinstance(args, Mapping):
            value = args.get(match["key"])
        else:
            value = values[pos] if pos < len(values) else None
            pos += 1
        size += weigh(value) + (320 if isinstance(value, float) else 0)  # '%f' % 1e308 has 316 digits
    return size


def spec_width(spec: str) -> int:
    """The widest number in a str.format spec (width or precision)."""
    return max((_number(d) for d in _DIGITS.findall(spec)), default=0)


_SEQUENCES = (str, bytes, list, tuple)


def _bits(value: Any) -> int:
    return value.bit_length() if isinstance(value, int) else 0


def check_binop(op: str, left: Any, right: Any) -> None:
    """Refuse arithmetic whose result (or its cost) would pass the caps; spend what it builds."""
    if max(_bits(left), _bits(right)) > MAX_INT_BITS:  # huge ints: division alone is quadratic
        raise SecurityError(f"arithmetic on an integer of more than {MAX_INT_BITS} bits")
    if op == "%" and isinstance(left, (str, bytes)):
        size = printf_size(left, right)
        fits(size, "'%' formatting")
        spend(chars=size)
    elif op == "*":
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, _SEQUENCES) and isinstance(n, int):
                size = len(seq) * max(n, 0)
                fits(size, "repetition")
                spend(chars=size)
                return
        if _bits(left) + _bits(right) > MAX_INT_BITS:
            raise SecurityError(f"a product of more than {MAX_INT_BITS} bits")
    elif op == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            if right * math.log2(abs(left)) > MAX_INT_BITS:
                raise SecurityError(f"a power of more than {MAX_INT_BITS} bits")
    elif op in ("+", "-") and isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        fits(len(left) + len(right), f"'{op}'")
        spend(chars=len(left) + len(right))


def _replace_size(s: Any, old: Any, new: Any, count: Any = -1) -> int:
    if not (isinstance(s, str) and isinstance(old, str) and isinstance(new, str) or
            isinstance(s, bytes) and isinstance(old, bytes) and isinstance(new, bytes)):
        return 0  # replace() raises its own TypeError
    n = s.count(old) if old else len(s) + 1  # type: ignore[arg-type]  # same type, checked above
    if isinstance(count, int) and count >= 0:
        n = min(n, count)
    return len(s) + n * (len(new) - len(old))


def _joined(sep: Any, items: Any, what: str) -> list:
    """The items of a join, read once, after checking what the join would build."""
    if isinstance(items, (str, bytes, list, tuple, dict, range)):  # separators alone may be too many
        fits(len(sep) * max(len(items) - 1, 0), what)
    items = list(Budgeted(items, 1))
    fits(sum(reads(x, True) for x in items) + len(sep) * max(len(items) - 1, 0), what)
    return items


_CODECS = frozenset({"utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be", "ascii",
                     "latin-1", "iso8859-1"})


def _arg(args: tuple, kwargs: dict, i: int, name: str, default: Any) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


def _text_method(owner: str | bytes, name: str, args: tuple, kwargs: dict) -> tuple:
    """Size checks for the str/bytes methods that can widen text (or strip at n·m cost)."""
    if name in ("center", "ljust", "rjust", "zfill"):
        width = _arg(args, kwargs, 0, "width", 0)
        if isinstance(width, int):
            fits(max(len(owner), width), f"str.{name}()")
    elif name == "expandtabs":
        tabsize = _arg(args, kwargs, 0, "tabsize", 8)
        if isinstance(tabsize, int):
            tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
            fits(len(owner) + tabs * tabsize, "str.expandtabs()")
    elif name == "replace" and len(args) >= 2:
        fits(_replace_size(owner, *args[:3]), "str.replace()")
    elif name == "join" and args:
        return (_joined(owner, args[0], "str.join()"), *args[1:])
    elif name == "translate" and args:
        table = args[0]
        values = table.values() if isinstance(table, Mapping) else table if isinstance(table, (list, tuple)) else ()
        widest = max((len(v) for v in values if isinstance(v, (str, bytes))), default=1)
        fits(len(owner) * max(widest, 1), "str.translate()")
    elif name in ("strip", "lstrip", "rstrip") and args and isinstance(args[0], (str, bytes)):
        spend(chars=len(owner) * len(args[0]))
    elif name in ("encode", "decode"):
        encoding = _arg(args, kwargs, 0, "encoding", "utf-8")
        if isinstance(encoding, str) and codecs.lookup(encoding).name not in _CODECS:
            raise SecurityError(f"encoding {encoding!r} is not allowed in a template (use utf-8, utf-16, "
                                "utf-32, ascii or latin-1)")
    return args


_JINJA_KWARGS = ("_loop_vars", "_block_vars")  # jinja's own, popped before the call


def check_call(func: Any, args: tuple, kwargs: dict) -> tuple:
    """Spend what a Python callable will read from its arguments (and its own text); refuse widening
    str/bytes methods and int.to_bytes past the size cap. Returns the arguments to call with."""
    owner, name = getattr(func, "__self__", None), getattr(func, "__name__", "")
    chars = sum(reads(a, True) for a in args)
    chars += sum(reads(v, True) for k, v in kwargs.items() if k not in _JINJA_KWARGS)
    if isinstance(owner, (str, bytes)):
        chars += len(owner)
        args = _text_method(owner, name, args, kwargs)
    elif isinstance(owner, int) and name == "to_bytes":
        length = _arg(args, kwargs, 0, "length", 1)
        if isinstance(length, int):
            fits(length, "int.to_bytes()")
    elif isinstance(owner, (list, tuple)) and name in ("index", "count"):
        chars += weigh(owner)
    spend(chars=chars)
    return args


def _text(value: Any) -> str:
    """str(value) once its written size is known to fit."""
    if isinstance(value, str):
        return value
    weigh(value)
    return str(value)


# Filter checks take the filter's own arguments (without the context or environment jinja passes)
# and may return a replacement for the first one (an iterator they had to read).
def _center(value: Any, width: Any = 80) -> None:
    if isinstance(width, int):
        fits(max(reads(value, True), width), "center")


def _indent(s: Any, width: Any = 4, *_: Any, **__: Any) -> None:
    prefix = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    fits(prefix, "indent")
    text = _text(s)
    fits(len(text) + (text.count("\n") + 1) * prefix, "indent")


def _wordwrap(s: Any, width: Any = 79, break_long_words: Any = True, wrapstring: Any = None, *_: Any,
              **__: Any) -> None:
    if isinstance(wrapstring, str) and isinstance(width, int):
        text = _text(s)
        breaks = 2 * len(text) // max(width, 1) + text.count("\n") + 1
        fits(len(text) + breaks * len(wrapstring), "wordwrap")


def _replace(s: Any, old: Any, new: Any, count: Any = None) -> None:
    fits(_replace_size(_text(s), old, new, -1 if count is None else count), "replace")


def _format(value: Any, *args: Any, **kwargs: Any) -> None:
    fits(printf_size(_text(value), kwargs or args), "format")


def _join(value: Any, d: Any = "", attribute: Any = None) -> list:
    return _joined(_text(d), value, "join")


def _batch(value: Any, linecount: Any, fill_with: Any = None) -> None:
    if fill_with is not None and isinstance(linecount, int):
        fits(linecount, "batch with fill_with")


def _sum(iterable: Any, attribute: Any = None, start: Any = 0) -> list | None:
    if isinstance(start, (int, float)):
        return None
    items = list(Budgeted(iterable, 1))  # adding sequences copies the running total each time
    total = weigh(start) + weigh(items)
    spend(chars=total * len(items))
    return items


def _tojson(value: Any, indent: Any = None) -> None:
    weigh(value, indent if isinstance(indent, int) and indent > 0 else 0)


def _trim(value: Any, chars: Any = None) -> None:
    if isinstance(chars, str):
        spend(chars=len(_text(value)) * len(chars))


def _urlize(value: Any, trim_url_limit: Any = None, nofollow: Any = False, target: Any = None, rel: Any = None,
            *_: Any, **__: Any) -> None:
    text = _text(value)
    links = text.count(".") + text.count("@") + text.count(":") + 1
    extra = sum(len(x) for x in (target, rel) if isinstance(x, str))
    fits(3 * len(text) + links * (64 + extra), "urlize")


def _pprint(value: Any) -> None:
    weigh(value, 1)


_FILTER_CHECKS: dict[str, Callable[..., Any]] = {
    "center": _center, "indent": _indent, "wordwrap": _wordwrap, "replace": _replace, "format": _format,
    "join": _join, "batch": _batch, "sum": _sum, "tojson": _tojson, "trim": _trim, "urlize": _urlize,
    "pprint": _pprint,
}
# filters that touch their input only shallowly (lazily, or by length): containers are not walked
_SHALLOW_FILTERS = frozenset({"attr", "batch", "count", "d", "default", "first", "items", "last", "length", "list",
                              "map", "random", "reject", "rejectattr", "reverse", "select", "selectattr", "slice"})
_STEPS_PER_CHAR = {"wordwrap": 2, "urlize": 4, "title": 0.5, "indent": 0.5, "striptags": 0.5, "pprint": 2,
                   "sort": 2, "dictsort": 2, "groupby": 2, "unique": 1, "min": 1, "max": 1, "wordcount": 0.25}


def guard_filter(name: str, func: Any) -> Callable[..., Any]:
    """`func` spending FILTER_STEPS (and steps per character for the slow ones), the characters it
    reads and builds, and refused before it would build past the cap."""
    skip = 0 if _PassArg.from_obj(func) is None else 1
    check, deep, per_char = _FILTER_CHECKS.get(name), name not in _SHALLOW_FILTERS, _STEPS_PER_CHAR.get(name, 0)

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        head, rest = args[:skip], args[skip:]
        if check is not None:
            first = check(*rest, **kwargs)
            if first is not None:
                rest = (first, *rest[1:])
        sizes = [reads(a, deep) for a in rest] + [reads(v, deep) for v in kwargs.values()]
        spend(steps=FILTER_STEPS + int(per_char * (sizes[0] if sizes else 0)), chars=sum(sizes))
        return charged(func(*head, *rest, **kwargs))

    return guarded


_DEEP_TESTS = frozenset({"==", "!=", "<", "<=", ">", ">=", "eq", "equalto", "ne", "lt", "le", "gt", "ge",
                         "lessthan", "greaterthan", "in", "lower", "upper"})


def guard_test(name: str, func: Any) -> Callable[..., Any]:
    """`func` spending TEST_STEPS and what it reads (whole containers for comparisons)."""
    deep = name in _DEEP_TESTS

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        spend(steps=TEST_STEPS, chars=sum(reads(a, deep) for a in args if not isinstance(a, Undefined)))
        return func(*args, **kwargs)

    return guarded


def bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
    """lipsum() with its words counted before they are generated."""
    fits(n * max * 16, "lipsum()")
    spend(steps=n * max)
    return generate_lorem_ipsum(n, html, min, max)
