"""WS-Security UsernameToken verification as ONVIF cameras do it, against the camera's own clock."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
from collections import deque

from lxml import etree

from connectors.onvif.simulator.soap import WSSE, WSU
from connectors.onvif.simulator.xstime import parse_datetime

_PROFILE_URI = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
PASSWORD_DIGEST = f"{_PROFILE_URI}#PasswordDigest"
PASSWORD_TEXT = f"{_PROFILE_URI}#PasswordText"

DEFAULT_MAX_SKEW = dt.timedelta(minutes=5)


class AuthenticationFailed(Exception):
    """The request's credentials were missing, wrong or stale; the message never names the secret."""


class NonceCache:
    """Recently accepted nonces, so a captured request cannot be replayed within the skew window."""

    def __init__(self, size: int = 512) -> None:
        self._order: deque[bytes] = deque()
        self._seen: set[bytes] = set()
        self._size = size

    def __contains__(self, nonce: bytes) -> bool:
        return nonce in self._seen

    def add(self, nonce: bytes) -> None:
        if len(self._order) >= self._size:
            self._seen.discard(self._order.popleft())
        self._order.append(nonce)
        self._seen.add(nonce)


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """Base64(SHA1(nonce + created + password)), the UsernameToken profile's digest."""
    digest = hashlib.sha1(nonce + created.encode() + password.encode()).digest()  # noqa: S324
    return base64.b64encode(digest).decode()


def verify_username_token(
    header: etree._Element | None,
    *,
    username: str,
    password: str,
    camera_now: dt.datetime,
    max_skew: dt.timedelta = DEFAULT_MAX_SKEW,
    nonces: NonceCache | None = None,
) -> None:
    """Accept the request's UsernameToken or raise ``AuthenticationFailed`` saying why."""
    token = None if header is None else header.find(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
    if token is None:
        raise AuthenticationFailed("no WS-Security UsernameToken")
    given_user = (token.findtext(f"{{{WSSE}}}Username") or "").strip()
    password_node = token.find(f"{{{WSSE}}}Password")
    if password_node is None:
        raise AuthenticationFailed("UsernameToken has no Password")
    given_password = (password_node.text or "").strip()
    kind = password_node.get("Type", PASSWORD_TEXT)
    user_ok = hmac.compare_digest(given_user.encode(), username.encode())
    if kind == PASSWORD_TEXT:
        password_ok = hmac.compare_digest(given_password.encode(), password.encode())
    elif kind == PASSWORD_DIGEST:
        nonce_text = (token.findtext(f"{{{WSSE}}}Nonce") or "").strip()
        created = (token.findtext(f"{{{WSU}}}Created") or "").strip()
        if not nonce_text or not created:
            raise AuthenticationFailed("PasswordDigest without Nonce or Created")
        try:
            nonce = base64.b64decode(nonce_text, validate=True)
            created_at = parse_datetime(created)
        except (binascii.Error, ValueError):
            raise AuthenticationFailed("unreadable Nonce or Created") from None
        if abs(created_at - camera_now) > max_skew:
            raise AuthenticationFailed("Created is outside the allowed clock skew of the device")
        if nonces is not None and nonce in nonces:
            raise AuthenticationFailed("Nonce was already used")
        expected = password_digest(nonce, created, password)
        password_ok = hmac.compare_digest(given_password.encode(), expected.encode())
        if password_ok and user_ok and nonces is not None:
            nonces.add(nonce)
    else:
        raise AuthenticationFailed("unsupported password type")
    if not (user_ok and password_ok):
        raise AuthenticationFailed("wrong user name or password")
