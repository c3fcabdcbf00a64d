"""The credential vault: device passwords sealed at rest, opened only where a key file is.

A password is sealed to the vault's *public* key, so the service that seals it (``tilik api``)
holds nothing that opens it; the connector runtime, which must answer the device's challenge,
holds the key file. Per record:

    ephemeral X25519 key pair  ──ECDH with the vault key──►  shared secret
    HKDF-SHA256(shared, salt = both public keys, info = key id)  ──►  AES-256 key (this record's)
    AES-GCM(key, random 96-bit nonce, "user:password",
            associated data = tenant id + credential id)  ──►  ciphertext and tag

The associated data binds the ciphertext to its tenant and credential id: copied under another id
or relabelled with another tenant, it no longer opens. Every record has a key of its own, so a
nonce never repeats under one key.

**Key files.** A key file lists keys one a line, ``<key id> private <base64>``; the *last* key
seals and every listed key opens. The public file (``tilik vault public``) has the same lines with
``public``. Rotation: add a key (``tilik vault keygen --add``), give the API the new public file,
re-seal every record under it (``tilik vault rotate``), then drop the old key
(``tilik vault retire``). docs/vault.md.

Errors name the credential reference (``vault:<id>``) and key ids, never a secret.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from connectors.sdk.errors import ConfigurationError
from topics.models import SealedCredential, utcnow

__all__ = [
    "KeyRing",
    "VaultKey",
    "VaultKeyError",
    "VaultRecipient",
    "append_key",
    "new_key",
    "open_sealed",
    "read_public_file",
    "reseal",
    "seal",
    "write_key_file",
]

_FORMAT = b"tilik-vault/1"
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_LINE = re.compile(r"^(?P<id>\S+)\s+(?P<kind>private|public)\s+(?P<key>\S+)$")
_HEADER = "# tilik vault keys: the last key seals, every listed key opens (docs/vault.md)\n"


class VaultKeyError(ConfigurationError):
    """A key file that cannot be used: missing, malformed, empty, or too open (never quoted)."""


@dataclass(frozen=True)
class VaultRecipient:
    """A vault key's public half: what sealing needs, and all it needs."""

    key_id: str
    public: X25519PublicKey

    @property
    def public_bytes(self) -> bytes:
        return self.public.public_bytes_raw()


@dataclass(frozen=True)
class VaultKey:
    """A vault key: its id and private half."""

    key_id: str
    private: X25519PrivateKey

    @property
    def recipient(self) -> VaultRecipient:
        return VaultRecipient(self.key_id, self.private.public_key())

    def __repr__(self) -> str:
        return f"VaultKey(key_id={self.key_id!r}, private=<hidden>)"


def new_key(now: datetime | None = None) -> VaultKey:
    """A fresh key, its id the time it was made and a random suffix (``k20261130t0215-1a2b3c``)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dt%H%M%S")
    return VaultKey(f"k{stamp}-{secrets.token_hex(3)}", X25519PrivateKey.generate())


@dataclass(frozen=True)
class KeyRing:
    """The keys of a key file, oldest first: the newest seals, any opens."""

    keys: tuple[VaultKey, ...]

    @property
    def newest(self) -> VaultKey:
        return self.keys[-1]

    def get(self, key_id: str) -> VaultKey | None:
        return next((key for key in self.keys if key.key_id == key_id), None)

    @property
    def key_ids(self) -> list[str]:
        return [key.key_id for key in self.keys]

    @classmethod
    def read(cls, path: Path) -> KeyRing:
        """The key file at ``path``; ``VaultKeyError`` when it is unusable or others may read it."""
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            raise VaultKeyError(f"vault key file {path}: cannot read it ({exc.strerror})") from None
        if mode & 0o077:
            raise VaultKeyError(
                f"vault key file {path}: readable by others (mode {mode & 0o777:o}); "
                "make it 0600 (chmod 600)"
            )
        keys = [
            VaultKey(key_id, X25519PrivateKey.from_private_bytes(raw))
            for key_id, raw in _parse(path, "private")[1]
        ]
        return cls(tuple(keys))

    def public_text(self) -> str:
        """The public file's text for these keys (safe to give the API)."""
        return _HEADER + "".join(
            f"{key.key_id} public {_b64(key.recipient.public_bytes)}\n" for key in self.keys
        )


def read_public_file(path: Path) -> VaultRecipient:
    """The key a public file (or, given a key file, its newest key) seals to."""
    kind, entries = _parse(path)
    if kind == "private":
        return KeyRing.read(path).newest.recipient
    key_id, raw = entries[-1]
    return VaultRecipient(key_id, X25519PublicKey.from_public_bytes(raw))


