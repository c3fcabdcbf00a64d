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

from api.opened import OpenedOnDemand
from core.lifecycle import Lifecycle
from core.settings import Settings
from topics.catalog import CAMERA_CHOICES, tenant_topics
from topics.client import CatalogProducer
from topics.follow import WrittenTopic
from topics.models import CameraChoice, SiteConfig, utcnow
from topics.reader import Received


class TenantSites(WrittenTopic):
    """One tenant's sites, by site id, from its site configuration topic."""

    def __init__(
        self, tenant: str, producer: CatalogProducer, *, settings: Settings | None = None
    ) -> None:
        self.tenant = tenant
        self.sites: dict[str, SiteConfig] = {}
        super().__init__(
            tenant_topics(tenant).site_config,
            self._fold,
            producer,
            component=f"api.sites.{tenant}",
            settings=settings,
        )

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
        await self.write(site)
        return site

    async def mark_revoked(self, site_id: str, camera_id: str, *, revoked: bool) -> None:
        """Add a camera to the site's revoked ones (or take it out) for its edge agent."""
        site = self.sites.get(site_id)
        if site is None or (camera_id in site.revoked) == revoked:
            return
        ids = sorted({*site.revoked, camera_id} if revoked else set(site.revoked) - {camera_id})
        await self.put(site.model_copy(update={"revoked": ids, "updated_at": utcnow()}))

    async def remove(self, site_id: str) -> None:
        await self.write(None, key=site_id)


class CameraChoices(WrittenTopic):
    """Every tenant's choices about its cameras, by camera id and by tenant."""

    def __init__(self, producer: CatalogProducer, *, settings: Settings | None = None) -> None:
        self._choices: dict[str, CameraChoice] = {}
        self._by_tenant: dict[str, set[str]] = defaultdict(set)
        super().__init__(
            CAMERA_CHOICES, self._fold, producer, component="api.choices", settings=settings
        )

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

    async def choose(self, choice: CameraChoice) -> CameraChoice:
        await self.write(choice)
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
