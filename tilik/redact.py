"""Removing secrets from anything about to be logged or published: passwords, tokens, credentials in URLs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "***"

# Keys whose values are secrets wherever they appear (compared lower-case, "-" read as "_").
SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pass",
        "pwd",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "api_key",
        "apikey",
        "authorization",
        "proxy_authorization",
        "cookie",
        "set_cookie",
        "credentials",
        "credential",
        "private_key",
        "client_secret",
        "sasl_password",
        "webhook_secret",
        "hmac_key",
        "signing_key",
    }
)

# scheme://user:password@host -> scheme://***@host (user names are dropped too: they are half a credential)
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<userinfo>[^/\s@]*@)")
# key=value / key: value pairs inside free text, e.g. query strings or "password=hunter2"
_INLINE_PAIR = re.compile(
    r"(?i)(?P<key>\b(?:password|passwd|pwd|token|access_token|api_?key|secret|auth(?:orization)?)"
    r"[\"']?\s*[=:]\s*[\"']?)(?P<value>[^\s&\"',;]+)"
)
# HTTP auth headers rendered into text: "Basic abc==", "Digest username=..., response=..."
_AUTH_SCHEME = re.compile(r"(?i)\b(?P<scheme>Basic|Bearer|Digest)\s+[A-Za-z0-9+/=._~\-,\"= ]{6,}")
# WS-Security password elements inside SOAP text
_WSSE_PASSWORD = re.compile(r"(?is)(<(?:\w+:)?Password\b[^>]*>)(.*?)(</(?:\w+:)?Password>)")


def is_secret_key(key: object) -> bool:
    return isinstance(key, str) and key.lower().replace("-", "_") in SECRET_KEYS


def redact_text(text: str) -> str:
    """Strip credentials from free text (URLs, key=value pairs, auth headers, WS-Security passwords)."""
    text = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)
    text = _WSSE_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(3)}", text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group('scheme')} {REDACTED}", text)
    return _INLINE_PAIR.sub(lambda m: f"{m.group('key')}{REDACTED}", text)


def redact_value(value: Any, *, _depth: int = 0) -> Any:
    """Redact a value of any shape: strings are scrubbed, mappings lose secret keys, sequences recurse."""
    if _depth > 8:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if is_secret_key(k) else redact_value(v, _depth=_depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v, _depth=_depth + 1) for v in value]
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    # SecretStr and friends render as '**********' already; other objects are scrubbed as text.
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(str(value))
