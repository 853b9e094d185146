"""Keep secrets out of everything psm_eval writes: specs, manifests, errors, logs and reports.

Two layers:

- `redact_text` / `redact_args` mask what *looks* secret in the text psm_eval composes itself (model
  arguments, error messages, displays): arguments whose name is a credential's (`api_key`, `token`,
  `password` — never `tokenizer_backend`, `add_bos_token`, `max_tokens`), URL user info (up to the last
  `@`, so a password holding `@` or `:` goes whole), credentials in query strings (`?api-key=…`),
  `Authorization` headers and bearer tokens, `name=value` pairs with a credential's name, and the
  shapes of well-known keys (`sk-…`, `hf_…`, `ghp_…`, `AKIA…`, JWTs).
- `mask_known_secrets` masks, in any text at all, the literal values known to be secret: the values
  of secret-named environment variables and every secret found in a model spec this process parsed
  (`remember_secrets`). The record writers pass every file through it, so a secret that reaches a
  string by a path nobody foresaw (a server echoing it into an error) is still never written.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

__all__ = ["MASK", "is_secret_key", "redact_args", "redact_text", "secret_values", "remember_secrets",
           "mask_known_secrets"]

MASK = "***"
# Shorter literal values are masked only where a pattern says they are secret: masking every "abc"
# in every file would corrupt data for no gain.
_MIN_SECRET_LEN = 6

# Words that make a name a credential's wherever they stand in it …
_SECRET_WORDS = frozenset({"password", "passwd", "passphrase", "secret", "secrets", "credential", "credentials",
                           "apikey", "cookie"})
# … and words that do so as the name's last word (`api_key`, `HF_TOKEN`, `x-api-key`, `auth`, `sig`).
_SECRET_LAST = frozenset({"key", "token", "auth", "bearer", "authorization", "sig", "signature"})
# A token *text* is not a credential: `bos_token`, `add_bos_token`, `think_end_token`, `eos_token`.
_TOKEN_TEXT = frozenset({"bos", "eos", "eot", "pad", "unk", "sep", "cls", "mask", "end", "start", "stop", "begin",
                         "prefix", "special", "think"})
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")

_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)[^/?#\s]*@", re.I)  # greedy: to the last `@`
_QUERY_PARAM = re.compile(r"(?P<lead>[?&;#])(?P<name>[^=&;#\s?]+)=(?P<value>[^&;#\s]*)")
_AUTH_HEADER = re.compile(r"(?P<name>\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\"'\r\n]+)", re.I)
_BEARER = re.compile(r"\b(?P<scheme>bearer|basic)\s+(?P<value>[A-Za-z0-9._~+/=-]{6,})", re.I)
_PAIR = re.compile(r"(?P<name>(?<![\w.-])[A-Za-z_][\w.-]*)(?P<sep>[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\s\"'&,;)}\]]+)")
_KEY_SHAPES = re.compile(
    r"(?<![A-Za-z0-9_-])(?:sk-[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{20,}|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|github_pat_[A-Za-z0-9_]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{30,}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})")

_remembered: set[str] = set()
_lock = threading.Lock()


@functools.lru_cache(maxsize=4096)  # every write checks the environment's names: the same few dozen
def is_secret_key(name: str) -> bool:
    """Whether an argument, header, query or variable name is a credential's name."""
    words = [w.lower() for w in _WORD.findall(name)]
    if not words:
        return False
    if any(w in _SECRET_WORDS for w in words):
        return True
    last = words[-1]
    if last == "token" and len(words) > 1 and words[-2] in _TOKEN_TEXT:
        return False
    return last in _SECRET_LAST


def remember_secrets(args: Mapping[str, Any]) -> None:
    """Note the secrets in a model spec's arguments (secret-named values, URL passwords, query-string
    credentials) so that `mask_known_secrets` masks them wherever they turn up later."""
    found: set[str] = set()
    for key, value in args.items():
        text = str(value)
        if is_secret_key(key):
            found.add(text)
        for url in _URL_USERINFO.finditer(text):
            userinfo = url.group(0)[len(url.group("scheme")):-1]
            user, colon, password = userinfo.partition(":")
            if colon:  # a user name alone is no secret, and masking it everywhere would change data
                found.update({userinfo, password, unquote(password)})
        for param in _QUERY_PARAM.finditer(text):
            if is_secret_key(unquote(param.group("name"))):
                found.update({param.group("value"), unquote(param.group("value"))})
    found = {s for s in found if len(s) >= _MIN_SECRET_LEN and s != MASK}
    if found:
        with _lock:
            _remembered.update(found)


def secret_values() -> list[str]:
    """Values of secret-named environment variables and remembered spec secrets, longest first."""
    values = {v for k, v in os.environ.items() if is_secret_key(k) and len(v) >= _MIN_SECRET_LEN}
    with _lock:
        values |= _remembered
    return sorted(values, key=len, reverse=True)


def mask_known_secrets(text: str, secrets: list[str] | None = None) -> str:
    """`text` with every known secret value (see `secret_values`) masked; nothing else changes. `secrets`:
    `secret_values()` read once by a caller masking many texts in one go (a whole file)."""
    for value in secret_values() if secrets is None else secrets:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_text(text: str) -> str:
    """Mask known secret values and everything secret-looking (see the module docstring) in free text."""
    text = mask_known_secrets(text)
    text = _URL_USERINFO.sub(lambda m: m.group("scheme") + MASK + "@", text)
    text = _QUERY_PARAM.sub(lambda m: _masked(m, m.group("lead") + m.group("name") + "="), text)
    text = _AUTH_HEADER.sub(lambda m: m.group("name") + MASK, text)
    text = _BEARER.sub(lambda m: m.group("scheme") + " " + MASK, text)
    text = _PAIR.sub(lambda m: _masked(m, m.group("name") + m.group("sep")), text)
    return _KEY_SHAPES.sub(_shape, text)


def _masked(match: re.Match[str], head: str) -> str:
    value = match.group("value")
    if value and not value.startswith(MASK) and is_secret_key(unquote(match.group("name"))):
        return head + MASK
    return match.group(0)


def _shape(match: re.Match[str]) -> str:
    # `sk-` also starts ordinary hyphenated words (`sk-learn-classifier-…`); real keys carry digits
    key = match.group(0)
    return key if key.startswith("sk-") and not any(c.isdigit() for c in key) else MASK


def redact_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of model args with secret-named arguments masked and secrets inside other values scrubbed."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        if is_secret_key(key):
            out[key] = MASK
        elif isinstance(value, str):
            out[key] = redact_text(value)
        else:
            out[key] = value
    return out
