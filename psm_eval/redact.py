"""Keep secrets out of everything psm_eval writes: specs, manifests, errors, logs and reports.

API keys come only from the environment. Any argument whose name looks secret is replaced, and
any text that contains the value of a secret-looking environment variable has it masked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MASK", "is_secret_key", "redact_args", "redact_text", "secret_values"]

MASK = "***"
_SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password|passwd|auth|credential|bearer)", re.I)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s:]+(:[^/@\s]*)?@", re.I)
_MIN_SECRET_LEN = 6


def is_secret_key(name: str) -> bool:
    """Whether an argument or variable name looks like it holds a secret."""
    return bool(_SECRET_KEY.search(name)) and not name.lower().endswith(("tokens", "_toks", "tokenizer"))


def secret_values() -> list[str]:
    """Values of secret-looking environment variables, longest first."""
    values = {v for k, v in os.environ.items() if is_secret_key(k) and len(v) >= _MIN_SECRET_LEN}
    return sorted(values, key=len, reverse=True)


def redact_text(text: str) -> str:
    """Mask secret environment values and URL credentials in free text."""
    for value in secret_values():
        if value in text:
            text = text.replace(value, MASK)
    return _URL_CREDENTIALS.sub(lambda m: m.group("scheme") + MASK + "@", text)


def redact_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of model args with secret-looking keys masked and secret values scrubbed."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        if is_secret_key(key):
            out[key] = MASK
        elif isinstance(value, str):
            out[key] = redact_text(value)
        else:
            out[key] = value
    return out
