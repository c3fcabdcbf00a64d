"""Every change made over HTTP, on the audit topic: who (the key's principal), what, to which
subject, when, and from which client address."""

from __future__ import annotations

import uuid

from topics.catalog import AUDIT
from topics.client import CatalogProducer
from topics.models import AuditRecord, utcnow


class AuditTrail:
    """Writes one ``AuditRecord`` per change and waits until the broker has it."""

    def __init__(self, producer: CatalogProducer) -> None:
        self._producer = producer

    async def record(
        self,
        *,
        actor: str,
        action: str,
        subject: str,
        client: str | None,
        details: dict[str, str] | None = None,
    ) -> AuditRecord:
        record = AuditRecord(
            audit_id=f"aud-{uuid.uuid4().hex[:24]}",
            at=utcnow(),
            actor=actor,
            action=action,
            subject=subject,
            details={**(details or {}), "client": client or "unknown"},
        )
        await self._producer.send(AUDIT, record)
        return record
