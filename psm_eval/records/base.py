"""The base of every stored record: frozen, documented pydantic models with unknown fields refused."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from psm_eval.errors import StoreError
from psm_eval.specs import format_validation_error

__all__ = ["Record", "parse", "SCHEMA_VERSION", "check_schema"]

# The run-folder schema: manifest.json, config.json, generations.jsonl and scores.jsonl share it.
# Bump it whenever a stored field changes meaning, is added or removed.
SCHEMA_VERSION = 2

R = TypeVar("R", bound="Record")


class Record(BaseModel):
    """A stored record: immutable, no unknown fields, one docstring per field."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to disk (keys are sorted when written)."""
        return self.model_dump(mode="json")


def parse(model: type[R], data: Any, where: str) -> R:
    """`data` as a `model`, or a StoreError naming `where`, the field and what is wrong."""
    if not isinstance(data, dict):
        raise StoreError(f"{where}: expected a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise StoreError(format_validation_error(exc, where)) from None


def check_schema(found: Any, where: str, expected: int = SCHEMA_VERSION, what: str = "run folder",
                 redo: str = "re-run it with this version") -> None:
    """Refuse a file written under another schema, in one line naming both versions."""
    if found != expected:
        older = isinstance(found, int) and found < expected
        hint = (f"it was written by an older psm_eval: {redo}, or read it with the version that wrote it" if older
                else "it was written by a newer psm_eval: upgrade psm_eval to read it")
        raise StoreError(f"{where}: {what} schema {found!r}, but this psm_eval reads schema {expected}; {hint}")
