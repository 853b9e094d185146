"""What one template render may spend: steps (loop items, calls, template nodes run, container
elements walked) and characters (text built, read, compared or printed), with no single value
built past MAX_PROMPT_CHARS. Templates are untrusted code and dialogue text may be long; `guards.py`
and `sandbox.py` charge every way a template can repeat work or widen text, before it allocates.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from contextvars import ContextVar
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.runtime import LoopContext, Undefined
from jinja2.utils import Namespace

__all__ = ["MAX_PROMPT_CHARS", "MAX_STEPS", "MAX_WORK_CHARS", "MAX_INT_BITS", "Budget", "BUDGET", "Budgeted",
           "text_size", "spend", "fits", "weigh", "reads", "charged", "bounded_range"]

MAX_PROMPT_CHARS = 2_000_000
MAX_INT_BITS = 4096
# A render may take MAX_STEPS steps (loop items, calls, template nodes run, container elements
# walked) and build or read MAX_WORK_CHARS characters, plus an allowance per character of the
# dialogue it renders: work may grow with the data, linearly, never faster.
MAX_STEPS, STEPS_PER_DATA_CHAR = 1_000_000, 4
MAX_WORK_CHARS, CHARS_PER_DATA_CHAR = 8_000_000, 16
# Steps are sized so that each costs about as much as one loop item (a fraction of a microsecond):
# a call or filter through the sandbox's checks costs tens of loop items, an attribute a few.
CALL_STEPS, FILTER_STEPS, TEST_STEPS, ATTRIBUTE_STEPS, TEMPLATE_STEPS, LAZY_ITEM_STEPS = 40, 40, 10, 5, 40, 3


class Budget:
    """What one render may spend, and what is left of it."""

    __slots__ = ("steps", "chars", "max_steps", "max_chars")

    def __init__(self, data_chars: int = 0) -> None:
        data = min(data_chars, MAX_PROMPT_CHARS)
        self.max_steps = self.steps = MAX_STEPS + STEPS_PER_DATA_CHAR * data
        self.max_chars = self.chars = MAX_WORK_CHARS + CHARS_PER_DATA_CHAR * data


BUDGET: ContextVar[Budget | None] = ContextVar("psm_render_budget", default=None)


def text_size(value: Any) -> int:
    """Characters of text in a render's variables (strings in lists, tuples and dicts), counted up
    to MAX_PROMPT_CHARS: the data a render's allowance grows with."""
    size, stack = 0, [value]
    while stack and size < MAX_PROMPT_CHARS:
        item = stack.pop()
        if isinstance(item, str):
            size += len(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return min(size, MAX_PROMPT_CHARS)


def spend(steps: int = 0, chars: int = 0) -> None:
    budget = BUDGET.get()
    if budget is None:  # constant folding while compiling: work bounded by the template's own size
        return
    budget.steps -= steps
    budget.chars -= chars
    if budget.steps < 0:
        raise SecurityError(f"the template ran more than the {budget.max_steps} steps (loop items, calls, template "
                            f"nodes) this render may take ({MAX_STEPS} + {STEPS_PER_DATA_CHAR} per character of "
                            "dialogue)")
    if budget.chars < 0:
        raise SecurityError(f"the template built or read more than the {budget.max_chars} characters this render "
                            f"may use ({MAX_WORK_CHARS} + {CHARS_PER_DATA_CHAR} per character of dialogue)")


def fits(size: int, what: str) -> None:
    if size > MAX_PROMPT_CHARS:
        raise SecurityError(f"{what} would build about {size} characters; a template may build at most "
                            f"{MAX_PROMPT_CHARS} at once")


def weigh(value: Any, indent: int = 0) -> int:
    """An upper estimate of len(str(value)) (with `indent`: of json or pprint output), spending a
    step per element walked and refusing past MAX_PROMPT_CHARS without walking further. Shared
    references count each time they are written out, as str() writes them."""
    cls = type(value)
    if cls is str:
        return len(value)
    if cls is int or cls is bool or cls is float or value is None:
        return 28 if cls is float else value.bit_length() // 3 + 4 if cls is int else 5
    size, steps, stack = 0, 0, [value]
    depths = [0] if indent else None  # only json/pprint output grows with nesting
    while stack:
        item = stack.pop()
        depth = depths.pop() if depths is not None else 0
        steps += 1
        size += 4 + indent * depth  # quotes, separators, brackets, indentation
        if isinstance(item, str):
            size += len(item)
        elif isinstance(item, (list, tuple, set, frozenset, KeysView, ValuesView, ItemsView, Mapping, Namespace)):
            if isinstance(item, Namespace):
                item = object.__getattribute__(item, "_Namespace__attrs")
            size += 4 * len(item)
            if size <= MAX_PROMPT_CHARS:
                children = [*item.keys(), *item.values()] if isinstance(item, Mapping) else item
                stack.extend(children)
                if depths is not None:
                    depths.extend([depth + 1] * len(children))
        elif isinstance(item, (bytes, bytearray)):
            size += 4 * len(item)
        elif isinstance(item, int):
            size += item.bit_length() // 3
        elif isinstance(item, float):
            size += 24
        elif not isinstance(item, Undefined):
            body = getattr(item, "_body_stream", None)  # an imported template module prints its output
            size += sum(map(len, body)) if isinstance(body, list) else 64
        if size > MAX_PROMPT_CHARS:
            spend(steps=steps)
            fits(size, "writing out a value")
    spend(steps=steps)
    return size


def reads(value: Any, deep: bool) -> int:
    """Characters an operation reads from one argument (containers only when it walks them); a
    range handed to Python code spends its items as steps, since C code may run through it."""
    if type(value) is str or isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, range):
        spend(steps=len(value))
        return 0
    return weigh(value) if deep else 0


class Budgeted:
    """An iterable that spends `steps` and `chars` per item: every for loop (its body's cost, when
    the loop is not recursive), and every lazy filter result."""

    __slots__ = ("_items", "_steps", "_chars")

    def __init__(self, items: Any, steps: int = 1, chars: int = 0) -> None:
        self._items, self._steps, self._chars = items, steps, chars

    def __iter__(self) -> Iterator[Any]:
        budget, steps, chars = BUDGET.get(), self._steps, self._chars
        if budget is None:
            yield from self._items
            return
        for item in self._items:
            budget.steps -= steps
            budget.chars -= chars
            if budget.steps < 0 or budget.chars < 0:
                spend()
            yield item

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        try:
            return len(self._items) > 0
        except TypeError:
            return True

    def __repr__(self) -> str:
        return repr(self._items)


def charged(result: Any) -> Any:
    """Spend a result's size; hand lazy results out as Budgeted so whoever consumes them pays."""
    if isinstance(result, (str, bytes, list, tuple, dict)):
        spend(chars=len(result))
    elif isinstance(result, Iterator) and not isinstance(result, LoopContext):
        return Budgeted(result, LAZY_ITEM_STEPS)
    return result


def bounded_range(*args: int) -> range:
    """range() no longer than the steps this render has left (its items are spent as they are looped)."""
    items = range(*args)
    budget = BUDGET.get()
    left = budget.steps if budget is not None else MAX_STEPS
    if len(items) > left:
        raise SecurityError(f"range() of {len(items)} items is beyond the {left} steps this render has left")
    return items
