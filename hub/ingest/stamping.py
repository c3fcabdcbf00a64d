"""What one record of a tenant's ingest topic becomes in the shared topics: pure, clock-free.

The tenant is the topic's, never the payload's: only the tenant's principal may write
``tilik.tenant.<tenant>.*`` (docs/access.md), so the topic says who sent a record. What a site
sends is then made the tenant's own:

    field                       the site sent                 the city publishes
    owner                       private <tenant>              private <tenant>; anything else
                                                              (municipal, another tenant) refused
    camera_id, device_id,       the site's ids                ``tenant_scoped`` ids: hashed with
    event_id                                                  the tenant, so no id a site sends
                                                              can name a city camera or another
                                                              tenant's
    connector                   the site's (``hikvision``)    ``edge``: no city runtime watches it
    credential_ref,             the site's                    dropped: they mean something only
    connector_config                                          at the site
    an event                    any camera                    only of a camera in the registry
                                                              whose sharing lets events flow

What the tenant chose about the camera (confirmed, name, placement, sharing, revoked) is applied
to the stamped record afterwards (``topics.choices.chosen``, by ``hub.ingest.choices``): until
its tenant confirms it, a camera is ``registry_only``, without stream URIs.

A refusal is a ``Refused`` with the reason (dead-lettered and audited by the agent); an event the
owner's sharing withholds is a ``Withheld`` (counted, not a fault).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from topics.catalog import tenant_topics
from topics.choices import chosen
from topics.identity import tenant_scoped
from topics.models import (
    CAMERA_ID_PATTERN,
    CameraChoice,
    CameraRecord,
    CameraStatus,
    DeviceEvent,
    Owner,
    OwnerKind,
    SharingLevel,
)

#: the connector name of every camera a tenant's edge agent watches, as the registry records it
EDGE_CONNECTOR = "edge"


@dataclass(frozen=True)
class Refused:
    """The record is not republished: the reason goes to the dead letters and the audit topic."""

    reason: str


@dataclass(frozen=True)
class Withheld:
    """An event the camera's owner does not share (its sharing level), dropped by design."""

    camera_id: str
    sharing: SharingLevel


def stamped_camera(tenant: str, record: CameraRecord) -> CameraRecord | Refused:
    """A tenant's camera made the tenant's own (before its choices are applied), or why it is
    refused."""
    owner = record.owner
    if owner.kind is not OwnerKind.PRIVATE or owner.id != tenant:
        return Refused(
            f"a camera on {tenant_topics(tenant).cameras.name} is owned by private tenant "
            f"'{tenant}'; this one names {owner.kind.value} '{owner.id}'"
        )
    return record.model_copy(
        update={
            "camera_id": tenant_scoped(tenant, record.camera_id),
            "device_id": tenant_scoped(tenant, record.device_id),
            "connector": EDGE_CONNECTOR,
            "owner": Owner(kind=OwnerKind.PRIVATE, id=tenant, name=owner.name),
            "credential_ref": None,
            "connector_config": {},
        }
    )


def shared_revocation(tenant: str, key: str | None) -> str | Refused:
    """The registry key a tenant's tombstone revokes, or why it is refused."""
    if key is None or re.fullmatch(CAMERA_ID_PATTERN, key) is None:
        return Refused(
            f"a tombstone on {tenant_topics(tenant).cameras.name} must be keyed by a camera id"
        )
    return tenant_scoped(tenant, key)


def shared_status(tenant: str, status: CameraStatus) -> CameraStatus:
    return status.model_copy(
        update={"camera_id": tenant_scoped(tenant, status.camera_id), "connector": EDGE_CONNECTOR}
    )


def shared_event(
    tenant: str,
    event: DeviceEvent,
    camera: CameraRecord | None,
    choice: CameraChoice | None = None,
) -> DeviceEvent | Refused | Withheld:
    """A tenant's event as the shared topic carries it. ``camera`` is the registry's record of
    the event's camera (``tenant_scoped`` id), whose sharing decides, never the event's word.

    ``choice`` is the tenant's latest choice about the camera as this worker knows it. It reaches
    the registry one hop later (``hub.ingest.choices`` republishes the record), so a record that
    does not show it yet is judged as the choice makes it: an event the site received just after
    its tenant confirmed the camera is shared, not withheld by a registry that lags the choice.
    With a choice, ``camera`` may be the site's record as stamped: the choice decides its sharing.
    """
    camera_id = tenant_scoped(tenant, event.camera_id)
    if camera is None:
        return Refused(
            f"camera {camera_id} of tenant '{tenant}' is not in the registry: its site sends the "
            "camera before its events (replay this record once the camera is registered)"
        )
    if choice is not None:
        if choice.revoked:
            return Withheld(camera_id, SharingLevel.REGISTRY_ONLY)
        camera = chosen(camera, choice) or camera
    if camera.sharing is SharingLevel.REGISTRY_ONLY:
        return Withheld(camera_id, camera.sharing)
    source = event.source.model_copy(
        update={
            "connector": EDGE_CONNECTOR,
            "device_id": tenant_scoped(tenant, event.source.device_id),
        }
    )
    return event.model_copy(
        update={
            "event_id": tenant_scoped(tenant, event.event_id),
            "camera_id": camera_id,
            "source": source,
        }
    )
