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
# ...and keys ending in one of these (`camera_password`, `x-auth-token`), but not `*_env`/`*_ref`,
# which name where a secret is, and not a bare `*_token` (ONVIF profile tokens are not secrets).
SECRET_SUFFIXES = (
    "_password",
    "_passwd",
    "_secret",
    "_api_key",
    "_apikey",
    "_private_key",
    "_access_token",
    "_refresh_token",
    "_auth_token",
    "_session_token",
    "_bearer_token",
)

# scheme://user:password@host -> scheme://***@host (user names go too: they are half a credential).
# Greedy up to the last '@' before the path, so a password containing '@' is removed whole.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<userinfo>[^/\s]*@)")
# Authorization headers rendered into text: everything after the header name to the end of line.
_AUTH_HEADER = re.compile(r"(?im)\b(?P<name>(?:proxy-)?authorization\s*[:=]\s*)[^\r\n]+")
# Auth schemes without the header name: "Basic abc==", "Bearer x.y.z", "Digest username=..., response=..."
# (a credential has a digit, capital or base64 symbol: "Basic settings" stays readable)
_TOKEN_SCHEME = re.compile(
    r"\b(?P<scheme>(?i:Basic|Bearer))\s+(?=[\w+/=.~\-]*[0-9A-Z+/=.])[A-Za-z0-9+/=._~\-]{6,}"
)
_DIGEST_SCHEME = re.compile(r"(?i)\bDigest\s+(?=\w+\s*=)[^\r\n]+")
# key=value / key: value pairs inside free text (query strings, JSON, "password=hunter2");
# the key may carry a prefix (`sasl_password`, `auth_token`), a quoted value is removed whole.
_INLINE_PAIR = re.compile(
    r"(?i)(?P<key>\b[\w\-]*?(?:password|passwd|pwd|secret|token|api[_\-]?key|auth(?:orization)?|cookie)"
    r"[\"']?\s*[=:]\s*)(?P<value>\"(?:[^\"\\]|\\.)*\"?|'[^']*'?|[^\s&\"']+)"
)
# WS-Security / ONVIF password elements in SOAP text, closed or cut off by truncation.
_XML_PASSWORD = re.compile(r"(?is)(<(?:[\w\-]+:)?Password\b[^>]*>)([^<]*)")


def is_secret_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    normalised = key.lower().replace("-", "_")
    return normalised in SECRET_KEYS or normalised.endswith(SECRET_SUFFIXES)


def _redact_pair(match: re.Match[str]) -> str:
    value = match.group("value")
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match.group('key')}{quote}{REDACTED}{quote}"


def redact_text(text: str) -> str:
    """Strip credentials from free text (URLs, key=value pairs, auth headers, WS-Security passwords)."""
    text = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)
    text = _XML_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group('name')}{REDACTED}", text)
    text = _DIGEST_SCHEME.sub(f"Digest {REDACTED}", text)
    text = _TOKEN_SCHEME.sub(lambda m: f"{m.group('scheme')} {REDACTED}", text)
    return _INLINE_PAIR.sub(_redact_pair, text)


def redact_value(value: Any, *, _depth: int = 0) -> Any:
    """Redact a value of any shape: strings are scrubbed, mappings lose secret keys, sequences recurse."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if _depth > 8:
        # Too deep to walk: keep it as scrubbed text rather than pass it through untouched.
        return redact_text(repr(value))
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if is_secret_key(k) else redact_value(v, _depth=_depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v, _depth=_depth + 1) for v in value]
    if isinstance(value, bytes | bytearray):
        return redact_text(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    # SecretStr renders as '**********'; pydantic models and other objects are scrubbed as text.
    return redact_text(str(value))
