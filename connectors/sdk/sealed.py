"""Where ``vault:<id>`` credential references resolve: the vault source of the running context.

- The connector runtime follows ``tilik.credentials.sealed.v1`` and opens a record with the key
  file (``SealedCredentials``), and only for a device its owner sealed it for.
- A probe of a recorder being registered (``api.recorders``) offers the credentials it was just
  given (``Offered``) for the one reference it registers, and never opens a sealed record: the
  service that seals holds only the public key.

The source is a context variable, set around a runtime's run or a probe (``using``): tasks made
inside inherit it, so a connector resolving its config's credentials (``ConnectorConfig.
credentials``) finds the source of the runtime or probe it runs under, and no other.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Protocol

from connectors.sdk.errors import ConfigurationError
from connectors.sdk.vault import KeyRing, open_sealed
from core.settings import Settings
from topics.catalog import SEALED_CREDENTIALS
from topics.follow import FollowedTable
from topics.models import SealedCredential

__all__ = ["Offered", "SealedCredentials", "VaultSource", "using", "vault_secret"]


class VaultSource(Protocol):
    def secret(self, credential_id: str, *, owner: str | None) -> str:
        """The ``user:password`` of ``vault:<credential_id>`` for a device of ``owner``;
        ConfigurationError naming the reference (never the secret) when it cannot be had."""
        ...


_source: ContextVar[VaultSource | None] = ContextVar("tilik_vault_source", default=None)


@contextmanager
def using(source: VaultSource) -> Iterator[None]:
    """``vault:`` references resolve from ``source`` inside the block (and tasks made in it)."""
    token = _source.set(source)
    try:
        yield
    finally:
        _source.reset(token)


def vault_secret(credential_id: str, *, owner: str | None) -> str:
    """The secret of ``vault:<credential_id>`` from the running context's vault source."""
    source = _source.get()
    if source is None:
        raise ConfigurationError(
            f"credential reference vault:{credential_id}: this process opens no vault (the "
            "connector runtime does, with TILIK_VAULT_KEY_FILE set)"
        )
    return source.secret(credential_id, owner=owner)


class Offered:
    """Credentials given for one probe, by credential id: resolved as given, nothing opened."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self._secrets = dict(secrets)

    def secret(self, credential_id: str, *, owner: str | None) -> str:
        found = self._secrets.get(credential_id)
        if found is None:
            raise ConfigurationError(
                f"credential reference vault:{credential_id}: not the credential being registered"
            )
        return found

    def __repr__(self) -> str:
        return f"Offered({sorted(self._secrets)}, secrets=<hidden>)"


class SealedCredentials(FollowedTable[SealedCredential]):
    """The sealed credentials topic followed in memory, opened with a key file on demand.

    A record opens only for a device whose owner is the tenant it was sealed for: a registry
    record naming another tenant's credential gets nothing (the owner of a tenant's camera is
    stamped from the topic it came in on, never taken from its payload).
    """

    def __init__(
        self, key_file: Path, *, bootstrap: str | None = None, settings: Settings | None = None
    ) -> None:
        super().__init__(
            SEALED_CREDENTIALS,
            SealedCredential,
            component="connector.vault",
            settings=settings,
            bootstrap=bootstrap,
        )
        self.key_file = key_file

    def holds(self, credential_id: str) -> bool:
        return credential_id in self.rows

    async def catch_up(self) -> None:
        """Until the view holds what the topic holds now (a record sealed a moment ago)."""
        await self.view.sync()

    def secret(self, credential_id: str, *, owner: str | None) -> str:
        sealed = self.rows.get(credential_id)
        if sealed is None:
            raise ConfigurationError(
                f"credential reference vault:{credential_id}: no sealed credential of that id"
            )
        if owner != sealed.tenant_id:
            raise ConfigurationError(
                f"credential reference vault:{credential_id}: sealed for another owner than "
                f"this device's ({owner or 'none'})"
            )
        # Read at each use: a rotated key file is picked up without a restart, and a file made
        # readable by others is refused at once.
        return open_sealed(sealed, KeyRing.read(self.key_file), credential_id=credential_id)
