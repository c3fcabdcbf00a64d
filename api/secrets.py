"""API key secrets: made once, shown once, kept only as a salted scrypt hash.

A key reads ``tk_<16 hex>_<secret>``: the hex part is the key id (``key-<16 hex>``), so a request's
key is found without trying every hash, and the secret (32 random bytes, base64url) is checked
against the stored hash. scrypt is slow on purpose; ``KeyCheck`` remembers a SHA-256 of each key
it has verified, so a service pays for scrypt once per key and process, not once per request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

# RFC 7914's interactive parameters: 16 MiB and some tens of milliseconds per check.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_KEY = re.compile(r"^tk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


class MalformedKey(ValueError):
    """A presented key that is not of the form ``tk_<id>_<secret>`` (the reason never quotes it)."""


@dataclass(frozen=True)
class NewKey:
    """A key as issued: ``token`` is what its holder presents; it is shown once and never kept."""

    key_id: str
    token: str

    def __repr__(self) -> str:
        return f"NewKey(key_id={self.key_id!r}, token=<hidden>)"


def new_key(key_id: str | None = None) -> NewKey:
    """A fresh key (for ``key_id`` when rotating, else with a new id)."""
    hex_id = key_id.removeprefix("key-") if key_id else secrets.token_hex(8)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")
    return NewKey(f"key-{hex_id}", f"tk_{hex_id}_{secret}")


def key_id_of(token: str) -> str:
    """The key id a presented key names; ``MalformedKey`` when it is not a key."""
    found = _KEY.match(token)
    if found is None:
        raise MalformedKey("not an API key: expected tk_<id>_<secret>")
    return f"key-{found.group(1)}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(token: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        token.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 * 2**20, dklen=32
    )


def hash_key(token: str) -> str:
    """``scrypt$<n>$<r>$<p>$<salt>$<hash>`` of a key, salted afresh."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(token, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_key(token: str, stored: str) -> bool:
    """Whether ``token`` is the key ``stored`` is the hash of (constant time in the comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        found = _scrypt(token, base64.b64decode(salt), int(n), int(r), int(p))
        return hmac.compare_digest(found, base64.b64decode(digest))
    except ValueError:
        return False


def fingerprint(token: str) -> bytes:
    """A fast digest of a key already verified, to recognise it again in this process only."""
    return hashlib.sha256(token.encode("utf-8")).digest()
