"""One aiohttp application serving many simulated cameras, each on its own listening socket."""

from __future__ import annotations

import asyncio
import socket

import structlog
from aiohttp import web

from connectors.onvif.simulator.device import VirtualCamera
from connectors.onvif.simulator.device_services import DEVICE_OPERATIONS
from connectors.onvif.simulator.event_services import EVENT_OPERATIONS
from connectors.onvif.simulator.faults import (
    HUGE_HEADER_BYTES,
    Fault,
    hostile_payload,
    malformed_payload,
)
from connectors.onvif.simulator.media2_services import MEDIA2_OPERATIONS
from connectors.onvif.simulator.operations import (
    UNAUTHENTICATED,
    RequestContext,
    Service,
    SoapFault,
    offers,
)
from connectors.onvif.simulator.soap import (
    CONTENT_TYPE,
    MalformedRequest,
    SoapRequest,
    envelope,
    fault_body,
    parse_request,
)
from connectors.onvif.simulator.wsse import AuthenticationFailed, verify_username_token
from connectors.sdk.simulation.device import SNAPSHOT_JPEG

log = structlog.get_logger(__name__)

OPERATIONS = {**DEVICE_OPERATIONS, **EVENT_OPERATIONS, **MEDIA2_OPERATIONS}

MAX_REQUEST_BYTES = 256 * 1024


def _fault_response(fault: SoapFault) -> web.Response:
    body = envelope(fault_body(fault.code, fault.subcodes, fault.reason, fault.detail))
    return web.Response(body=body, status=fault.status, content_type=CONTENT_TYPE, charset="utf-8")


def not_authorized(camera: VirtualCamera) -> SoapFault:
    return SoapFault(
        camera.identity.vendor.auth_fault_status,
        "env:Sender",
        ("ter:NotAuthorized",),
        "Sender not Authorized",
    )


class CameraServer:
    """Routes each request to the camera owning the local socket it arrived on."""

    def __init__(self, *, shutdown_timeout: float = 1.0) -> None:
        self.app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        self.app.router.add_post("/onvif/subscription/{subscription_id}", self._on_subscription)
        self.app.router.add_post("/onvif/{service}", self._on_service)
        self.app.router.add_get("/onvif/snapshot", self._on_snapshot)
        self._runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=shutdown_timeout
        )
        self._by_socket: dict[tuple[str, int], VirtualCamera] = {}
        self._sites: dict[int, tuple[web.SockSite, tuple[str, int]]] = {}

    async def start(self) -> None:
        await self._runner.setup()

    async def stop(self) -> None:
        await self._runner.cleanup()
        self._by_socket.clear()
        self._sites.clear()

    async def bind(self, camera: VirtualCamera, host: str, port: int) -> tuple[str, int]:
        """Listen for ``camera`` on ``host:port`` (0 picks a free port), replacing its old socket."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        bound: tuple[str, int] = sock.getsockname()[:2]
        site = web.SockSite(self._runner, sock, backlog=512)
        await site.start()
        previous = self._sites.get(id(camera))
        self._sites[id(camera)] = (site, bound)
        self._by_socket[bound] = camera
        if previous is not None:
            old_site, old_socket = previous
            self._by_socket.pop(old_socket, None)
            await old_site.stop()
        camera.attach(self, *bound)
        return bound

    async def unbind(self, camera: VirtualCamera) -> None:
        """Close ``camera``'s listener; its address stops answering."""
        entry = self._sites.pop(id(camera), None)
        if entry is not None:
            site, bound = entry
            self._by_socket.pop(bound, None)
            await site.stop()

    def _camera(self, request: web.Request) -> VirtualCamera:
        transport = request.transport
        local = transport.get_extra_info("sockname") if transport is not None else None
        camera = self._by_socket.get(tuple(local[:2])) if local else None
        if camera is None:
            # The camera moved away or lost power: a connection still open to it just dies.
            if transport is not None:
                transport.close()
            raise web.HTTPNotFound(headers={"Connection": "close"})
        return camera

    async def _on_snapshot(self, request: web.Request) -> web.Response:
        await self._camera(request).until_answering()
        return web.Response(body=SNAPSHOT_JPEG, content_type="image/jpeg")

    async def _on_service(self, request: web.Request) -> web.Response:
        try:
            service = Service(request.match_info["service"])
        except ValueError:
            raise web.HTTPNotFound() from None
        if service is Service.SUBSCRIPTION:
            raise web.HTTPNotFound()
        return await self._dispatch(request, service, "")

    async def _on_subscription(self, request: web.Request) -> web.Response:
        return await self._dispatch(
            request, Service.SUBSCRIPTION, request.match_info["subscription_id"]
        )

    async def _dispatch(
        self, request: web.Request, service: Service, subscription_id: str
    ) -> web.Response:
        camera = self._camera(request)
        raw_request = await request.read()
        await camera.until_answering()
        faults = camera.fault_state
        if faults.draw(Fault.REBOOT):
            camera.reboot()
        if faults.draw(Fault.SLOW):
            await asyncio.sleep(faults.plan.slow_seconds)
        try:
            soap = parse_request(raw_request)
        except MalformedRequest as exc:
            return _fault_response(SoapFault(400, "env:Sender", ("ter:WellFormed",), str(exc)))
        handler = OPERATIONS.get((service, soap.operation)) if offers(camera, service) else None
        if handler is None:
            return _fault_response(
                SoapFault(
                    500,
                    "env:Receiver",
                    ("ter:ActionNotSupported",),
                    f"Optional action {soap.operation} not implemented",
                )
            )
        try:
            if (service, soap.operation) not in UNAUTHENTICATED:
                self._authenticate(camera, soap)
            reply = await handler(RequestContext(camera, soap, subscription_id))
        except SoapFault as fault:
            return _fault_response(fault)
        body = envelope(
            reply.body, action=reply.action, relates_to=soap.message_id if reply.action else None
        )
        if faults.draw(Fault.MALFORMED):
            body = malformed_payload(body, camera.rng)
        elif soap.operation == "PullMessages" and faults.draw(Fault.XXE):
            body, kind = hostile_payload(body, camera.rng)
            log.debug("onvif_sim.hostile_event_response", camera=camera.index, kind=kind)
        headers = {"X-Padding": "x" * HUGE_HEADER_BYTES} if faults.draw(Fault.HUGE_HEADER) else None
        return web.Response(body=body, content_type=CONTENT_TYPE, charset="utf-8", headers=headers)

    @staticmethod
    def _authenticate(camera: VirtualCamera, soap: SoapRequest) -> None:
        if camera.fault_state.draw(Fault.UNAUTHORIZED):
            raise not_authorized(camera)
        try:
            verify_username_token(
                soap.header,
                username=camera.username,
                password=camera.password,
                camera_now=camera.now(),
                nonces=camera.nonces,
            )
        except AuthenticationFailed as exc:
            log.debug(
                "onvif_sim.auth_rejected",
                camera=camera.index,
                operation=soap.operation,
                reason=str(exc),
            )
            raise not_authorized(camera) from None
