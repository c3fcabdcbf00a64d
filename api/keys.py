"""API keys: issued, rotated, revoked and checked, kept in ``tilik.api.keys.v1`` and served from memory.

The service and the ``tilik keys`` CLI share this store: both write the compacted topic and read it
back, so a key made by either works on every instance. A key's secret exists only in the answer
to the one who made it; the topic holds its scrypt hash (``api.secrets``).
"""

from __future__ import annotations

import asyncio
import hmac
import time
from dataclasses import dataclass

from api import secrets
from core.lifecycle import Lifecycle
from core.settings import Settings
from topics.catalog import API_KEYS
from topics.client import CatalogProducer
from topics.follow import FollowedTable
from topics.models import ApiKey, ApiKeyKind, utcnow

# A failed check looks at the topic's end again at most this often (a key made by another writer
# a moment ago is found; a flood of wrong keys costs one lookup per interval).
_RESYNC_INTERVAL_S = 0.5


class UnknownKey(LookupError):
    """No live key has that id."""


@dataclass(frozen=True)
class Issued:
    """A key just made or rotated: its record and the token, to be shown once."""

    record: ApiKey
    key: secrets.NewKey


class KeyStore(Lifecycle):
    """Every API key by id, from the keys topic; writes go to the topic and are read back."""

    def __init__(
        self,
        *,
        producer: CatalogProducer | None = None,
        component: str = "api.keys",
        settings: Settings | None = None,
    ) -> None:
        self._table = FollowedTable(API_KEYS, ApiKey, component=component, settings=settings)
        self._keys = self._table.rows
        self._view = self._table.view
        # key id -> (fingerprint of the token, the hash it was verified against)
        self._verified: dict[str, tuple[bytes, str]] = {}
        # A producer given is the caller's to start and stop.
        self._own_producer = producer is None
        self._producer = producer or CatalogProducer(
            client_id=f"tilik-{component}", settings=settings
        )
        self._last_sync = 0.0
        self._sync_lock = asyncio.Lock()

    @property
    def ready(self) -> asyncio.Event:
        return self._view.ready

    async def start(self) -> None:
        await self._view.start()
        if self._own_producer:
            await self._producer.start()

    async def stop(self) -> None:
        if self._own_producer:
            await self._producer.stop()
        await self._view.stop()

    # --- reading -----------------------------------------------------------------------

    def records(self) -> list[ApiKey]:
        return sorted(self._keys.values(), key=lambda k: (k.kind, k.subject or "", k.key_id))

    def get(self, key_id: str) -> ApiKey | None:
        return self._keys.get(key_id)

    async def authenticate(self, token: str) -> ApiKey | None:
        """The live key ``token`` is, or ``None`` (unknown, revoked, wrong secret, malformed)."""
        try:
            key_id = secrets.key_id_of(token)
        except secrets.MalformedKey:
            return None
        found = await self._check(key_id, token)
        if found is None and await self._resync():
            found = await self._check(key_id, token)
        return found

    async def _check(self, key_id: str, token: str) -> ApiKey | None:
        record = self._keys.get(key_id)
        if record is None or record.secret_hash is None:
            return None
        stored = record.secret_hash
        known = self._verified.get(key_id)
        fingerprint = secrets.fingerprint(token)
        if known is not None and known[1] == stored:
            return record if hmac.compare_digest(known[0], fingerprint) else None
        if not await asyncio.to_thread(secrets.verify_key, token, stored):
            return None
        self._verified[key_id] = (fingerprint, stored)
        return record

    async def _resync(self) -> bool:
        """Catch up with the topic's end unless that was done a moment ago; whether it was."""
        async with self._sync_lock:
            if time.monotonic() - self._last_sync < _RESYNC_INTERVAL_S:
                return False
            await self._view.sync()
            self._last_sync = time.monotonic()
            return True

    # --- writing -----------------------------------------------------------------------

    async def _write(self, record: ApiKey) -> ApiKey:
        written = await self._producer.send(API_KEYS, record)
        await self._view.wait_applied(written)
        return record

    async def issue(
        self, kind: ApiKeyKind, subject: str | None, *, actor: str, label: str | None = None
    ) -> Issued:
        key = secrets.new_key()
        now = utcnow()
        record = ApiKey(
            key_id=key.key_id,
            kind=kind,
            subject=subject,
            label=label,
            secret_hash=await asyncio.to_thread(secrets.hash_key, key.token),
            created_at=now,
            updated_at=now,
            actor=actor,
        )
        return Issued(await self._write(record), key)

    async def _live(self, key_id: str) -> ApiKey:
        record = self._keys.get(key_id)
        if record is None or record.revoked_at is not None:
            await self._view.sync()
            record = self._keys.get(key_id)
        if record is None or record.revoked_at is not None:
            raise UnknownKey(f"no live API key {key_id}")
        return record

    async def rotate(self, key_id: str, *, actor: str) -> Issued:
        """A new secret for a live key; the old one stops working at once."""
        record = await self._live(key_id)
        key = secrets.new_key(key_id)
        rotated = record.model_copy(
            update={
                "secret_hash": await asyncio.to_thread(secrets.hash_key, key.token),
                "updated_at": utcnow(),
                "actor": actor,
            }
        )
        return Issued(await self._write(ApiKey.model_validate(rotated.model_dump())), key)

    async def revoke(self, key_id: str, *, actor: str) -> ApiKey:
        record = await self._live(key_id)
        now = utcnow()
        revoked = record.model_copy(
            update={"secret_hash": None, "revoked_at": now, "updated_at": now, "actor": actor}
        )
        return await self._write(ApiKey.model_validate(revoked.model_dump()))
