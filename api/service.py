"""What ``tilik api`` serves from: its keys, the cameras (public catalog, map, tenants' cameras),
tenants' sites and camera choices, agencies' inboxes and the city's open alerts, all read from
Kafka as the API's own principal, and the one producer its changes go through."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from api.audit import AuditTrail
from api.cameras import Cameras
from api.cityalerts import CityAlerts
from api.citymap import MapViews
from api.grants import NetworkGrants
from api.inbox import Inboxes
from api.keys import KeyStore
from api.ratelimit import RateLimiter
from api.tenants import Tenants
from core.lifecycle import Lifecycle
from core.settings import Settings, get_settings
from topics.admin import admin_client
from topics.catalog import agency_of_topic, dispatch_topic_name
from topics.client import CatalogProducer

# Wrong keys one client address may present per minute before it is answered 429 unchecked.
FAILED_AUTH_PER_MINUTE = 30
# Recorders one tenant may ask the city to probe per minute: registering is a connection from the
# city's address to one the tenant names, which must not become a port scanner.
RECORDER_PROBES_PER_MINUTE = 20


@dataclass(frozen=True)
class ApiOptions:
    """How the service behaves, from ``Settings`` (``TILIK_API_*``)."""

    stream_url_template: str | None
    public_rate_per_minute: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiOptions:
        return cls(settings.api_stream_url_template, settings.api_public_rate_per_minute)


class ApiService(Lifecycle):
    """The parts the endpoints serve from; made and started together (inside the event loop the
    server runs, which Kafka clients need), stopped together."""

    producer: CatalogProducer
    keys: KeyStore
    cameras: Cameras
    inboxes: Inboxes
    tenants: Tenants
    city_alerts: CityAlerts
    map_views: MapViews
    audit: AuditTrail
    grants: NetworkGrants

    def __init__(
        self, options: ApiOptions | None = None, *, settings: Settings | None = None
    ) -> None:
        self.settings = settings or get_settings()
        self.options = options or ApiOptions.from_settings(self.settings)
        self.public_limit = RateLimiter(self.options.public_rate_per_minute)
        #: failed authentications per client address: each costs a scrypt check
        self.failed_auth_limit = RateLimiter(FAILED_AUTH_PER_MINUTE)
        #: recorder registrations per tenant
        self.recorder_limit = RateLimiter(RECORDER_PROBES_PER_MINUTE)

    async def start(self) -> None:
        settings = self.settings
        self.producer = CatalogProducer(client_id="tilik-api", settings=settings)
        self.keys = KeyStore(producer=self.producer, settings=settings)
        self.cameras = Cameras(
            stream_url_template=self.options.stream_url_template, settings=settings
        )
        self.inboxes = Inboxes(self.producer, settings=settings)
        self.tenants = Tenants(self.producer, settings=settings)
        self.city_alerts = CityAlerts(self.inboxes, self.dispatch_agencies)
        self.map_views = MapViews(self.cameras, self.city_alerts)
        self.audit = AuditTrail(self.producer)
        self.grants = NetworkGrants(self.producer, settings=settings)
        await self.producer.start()
        await self.keys.start()
        await self.cameras.start()
        await self.grants.start()
        await self.tenants.start()
        await self.keys.ready.wait()
        await self.grants.ready.wait()

    async def stop(self) -> None:
        if not hasattr(self, "producer"):
            return
        await self.city_alerts.stop()
        await self.inboxes.stop()
        await self.tenants.stop()
        await self.grants.stop()
        await self.cameras.stop()
        await self.keys.stop()
        await self.producer.stop()

    def dispatch_agencies(self) -> list[str]:
        """The agencies with a dispatch topic the API may read (blocking: a metadata request)."""
        with admin_client(settings=self.settings) as client:
            names = client.list_topics()
        return sorted(
            agency
            for name in names
            if (agency := agency_of_topic(name)) is not None and name == dispatch_topic_name(agency)
        )


def service_of(request: Request) -> ApiService:
    """The service the app was made for (a FastAPI dependency)."""
    service: ApiService = request.app.state.service
    return service
