"""Strict JSON on disk: deterministic text, atomic whole-file writes, JSONL read with located errors.

Every run-folder file goes through these functions; the record modules decide what is in them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from psm_eval.errors import StoreError
from psm_eval.redact import mask_known_secrets, secret_values

__all__ = ["dumps", "encode", "write_text_atomic", "write_json_atomic", "write_jsonl_atomic", "read_json",
           "read_jsonl_lines"]


def dumps(obj: Any, indent: int | None = None) -> str:
    """Strict, deterministic JSON: sorted keys, no NaN/Infinity, lone surrogates kept as escapes."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, allow_nan=False, indent=indent,
                      separators=(",", ":") if indent is None else (",", ": "))


def encode(text: str, secrets: list[str] | None = None) -> bytes:
    """UTF-8 bytes of JSON text, with every known secret value masked (`redact.mask_known_secrets`: the
    last guard, for a secret that reached a string by a path nobody foresaw). A lone surrogate (possible
    in decoded model output) becomes the JSON escape "\\udXXX", which reads back as the same string:
    nothing is lost and the file stays UTF-8."""
    return mask_known_secrets(text, secrets).encode("utf-8", errors="backslashreplace")


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _replace_atomically(path: Path, chunks: Iterable[bytes]) -> None:
    """Write to a temp file, fsync, rename over `path`; on any failure the temp file is removed."""
    tmp = _tmp(path)
    try:
        with open(tmp, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> Path:
    """Write a whole text file so readers see the old or the new version, never a mix."""
    _replace_atomically(Path(path), [encode(text)])
    return Path(path)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write a whole JSON file atomically (strict, sorted, indented)."""
    write_text_atomic(path, dumps(obj, indent=2) + "\n")


def write_jsonl_atomic(path: Path, rows: Iterable[Any]) -> None:
    """Write a whole JSONL file (one strict JSON object per line) atomically."""
    secrets = secret_values()  # read once per file: the environment is scanned once, not once a line
    _replace_atomically(Path(path), (encode(dumps(row) + "\n", secrets) for row in rows))


def read_json(path: Path) -> Any:
    """A whole JSON file; a missing or corrupt file is a StoreError naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"{path}: not found (is this a psm_eval run folder?)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: corrupt JSON: {exc}") from None


def read_jsonl_lines(path: Path, *, repair: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of a JSONL file. A torn last line is dropped (and cut from the file if
    `repair`); a corrupt line anywhere else is a StoreError naming its number. Lines are split on
    `\\n` only: U+2028 and U+0085 are valid inside JSON strings."""
    path = Path(path)
    if not path.exists():
        return
    kept = 0  # bytes up to the end of the last complete line
    tail = b""
    with open(path, "rb") as fh:  # line by line (binary lines end at b"\n" only): memory does not grow with the file
        for number, raw in enumerate(fh, start=1):
            if not raw.endswith(b"\n"):
                tail = raw  # the last line, torn (a write cut short)
                break
            kept += len(raw)
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw[:-1].decode("utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise StoreError(f"{path}:line {number}: corrupt record ({exc.__class__.__name__}); "
                                 "the file was changed by something other than psm_eval") from None
            if not isinstance(obj, dict):
                raise StoreError(f"{path}:line {number}: expected a JSON object, got {type(obj).__name__}")
            yield number, obj
    if tail.strip() and repair:
        with open(path, "r+b") as fh:
            fh.truncate(kept)
