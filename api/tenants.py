"""What tenants (businesses) keep in ``tilik api``: their sites and their choices about their
cameras, each in a compacted topic, served from memory with read-your-writes.

- A tenant's sites are ``SiteConfig`` records on its own ``tilik.tenant.<tenant>.sites.v1``
  (which its edge agents may read), opened when the tenant first asks: another tenant's site ids
  are simply not here.
- Camera choices (confirmed, name, placement, sharing, revoked) are ``CameraChoice`` records on
  ``tilik.cameras.choices.v1``, keyed by the city's camera id, which the hub's ingest domain
  applies to the registry (``hub.ingest.choices``). Each is served back only to the tenant it
  names.
"""

from __future__ import annotations

from collections import defaultdict

from api.follow import FollowedTopic
from api.opened import OpenedOnDemand
from core.lifecycle import Lifecycle
from core.settings import Settings
from topics.catalog import CAMERA_CHOICES, TopicSpec, tenant_topics
from topics.client import CatalogProducer
from topics.models import CameraChoice, SiteConfig
from topics.reader import Received


class TenantSites(Lifecycle):
    """One tenant's sites, by site id, from its site configuration topic."""

    def __init__(
        self, tenant: str, producer: CatalogProducer, *, settings: Settings | None = None
    ) -> None:
        self.tenant = tenant
        self.spec: TopicSpec = tenant_topics(tenant).site_config
        self._producer = producer
        self.sites: dict[str, SiteConfig] = {}
        self._view = FollowedTopic(
            self.spec, self._fold, component=f"api.sites.{tenant}", settings=settings
        )

    async def start(self) -> None:
        await self._view.start()
        await self._view.ready.wait()

    async def stop(self) -> None:
        await self._view.stop()

    def _fold(self, received: Received) -> None:
        assert received.key is not None
        if received.value is None:
            self.sites.pop(received.key, None)
            return
        site = received.value_as(SiteConfig)
        if site.tenant_id == self.tenant:  # the topic is the tenant's; a record must agree
            self.sites[received.key] = site

    def site_of_address(self, address: str) -> SiteConfig | None:
        """The site one of whose devices is at ``address``."""
        return next(
            (s for s in self.sites.values() if any(d.address == address for d in s.devices)),
            None,
        )

    async def put(self, site: SiteConfig) -> SiteConfig:
        written = await self._producer.send(self.spec, site)
        await self._view.wait_applied(written)
        return site

    async def remove(self, site_id: str) -> None:
        written = await self._producer.send(self.spec, None, key=site_id)
        await self._view.wait_applied(written)


class CameraChoices(Lifecycle):
    """Every tenant's choices about its cameras, by camera id and by tenant."""

    def __init__(self, producer: CatalogProducer, *, settings: Settings | None = None) -> None:
        self._producer = producer
        self._choices: dict[str, CameraChoice] = {}
        self._by_tenant: dict[str, set[str]] = defaultdict(set)
        self._view = FollowedTopic(
            CAMERA_CHOICES, self._fold, component="api.choices", settings=settings
        )

    async def start(self) -> None:
        await self._view.start()
        await self._view.ready.wait()

    async def stop(self) -> None:
        await self._view.stop()

    def _fold(self, received: Received) -> None:
        assert received.key is not None
        known = self._choices.pop(received.key, None)
        if known is not None:
            self._by_tenant[known.tenant_id].discard(received.key)
        if received.value is not None:
            choice = received.value_as(CameraChoice)
            self._choices[received.key] = choice
            self._by_tenant[choice.tenant_id].add(received.key)

    def of(self, tenant: str, camera_id: str) -> CameraChoice | None:
        """The tenant's choice about one of its cameras; ``None`` for any other camera."""
        choice = self._choices.get(camera_id)
        return choice if choice is not None and choice.tenant_id == tenant else None

    def of_tenant(self, tenant: str) -> dict[str, CameraChoice]:
        return {camera_id: self._choices[camera_id] for camera_id in self._by_tenant[tenant]}

    async def write(self, choice: CameraChoice) -> CameraChoice:
        written = await self._producer.send(CAMERA_CHOICES, choice)
        await self._view.wait_applied(written)
        return choice


class Tenants(Lifecycle):
    """Tenants' sites (each opened on the tenant's first request) and camera choices."""

    def __init__(self, producer: CatalogProducer, *, settings: Settings | None = None) -> None:
        self.choices = CameraChoices(producer, settings=settings)
        self._sites = OpenedOnDemand(
            lambda tenant: TenantSites(tenant, producer, settings=settings)
        )

    async def start(self) -> None:
        await self.choices.start()

    async def stop(self) -> None:
        await self._sites.stop()
        await self.choices.stop()

    async def sites_of(self, tenant: str) -> TenantSites:
        """The tenant's sites, caught up with its topic (``TopicNotFound`` without one)."""
        return await self._sites.of(tenant)