def _parse(path: Path, kind: str | None = None) -> tuple[str, list[tuple[str, bytes]]]:
    """The kind (``private`` or ``public``) of a key file's lines, all one kind, and its keys."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not text"
        raise VaultKeyError(f"vault key file {path}: cannot read it ({reason})") from None
    entries: list[tuple[str, bytes]] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        raw = _unb64(match["key"]) if match else None
        if (
            match is None
            or raw is None
            or len(raw) != 32
            or match["kind"] != (kind or match["kind"])
        ):
            # The line may hold a key: where, never what.
            raise VaultKeyError(
                f"vault key file {path}: line {number} is not a {kind or 'vault'} key line"
            )
        kind = match["kind"]
        if not _KEY_ID.match(match["id"]) or any(match["id"] == seen for seen, _ in entries):
            raise VaultKeyError(f"vault key file {path}: line {number} has a bad or repeated id")
        entries.append((match["id"], raw))
    if kind is None or not entries:
        raise VaultKeyError(f"vault key file {path}: no key in it")
    return kind, entries


def write_key_file(path: Path, keys: Iterable[VaultKey], *, replace: bool = False) -> None:
    """Write a key file readable by its owner only (0600 from creation on, never wider)."""
    text = _HEADER + "".join(
        f"{key.key_id} private {_b64(key.private.private_bytes_raw())}\n" for key in keys
    )
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if replace:
            os.replace(partial, path)
        else:
            os.link(partial, path)  # fails if the file exists: keygen never overwrites a key file
    finally:
        partial.unlink(missing_ok=True)


def append_key(path: Path, key: VaultKey) -> KeyRing:
    """Add ``key`` as the newest (sealing) key of the key file at ``path``."""
    ring = KeyRing.read(path)
    updated = KeyRing((*ring.keys, key))
    write_key_file(path, updated.keys, replace=True)
    return updated


def _associated_data(tenant_id: str, credential_id: str) -> bytes:
    return b"\x00".join((_FORMAT, tenant_id.encode(), credential_id.encode()))


def _record_key(shared: bytes, ephemeral: bytes, recipient: bytes, key_id: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=ephemeral + recipient,
        info=_FORMAT + b" " + key_id.encode(),
    ).derive(shared)


def seal(
    secret: str, *, tenant_id: str, credential_id: str, recipient: VaultRecipient, actor: str
) -> SealedCredential:
    """``secret`` (``user:password``) sealed to ``recipient`` for this tenant and credential id."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes_raw()
    key = _record_key(
        ephemeral.exchange(recipient.public),
        ephemeral_public,
        recipient.public_bytes,
        recipient.key_id,
    )
    nonce = secrets.token_bytes(12)
    ciphertext = AESGCM(key).encrypt(
        nonce, secret.encode("utf-8"), _associated_data(tenant_id, credential_id)
    )
    return SealedCredential(
        credential_id=credential_id,
        tenant_id=tenant_id,
        key_id=recipient.key_id,
        ephemeral_key=_b64(ephemeral_public),
        nonce=_b64(nonce),
        ciphertext=_b64(ciphertext),
        sealed_at=utcnow(),
        actor=actor,
    )


def open_sealed(sealed: SealedCredential, ring: KeyRing, *, credential_id: str) -> str:
    """The secret of ``sealed``, found under ``credential_id``; ConfigurationError naming the
    reference (never the secret) when no key of the ring opens it for that id and tenant."""
    reference = f"credential reference vault:{credential_id}"
    key = ring.get(sealed.key_id)
    if key is None:
        raise ConfigurationError(
            f"{reference}: sealed with vault key {sealed.key_id}, which the key file "
            f"(TILIK_VAULT_KEY_FILE) does not hold (it holds {', '.join(ring.key_ids)})"
        )
    ephemeral = _unb64(sealed.ephemeral_key)
    nonce = _unb64(sealed.nonce)
    ciphertext = _unb64(sealed.ciphertext)
    if ephemeral is None or len(ephemeral) != 32 or nonce is None or ciphertext is None:
        raise ConfigurationError(f"{reference}: the sealed record is malformed")
    try:
        record_key = _record_key(
            key.private.exchange(X25519PublicKey.from_public_bytes(ephemeral)),
            ephemeral,
            key.recipient.public_bytes,
            key.key_id,
        )
        plain = AESGCM(record_key).decrypt(
            nonce, ciphertext, _associated_data(sealed.tenant_id, credential_id)
        )
    except (InvalidTag, ValueError):
        raise ConfigurationError(
            f"{reference}: vault key {key.key_id} of the key file does not open it (a different "
            "key under that id, or a record altered or moved from another credential)"
        ) from None
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(f"{reference}: the sealed secret is not text") from None


def reseal(sealed: SealedCredential, ring: KeyRing, *, actor: str) -> SealedCredential:
    """``sealed`` sealed again to the ring's newest key (a rotation), for the same tenant and id."""
    return seal(
        open_sealed(sealed, ring, credential_id=sealed.credential_id),
        tenant_id=sealed.tenant_id,
        credential_id=sealed.credential_id,
        recipient=ring.newest.recipient,
        actor=actor,
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
