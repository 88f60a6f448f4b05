"""Keeping secrets out of text a person may read: log lines, error messages, tracebacks.

Two layers. ``redact`` always removes what looks like a credential whatever wrote it: the
userinfo of a URL (``mqtt://user:password@host`` → ``mqtt://***@host``), and the value of a
``password=…``, ``token=…`` or ``Authorization: …`` field, as libraries print them (asyncua's
``UserNameIdentityToken(… Password=b'…')``). And it removes, anywhere in the text, the secrets it
is given: those of the process's configuration, found by ``secrets_of`` — the fields the
configuration dataclasses keep out of their repr (a password, a token, a table of users' passwords).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote

__all__ = ["MASK", "SHORT", "redact", "secrets_of", "spellings"]

MASK = "***"

# a URL's userinfo runs to the last '@' before the path, like urllib.parse.urlsplit reads it
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?#]*@")
_KEYS = r"(?<![a-z])(?:password|passwd|token|secret|api[_-]?key)"
_VALUE = r"""(?:b?'(?:[^'\\]|\\.)*'|b?"(?:[^"\\]|\\.)*"|[^\s,;&)\]}]+)"""
# key=value: reprs (Password=b'…'), query strings, environment listings (MQTT_PASSWORD=…)
_ASSIGNED = re.compile(rf"(?i)({_KEYS}\s*=\s*){_VALUE}")
# 'password': '…' and "token": "…": dict reprs and JSON
_QUOTED = re.compile(rf"""(?i)(["']{_KEYS}["']\s*:\s*){_VALUE}""")
# an HTTP Authorization header's credentials, with or without their scheme
_AUTHORIZATION = re.compile(r"""(?i)(\bauthorization["']?\s*[:=]\s*["']?)(?:(?:basic|bearer|token)\s+)?[^\s'",}]+""")


def spellings(secret: str) -> set[str]:
    """How a secret may be written out: as it is, percent-encoded (in a URL), escaped (in a repr)."""
    return {secret, quote(secret, safe=""), repr(secret)[1:-1], repr(secret.encode())[2:-1]}


#: a secret shorter than this is removed only where it stands alone (not inside a longer word or number): a
#: one-letter token removed as a substring took every "t" out of every message
SHORT = 8


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without credentials: URL userinfo, password and token fields, and every spelling of
    ``secrets`` (of one shorter than ``SHORT``, where it stands alone)."""
    known = sorted({s for secret in secrets if secret for s in spellings(secret)}, key=len, reverse=True)
    if known:
        text = re.sub("|".join(re.escape(s) if len(s) >= SHORT else rf"(?<![A-Za-z0-9]){re.escape(s)}(?![A-Za-z0-9])"
                               for s in known), MASK, text)
    return _pattern_redact(text)


def _pattern_redact(text: str) -> str:
    text = _USERINFO.sub(rf"\1{MASK}@", text)
    text = _ASSIGNED.sub(rf"\1{MASK}", text)
    text = _QUOTED.sub(rf"\1{MASK}", text)
    return _AUTHORIZATION.sub(rf"\1{MASK}", text)


def secrets_of(config: object) -> set[str]:
    """The secrets held in a configuration: the values of dataclass fields declared with ``repr=False``
    (strings, or the values of a mapping such as users → passwords), in it and in the dataclasses,
    tuples, lists and mappings it holds."""
    found: set[str] = set()
    stack = [config]
    while stack:
        value = stack.pop()
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                held = getattr(value, f.name)
                if not f.repr:
                    found.update(_texts(held))
                else:
                    stack.append(held)
        elif isinstance(value, Mapping):
            stack.extend(value.values())
        elif isinstance(value, tuple | list | set | frozenset):
            stack.extend(value)
    return found


def _texts(value: object) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, Mapping):
        return [v for v in value.values() if isinstance(v, str) and v]
    return []
