"""Tenants' choices about their cameras, applied to the registry by the ingest domain.

``tilik api`` writes a tenant's choice about one camera (confirmed, name, placement, sharing,
revoked) to ``tilik.cameras.choices.v1``, keyed by the city's camera id; only the API's principal
may write it. The ingest domain stays the one writer of tenants' records into the registry:

- every worker holds all choices (``ChoicesView``, followed from the start), and applies the
  camera's choice to each record a site sends (``topics.choices.chosen``): until confirmed, a
  camera is ``registry_only``; a revoked camera stays out;
- a choice arriving is applied at once to the camera's last record (``Choosing``, one agent over
  the partitioned topic, so one worker acts on it), without waiting for the site: its edge agent
  may be offline, and a lowering or a revocation must not wait for it. A revocation writes the
  camera's ``CameraRemoval`` and the registry's tombstone, the way ``tilik connectors remove``
  removes a city camera; a later confirmation takes it back (the removal's tombstone) and
  republishes its last record.

The last record is the one the site sent last, as stamped (kept by the worker that ingested it),
else the registry's. A worker that restarted and never saw the site's record since has only the
registry's, which holds no stream URIs while the camera was ``registry_only``: raising such a
camera brings its streams back when the site next sends it (every start of its agent does).
"""

from __future__ import annotations

from typing import Any

import faust
import structlog

from core.settings import Settings
from hub.edge import Edges
from hub.followed_view import FollowedView
from hub.gaps import GapGuard
from hub.isolation import RecordIsolation, catalog_entry
from hub.registry_view import RegistryView
from topics.catalog import CAMERA_CHOICES, CAMERA_REGISTRY, CAMERA_REMOVALS
from topics.choices import chosen
from topics.models import CameraChoice, CameraRecord, CameraRemoval, utcnow
from topics.reader import Received

log = structlog.get_logger(__name__)
COMPONENT = "hub.ingest.choices"


class ChoicesView(FollowedView):
    """camera_id -> its tenant's latest choice, for the whole city."""

    def __init__(self, bootstrap: str, *, settings: Settings | None = None) -> None:
        super().__init__(CAMERA_CHOICES, bootstrap, component=COMPONENT, settings=settings)
        self.choices: dict[str, CameraChoice] = {}

    def get(self, camera_id: str) -> CameraChoice | None:
        return self.choices.get(camera_id)

    def size(self) -> int:
        return len(self.choices)

    def apply(self, camera_id: str, choice: CameraChoice | None) -> None:
        if choice is None:
            self.choices.pop(camera_id, None)
        else:
            self.choices[camera_id] = choice

    def apply_received(self, received: Received) -> None:
        if received.error is not None:
            return  # dead-lettered by the agent that acts on the topic
        if isinstance(received.value, CameraChoice):
            self.apply(received.value.camera_id, received.value)
        elif received.value is None and received.key:
            self.apply(received.key, None)


class Choosing:
    """Applies each new choice to its camera's last record at once (module docstring)."""

    def __init__(
        self,
        app: faust.App,
        edges: Edges,
        registry: RegistryView,
        view: ChoicesView,
        gaps: GapGuard,
    ) -> None:
        self.edges = edges
        self.registry = registry
        self.view = view
        self.gaps = gaps
        self.isolation = RecordIsolation(edges, COMPONENT)
        #: camera id -> the record its site sent last, stamped, before any choice
        self.sent: dict[str, CameraRecord] = {}
        self.agent = app.agent(edges.topic(CAMERA_CHOICES), name="hub.ingest.choices")(
            self.apply_choices
        )
        gaps.cover(CAMERA_CHOICES.name, self.on_choice_event)

    def remember(self, record: CameraRecord) -> None:
        """The latest record a site sent of a camera (stamped, before its choice)."""
        self.sent[record.camera_id] = record

    def as_chosen(self, record: CameraRecord) -> CameraRecord | None:
        """A stamped record as its tenant chose (``None``: revoked, not to be published)."""
        self.remember(record)
        return chosen(record, self.view.get(record.camera_id))

    async def apply_choices(self, stream: Any) -> None:
        """Agent: each choice, applied to its camera's last record."""
        await self.view.ready.wait()
        await self.registry.ready.wait()
        async for event in self.gaps.events(stream.events()):
            await self.on_choice_event(event)

    async def on_choice_event(self, event: Any) -> None:
        await self.isolation.handle(event, catalog_entry(CAMERA_CHOICES), self.on_choice)

    async def on_choice(self, entry: tuple[str, Any]) -> None:
        camera_id, choice = entry
        if not isinstance(choice, CameraChoice):
            return  # a choice forgotten (tombstone): the camera's records stay as they are
        # This worker acts on it now: its own view must not lag behind for records to come.
        self.view.apply(camera_id, choice)
        last = self.sent.get(camera_id) or self.registry.get(camera_id)
        if choice.revoked:
            await self.revoke(camera_id, last, choice)
            return
        if last is None:
            log.info("choice kept for a camera not seen yet", camera_id=camera_id)
            return
        if self.registry.is_revoked(camera_id) or camera_id not in self.registry.cameras:
            # Confirmed again after a revocation: no longer withheld from scans.
            await self.edges.tombstone(CAMERA_REMOVALS, camera_id)
        record = chosen(last, choice)
        assert record is not None
        await self.edges.publish(CAMERA_REGISTRY, record)

    async def revoke(self, camera_id: str, last: CameraRecord | None, choice: CameraChoice) -> None:
        removal = CameraRemoval.of(
            camera_id,
            last,
            at=utcnow(),
            actor=choice.actor,
            reason=f"revoked by tenant '{choice.tenant_id}'",
        )
        # The marker first, then the tombstone: as ``tilik connectors remove`` does.
        await self.edges.publish(CAMERA_REMOVALS, removal)
        await self.edges.tombstone(CAMERA_REGISTRY, camera_id)
        log.info("camera revoked by its tenant", camera_id=camera_id, tenant=choice.tenant_id)
