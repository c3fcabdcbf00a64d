"""HTTP Digest as a client answers it (RFC 7616, and RFC 2069's form without ``qop``).

A ``DigestAnswer`` holds one device's latest challenge and answers each request with it, counting
its uses (``nc``), so after the first 401 a device that keeps its nonce costs no extra round trip.
Cameras and recorders speak MD5 (with or without ``-sess``); SHA-256 and SHA-512-256 are answered
too. The password is hashed into ``HA1`` once per challenge and never kept in a message.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable

_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?')
_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data, usedforsecurity=False).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
    "SHA-512-256": lambda data: hashlib.new("sha512_256", data).hexdigest(),
}


def challenge_params(header: str) -> dict[str, str] | None:
    """The parameters of a ``Digest`` challenge (names lower-cased), None if it is not one."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params: dict[str, str] = {}
    for match in _PARAM.finditer(rest):
        name, value = match.group(1).lower(), match.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[name] = value
    return params


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class DigestAnswer:
    """Answers to one device's Digest challenges with one username and password."""

    __slots__ = (
        "_algorithm",
        "_count",
        "_ha1",
        "_hash",
        "_nonce",
        "_opaque",
        "_password",
        "_qop",
        "_realm",
        "_session",
        "_username",
    )

    def __init__(self, username: str, password: str) -> None:
        self._username = username
        self._password = password
        self._nonce: str | None = None
        self._realm = ""
        self._opaque: str | None = None
        self._qop: str | None = None
        self._algorithm = "MD5"
        self._hash = _HASHES["MD5"]
        self._ha1 = ""
        self._session = False
        self._count = 0

    @property
    def ready(self) -> bool:
        """Whether a challenge was taken, so requests can carry an answer up front."""
        return self._nonce is not None

    def take(self, header: str) -> bool:
        """Take a ``WWW-Authenticate`` challenge; False if it is not a Digest one this answers."""
        params = challenge_params(header)
        if params is None or "nonce" not in params:
            return False
        algorithm = params.get("algorithm", "MD5")
        session = algorithm.upper().endswith("-SESS")
        base = algorithm.upper().removesuffix("-SESS")
        digest = _HASHES.get(base)
        if digest is None:
            return False
        qops = [q.strip().lower() for q in params.get("qop", "").split(",") if q.strip()]
        if qops and "auth" not in qops:
            return False  # auth-int only: the body would have to be hashed; not asked by devices
        self._nonce = params["nonce"]
        self._realm = params.get("realm", "")
        self._opaque = params.get("opaque")
        self._qop = "auth" if qops else None
        self._algorithm = algorithm
        self._hash = digest
        self._count = 0
        self._session = session
        self._ha1 = digest(f"{self._username}:{self._realm}:{self._password}".encode())
        return True

    def authorization(self, method: str, uri: str, *, cnonce: str | None = None) -> str:
        """The ``Authorization`` value for one request (``take`` first); ``cnonce`` is random
        unless given."""
        if self._nonce is None:
            raise RuntimeError("no Digest challenge taken")
        self._count += 1
        nc = f"{self._count:08x}"
        cnonce = cnonce or os.urandom(8).hex()
        ha1 = self._ha1
        if self._session:
            ha1 = self._hash(f"{ha1}:{self._nonce}:{cnonce}".encode())
        ha2 = self._hash(f"{method}:{uri}".encode())
        if self._qop:
            response = self._hash(f"{ha1}:{self._nonce}:{nc}:{cnonce}:{self._qop}:{ha2}".encode())
        else:
            response = self._hash(f"{ha1}:{self._nonce}:{ha2}".encode())
        fields = [
            f"username={_quoted(self._username)}",
            f"realm={_quoted(self._realm)}",
            f"nonce={_quoted(self._nonce)}",
            f"uri={_quoted(uri)}",
            f"response={_quoted(response)}",
            f"algorithm={self._algorithm}",
        ]
        if self._opaque is not None:
            fields.append(f"opaque={_quoted(self._opaque)}")
        if self._qop:
            fields += [f"qop={self._qop}", f"nc={nc}", f"cnonce={_quoted(cnonce)}"]
        return "Digest " + ", ".join(fields)
