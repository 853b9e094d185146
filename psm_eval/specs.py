"""Parse what users write: YAML spec files (validated, errors that name file, line and field) and
`key=value,...` strings from the command line (arm, model and renderer specs).

YAML is parsed with PyYAML's safe loader only (no tags that build objects). Line numbers come from
the composed node tree, so a pydantic error location maps back to the line that caused it. Aliases are
bounded (their count, and the size of the tree they expand to) so a few hundred bytes of nested
aliases (a "billion laughs") are refused in one line instead of exhausting memory downstream.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from psm_eval.errors import PsmError, SpecError

__all__ = ["load_yaml", "validate", "format_validation_error", "split_pairs"]

M = TypeVar("M", bound=BaseModel)

MAX_SPEC_BYTES = 1_000_000
# Hand-written spec files use a handful of anchors; a thousand alias uses is far past any honest file.
MAX_YAML_ALIASES = 1_000
# Nodes of the tree once every alias is expanded (what validation and the line index walk). A 1 MB file
# without aliases holds at most ~500 000 nodes (`[0,0,…]`), so no alias-free spec file is refused; the
# cap only stops aliases that multiply (ten levels of ten aliases are 10^10 nodes from 700 bytes).
MAX_YAML_NODES = 1_000_000
# pydantic puts union members and validator names into error locations; they are not fields
_TYPE_TAG = re.compile(r"^(int|str|float|bool|none|list\[.*\]|dict\[.*\]|function-.*|[A-Z]\w*)$")


def load_yaml(path: Path, error: type[PsmError]) -> tuple[Any, dict[tuple, int]]:
    """Parse a YAML file; return the data and a map from key path to 1-based line."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror})") from None
    if size > MAX_SPEC_BYTES:
        raise error(f"{path}: file is {size} bytes; spec files are limited to {MAX_SPEC_BYTES}")
    text = path.read_text(encoding="utf-8", errors="replace")
    loader = None
    try:  # one parse: the node tree gives line numbers, the safe constructor the data
        loader = _BoundedLoader(text)  # reads the text at once: a NUL byte already fails here
        node = loader.get_single_node()
        _check_expansion(node)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "?"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{path}:{where}: invalid YAML: {problem}") from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise error(f"{path}: invalid YAML: collections nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[tuple, int] = {}
    if node is not None:
        _index_lines(node, (), lines, set())
    return data, lines


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, counting alias uses as it composes and refusing past MAX_YAML_ALIASES."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.alias_uses = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            self.alias_uses += 1
            if self.alias_uses > MAX_YAML_ALIASES:
                raise _refused(
                    self.peek_event().start_mark, f"more than {MAX_YAML_ALIASES} alias uses (*name); "
                    "spec files allow that many")
        return super().compose_node(parent, index)


def _refused(mark: Any, problem: str) -> yaml.MarkedYAMLError:
    return yaml.MarkedYAMLError(problem=problem, problem_mark=mark)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: yaml.Node | None) -> None:
    """Refuse a node tree that aliases expand past MAX_YAML_NODES, or that contains itself.

    Sizes are counted on the composed graph (an aliased node is one object, counted once per use
    without being expanded), iteratively so that depth costs no Python stack."""
    if root is None:
        return
    size: dict[int, int] = {}
    open_nodes: set[int] = set()  # nodes whose subtree is being counted: the current node's ancestors
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            size[key] = 1 + sum(size[id(child)] for child in _children(node))
            if size[key] > MAX_YAML_NODES:
                raise _refused(node.start_mark, f"aliases expand this to more than {MAX_YAML_NODES} nodes "
                               "(nested aliases that multiply, a \"billion laughs\"); spec files allow that many")
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise _refused(node.start_mark, "an alias refers to a collection that contains it (a recursive alias)")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)


def _index_lines(node: yaml.Node, here: tuple, lines: dict[tuple, int], seen: set[int]) -> None:
    """Map key paths to lines; an aliased node is walked once (its later uses are located at the use)."""
    lines[here] = node.start_mark.line + 1
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*here, key_node.value)
            lines[key] = key_node.start_mark.line + 1
            _index_lines(value_node, key, lines, seen)
            lines[key] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*here, i), lines, seen)


def _line_for(loc: tuple, lines: dict[tuple, int]) -> int | None:
    path = tuple(str(p) if not isinstance(p, int) else p for p in loc)
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def format_validation_error(exc: ValidationError, where: str, lines: dict[tuple, int] | None = None) -> str:
    """First pydantic error as `where:line N: field 'a.b': message` (+ count of others)."""
    errors = exc.errors()
    first = errors[0]
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and _TYPE_TAG.match(p)))
    field = ".".join(str(p) for p in loc) or "(top level)"
    kind = first["type"]
    if kind == "extra_forbidden":
        message = "unknown field"
    elif kind == "missing":
        message = "required field is missing"
    else:
        message = first["msg"].removeprefix("Value error, ")
        if "input" in first and kind not in ("value_error",) and not isinstance(first["input"], (dict, list)):
            message += f" (got {first['input']!r:.60})"
    line = _line_for(loc, lines) if lines else None
    place = f"{where}:line {line}" if line else where
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{place}: field '{field}': {message}{more}"


def validate(model: type[M], data: Any, where: str, lines: dict[tuple, int] | None,
             error: type[PsmError]) -> M:
    """Validate `data` against `model`, raising `error` with a located one-line message."""
    if not isinstance(data, dict):
        raise error(f"{where}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(format_validation_error(exc, where, lines)) from None


# ---- key=value strings (values may be quoted to hold commas or `=`: system="You are a pirate, matey.")
def split_pairs(text: str, where: str) -> dict[str, str]:
    """`a=1,b="x, y"` → {"a": "1", "b": "x, y"}; duplicate or empty keys are errors."""
    pairs: dict[str, str] = {}
    for item in _split_commas(text, where):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise SpecError(f"{where}: expected key=value, got {item.strip()!r}")
        if key in pairs:
            raise SpecError(f"{where}: '{key}' is given twice")
        pairs[key] = _unquote(value.strip())
    return pairs


def _split_commas(text: str, where: str) -> list[str]:
    items, current, quote = [], [], ""
    for ch in text:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "\"'" and (not current or current[-1] == "="):
            quote = ch
            current.append(ch)
        elif ch == ",":
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    if quote:
        raise SpecError(f"{where}: unclosed quote {quote}")
    items.append("".join(current))
    return items


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value
