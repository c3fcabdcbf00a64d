"""Carrying the camera registry over to its v2 topic (``tilik connectors upgrade-registry``).

v2 of the registry (``tilik.cameras.registry.v2``) added ``connector_config``; every v1 record is
a valid v2 record without it. ``tilik topics apply`` creates the v2 topic and never deletes v1;
this copies every camera v1 holds and v2 does not yet, as it is. Those cameras are watched with
their connector's defaults, as under v1, until they are onboarded again.
"""

from __future__ import annotations

from topics.catalog import CAMERA_REGISTRY, CAMERA_REGISTRY_V1
from topics.client import CatalogProducer, read_table
from topics.models import CameraRecord


async def upgrade_registry(producer: CatalogProducer, *, bootstrap: str | None = None) -> int:
    """Copy the cameras of the v1 registry that v2 does not hold; returns how many."""
    old = await read_table(
        CAMERA_REGISTRY_V1, bootstrap=bootstrap, component="registry-upgrade", producer=producer
    )
    new = await read_table(
        CAMERA_REGISTRY, bootstrap=bootstrap, component="registry-upgrade", producer=producer
    )
    missing = [
        record
        for camera, record in old.items()
        if isinstance(record, CameraRecord) and camera not in new
    ]
    await producer.send_batch(CAMERA_REGISTRY, missing)
    return len(missing)
