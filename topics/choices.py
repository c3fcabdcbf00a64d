"""A tenant's choices applied to one of its camera records: the one rule the hub's ingest domain
publishes by and ``tilik api`` shows by (pure, clock-free).

    choice                      the registry record
    none, or not confirmed      ``registry_only``: the city knows the camera exists, no more
    confirmed                   the chosen sharing (none chosen: the level the site sends), and
                                the chosen name and placement where given
    revoked                     no record at all: the camera is out of the registry until its
                                tenant confirms it again

A ``registry_only`` record carries no stream URIs, whatever the site sent.
"""

from __future__ import annotations

from topics.models import CameraChoice, CameraRecord, SharingLevel, utcnow


def chosen(record: CameraRecord, choice: CameraChoice | None) -> CameraRecord | None:
    """``record`` (the tenant's, as stamped from what its site sent) as its tenant chose; ``None``
    for a revoked camera."""
    if choice is not None and choice.revoked:
        return None
    update: dict[str, object] = {}
    if choice is None or not choice.confirmed:
        sharing = SharingLevel.REGISTRY_ONLY
    else:
        sharing = choice.sharing or record.sharing
        if choice.name is not None:
            update["name"] = choice.name
        if choice.location is not None:
            update["location"] = choice.location
    update["sharing"] = sharing
    if sharing is SharingLevel.REGISTRY_ONLY:
        update["streams"] = []
    return record.model_copy(update=update)


def revocation(
    camera_id: str, tenant: str, *, actor: str, known: CameraChoice | None = None
) -> CameraChoice:
    """The choice that revokes a tenant's camera, keeping what was chosen about it before (a
    confirmation after it takes the camera back as it was)."""
    before = {} if known is None else known.model_dump(exclude={"revoked", "confirmed"})
    return CameraChoice.model_validate(
        {
            **before,
            "camera_id": camera_id,
            "tenant_id": tenant,
            "revoked": True,
            "confirmed": False,
            "updated_at": utcnow(),
            "actor": actor,
        }
    )
