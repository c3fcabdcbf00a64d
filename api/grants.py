"""Networks the operator grants a tenant's recorders, beyond the public internet: kept in
``tilik.api.network_grants.v1`` (compacted, one record per tenant), served from memory, and made
into the tenant's probe policy (``connectors.sdk.netpolicy.tenant_policy``)."""

from __future__ import annotations

import asyncio

from connectors.sdk.netpolicy import ProbePolicy, tenant_policy
from core.lifecycle import Lifecycle
from core.settings import Settings
from topics.catalog import NETWORK_GRANTS
from topics.client import CatalogProducer
from topics.follow import FollowedTopic
from topics.models import NetworkGrant, utcnow
from topics.reader import Received


class NetworkGrants(Lifecycle):
    """Every tenant's granted networks, from the grants topic; a grant is written and read back."""

    def __init__(self, producer: CatalogProducer, *, settings: Settings | None = None) -> None:
        self._producer = producer
        self._grants: dict[str, NetworkGrant] = {}
        self._view = FollowedTopic(
            NETWORK_GRANTS, self._fold, component="api.grants", settings=settings
        )

    @property
    def ready(self) -> asyncio.Event:
        return self._view.ready

    async def start(self) -> None:
        await self._view.start()

    async def stop(self) -> None:
        await self._view.stop()

    def _fold(self, received: Received) -> None:
        assert received.key is not None
        if received.value is None:
            self._grants.pop(received.key, None)
        else:
            self._grants[received.key] = received.value_as(NetworkGrant)

    def networks(self, tenant: str) -> list[str]:
        grant = self._grants.get(tenant)
        return list(grant.networks) if grant is not None else []

    def policy(self, tenant: str) -> ProbePolicy:
        """What the city may probe for ``tenant``: the public internet and its granted networks."""
        return tenant_policy(self.networks(tenant))

    async def grant(self, tenant: str, networks: list[str], *, actor: str) -> NetworkGrant:
        """Replace ``tenant``'s granted networks (an empty list takes every grant back)."""
        record = NetworkGrant(tenant_id=tenant, networks=networks, updated_at=utcnow(), actor=actor)
        written = await self._producer.send(NETWORK_GRANTS, record)
        await self._view.wait_applied(written)
        return record
