"""The local broker's admin principal: generated once, bootstrapped into KRaft at format time.

The admin (``tilik-admin``) is the cluster's only super user. Its password is made here, written
once to ``<state_dir>/kafka/admin.properties`` (mode 0600; a Kafka client config every ``tilik``
command on the host reads), and given to ``kafka-storage format`` only as a salted SCRAM
credential: the password itself never appears on a command line.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets

from core.clientconfig import SCRAM_MECHANISM

ADMIN_USER = "tilik-admin"
SCRAM_ITERATIONS = 8192
PASSWORD_BYTES = 24


def new_password() -> str:
    """A random password (URL-safe text, 192 bits)."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def salted_scram_credential(
    user: str, password: str, *, iterations: int = SCRAM_ITERATIONS, salt: bytes | None = None
) -> str:
    """The ``--add-scram`` argument of ``kafka-storage format``, salted (RFC 5802 ``Hi()``)."""
    salt = salt if salt is not None else os.urandom(24)
    salted = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return (
        f"{SCRAM_MECHANISM}=[name={user},iterations={iterations},"
        f'salt="{base64.b64encode(salt).decode("ascii")}",'
        f'saltedpassword="{base64.b64encode(salted).decode("ascii")}"]'
    )
