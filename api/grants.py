"""Networks the operator grants a tenant's recorders, beyond the public internet: kept in
``tilik.api.network_grants.v1`` (compacted, one record per tenant), served from memory, and made
into the tenant's probe policy (``connectors.sdk.netpolicy.tenant_policy``)."""

from __future__ import annotations

from connectors.sdk.netpolicy import ProbePolicy, tenant_policy
from core.settings import Settings
from topics.catalog import NETWORK_GRANTS
from topics.client import CatalogProducer
from topics.follow import FollowedTable
from topics.models import NetworkGrant, utcnow


class NetworkGrants(FollowedTable[NetworkGrant]):
    """Every tenant's granted networks, from the grants topic; a grant is written and read back."""

    def __init__(self, producer: CatalogProducer, *, settings: Settings | None = None) -> None:
        super().__init__(NETWORK_GRANTS, NetworkGrant, component="api.grants", settings=settings)
        self._producer = producer

    def networks(self, tenant: str) -> list[str]:
        grant = self.rows.get(tenant)
        return list(grant.networks) if grant is not None else []

    def policy(self, tenant: str) -> ProbePolicy:
        """What the city may probe for ``tenant``: the public internet and its granted networks."""
        return tenant_policy(self.networks(tenant))

    async def grant(self, tenant: str, networks: list[str], *, actor: str) -> NetworkGrant:
        """Replace ``tenant``'s granted networks (an empty list takes every grant back)."""
        record = NetworkGrant(tenant_id=tenant, networks=networks, updated_at=utcnow(), actor=actor)
        written = await self._producer.send(NETWORK_GRANTS, record)
        await self.view.wait_applied(written)
        return record
