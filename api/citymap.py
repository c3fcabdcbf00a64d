"""What the command-center map shows, assembled from the service's views: every camera where it
is with its state, coverage per kecamatan, and the open alerts.

In public mode only cameras shared ``public`` are in it, without their owner or sharing level,
and only alerts on those cameras: what the public catalog shows, and nothing more.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, Field

from api.cameras import Cameras, PlacedCamera
from api.cityalerts import CityAlerts, OpenAlert
from topics.gazetteer import Gazetteer, semarang
from topics.models import CameraState, utcnow

# A rendered view is served to every reader for this long: at city size (20,000 cameras) one
# rendering costs about a second of CPU, which many open maps must not multiply.
VIEW_FRESH_S = 2.0


class MapCamera(BaseModel):
    camera_id: str
    name: str
    site_type: str
    kecamatan: str | None = Field(
        description="The kecamatan it is counted in: its record's, else the nearest centre's."
    )
    status: str = Field(description="online, offline, unauthorized, degraded or unknown")
    point: tuple[float, float] | None = Field(description="(lat, lon)")
    owner_id: str | None = Field(default=None, description="Operators only.")
    sharing: str | None = Field(default=None, description="Operators only.")


class AreaCoverage(BaseModel):
    kecamatan: str
    registered: int
    online: int
    percent: float | None = Field(description="Online share of the registered; none without any.")


class MapView(BaseModel):
    public: bool
    at: datetime
    cameras: list[MapCamera]
    coverage: list[AreaCoverage]
    alerts: list[OpenAlert]
    unplaced: int = Field(description="Cameras with neither a known kecamatan nor coordinates.")


def area_of(camera: PlacedCamera, gazetteer: Gazetteer) -> str | None:
    named = gazetteer.named(camera.kecamatan)
    if named is not None:
        return named.name
    if camera.point is not None:
        return gazetteer.nearest(*camera.point).name
    return None


def map_camera(camera: PlacedCamera, state: str, area: str | None, *, public: bool) -> MapCamera:
    return MapCamera(
        camera_id=camera.camera_id,
        name=camera.name,
        site_type=camera.site_type,
        kecamatan=area,
        status=state,
        point=camera.point,
        owner_id=None if public else camera.owner_id,
        sharing=None if public else camera.sharing.value,
    )


def map_view(
    cameras: Iterable[tuple[PlacedCamera, str]],
    alerts: Iterable[OpenAlert],
    gazetteer: Gazetteer,
    *,
    public: bool,
    at: datetime,
) -> MapView:
    """``cameras`` (each with its state) are those the reader may see; in public mode ``alerts``
    are kept only on those cameras."""
    counts = {k.name: [0, 0] for k in gazetteer.kecamatan}
    shown: list[MapCamera] = []
    unplaced = 0
    for camera, state in cameras:
        area = area_of(camera, gazetteer)
        shown.append(map_camera(camera, state, area, public=public))
        if area is None:
            unplaced += 1
            continue
        counts[area][0] += 1
        counts[area][1] += state == CameraState.ONLINE.value
    seen = {c.camera_id for c in shown}
    coverage = [
        AreaCoverage(
            kecamatan=name,
            registered=registered,
            online=online,
            percent=round(100.0 * online / registered, 1) if registered else None,
        )
        for name, (registered, online) in counts.items()
    ]
    return MapView(
        public=public,
        at=at,
        cameras=shown,
        coverage=coverage,
        alerts=[a for a in alerts if not public or a.camera_id in seen],
        unplaced=unplaced,
    )


class MapViews:
    """The operator's and the public view, rendered (JSON) at most once per ``VIEW_FRESH_S``
    each, off the event loop, from a snapshot taken on it."""

    def __init__(self, cameras: Cameras, alerts: CityAlerts) -> None:
        self._cameras = cameras
        self._alerts = alerts
        self._rendered: dict[bool, tuple[float, bytes]] = {}
        self._locks = {True: asyncio.Lock(), False: asyncio.Lock()}

    async def rendered(self, *, public: bool) -> bytes:
        await self._alerts.ready()
        async with self._locks[public]:
            known = self._rendered.get(public)
            if known is not None and time.monotonic() - known[0] < VIEW_FRESH_S:
                return known[1]
            cameras = list(self._cameras.placed(public_only=public))
            alerts = self._alerts.open_alerts()
            at = utcnow()

            def render() -> bytes:
                view = map_view(cameras, alerts, semarang(), public=public, at=at)
                return view.model_dump_json().encode("utf-8")

            body = await asyncio.to_thread(render)
            self._rendered[public] = (time.monotonic(), body)
            return body
