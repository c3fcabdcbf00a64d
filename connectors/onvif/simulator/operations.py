"""The shape of a simulated camera's SOAP operations: services, request context, replies and faults."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from connectors.onvif.simulator.device import VirtualCamera
from connectors.onvif.simulator.soap import SoapRequest


class Service(StrEnum):
    """The endpoints a camera serves, by URL path."""

    DEVICE = "device_service"
    MEDIA = "media_service"
    MEDIA2 = "media2_service"
    EVENTS = "events_service"
    PTZ = "ptz_service"
    SUBSCRIPTION = "subscription"


class SoapFault(Exception):
    """A fault the device answers with; ``status`` is the HTTP status cameras pair with it."""

    def __init__(
        self,
        status: int,
        code: str,
        subcodes: tuple[str, ...],
        reason: str,
        detail: str = "",
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.subcodes = subcodes
        self.reason = reason
        self.detail = detail


def invalid_argument(reason: str) -> SoapFault:
    return SoapFault(400, "env:Sender", ("ter:InvalidArgVal", "ter:InvalidArgs"), reason)


@dataclass(frozen=True)
class RequestContext:
    camera: VirtualCamera
    request: SoapRequest
    subscription_id: str = ""


@dataclass(frozen=True)
class SoapReply:
    body: str
    action: str | None = None


Handler = Callable[[RequestContext], Awaitable[SoapReply]]
UNAUTHENTICATED = frozenset({(Service.DEVICE, "GetSystemDateAndTime")})


class OperationTable(dict[tuple[Service, str], Handler]):
    """Handlers by (service, operation name); each service module fills its own table."""

    def handles(self, service: Service, name: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self[(service, name)] = handler
            return handler

        return register


def offers(camera: VirtualCamera, service: Service) -> bool:
    """Whether the camera has this service (PTZ models only; Media and Media2 as configured)."""
    if service is Service.MEDIA:
        return camera.media in ("media", "both")
    if service is Service.MEDIA2:
        return camera.media in ("media2", "both")
    if service is Service.PTZ:
        return camera.identity.has_ptz
    return True


def xaddr(camera: VirtualCamera, service: Service) -> str:
    return f"{camera.base_url}/onvif/{service.value}"
