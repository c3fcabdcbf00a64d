"""A business (tenant) over HTTP: it registers its sites (and gets the edge agent's site file and
command), sees the cameras found there with their health, confirms, names, places and shares
each, and revokes a camera or a whole site. Every id is scoped to the tenant the key names:
another tenant's site or camera answers exactly like one that does not exist."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator, model_validator

from api.auth import Caller, TenantCaller
from api.guards import topics_required
from api.service import ApiService, service_of
from api.sitefile import credential_ref, run_command, secret_envs, site_yaml
from api.tenants import TenantSites
from topics.choices import chosen, revocation
from topics.gazetteer import KECAMATAN
from topics.models import (
    CAMERA_ID_PATTERN,
    AdminArea,
    CameraChoice,
    CameraRecord,
    GeoPoint,
    Location,
    LongText,
    SharingLevel,
    SiteConfig,
    SiteDevice,
    SiteIdText,
    SiteType,
    StrictModel,
    utcnow,
)
from topics.names import known_name

router = APIRouter(prefix="/tenant", tags=["tenant"])

Service = Annotated[ApiService, Depends(service_of)]
SiteIdPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="A site id.")]
CameraIdPath = Annotated[str, Path(pattern=CAMERA_ID_PATTERN, description="A camera id.")]
Name = Annotated[str, Field(min_length=1, max_length=256)]
HealthState = Literal["online", "offline", "unauthorized", "degraded", "unknown"]
HEALTH_STATES = frozenset(get_args(HealthState))

NO_SITE = "no such site"
NO_CAMERA = "no such camera"


class Refused(HTTPException):
    """A tenant's request refused, with ``reason``: a short name of why, which the pages put in
    the reader's language (the JSON answer carries ``detail``)."""

    def __init__(self, code: int, reason: str, detail: str) -> None:
        super().__init__(code, detail)
        self.reason = reason


def _no_site() -> Refused:
    return Refused(status.HTTP_404_NOT_FOUND, "no_site", NO_SITE)


def _no_camera() -> Refused:
    return Refused(status.HTTP_404_NOT_FOUND, "no_camera", NO_CAMERA)


# --- what a tenant sends --------------------------------------------------------------------


class DeviceIn(StrictModel):
    """One recorder or camera at the site, as the site reaches it."""

    kind: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{1,31}$")] = Field(
        description="Its connector: `onvif`, `hikvision`, `dahua` (or an installed plugin)."
    )
    address: Annotated[str, Field(pattern=r"^[A-Za-z0-9.\-\[\]:]{1,253}:\d{1,5}$")] = Field(
        description="host:port on the site's own network."
    )
    username: Annotated[str, Field(pattern=r"^[^@:\s/]{1,64}$")] = "admin"
    credential: Annotated[str, Field(pattern=r"^[A-Z0-9_]{1,48}$")] | None = Field(
        default=None,
        description=(
            "The NAME of the password at the site: it is set there as TILIK_CAMERA_SECRET_<NAME>,"
            " never sent here."
        ),
    )
    sharing: SharingLevel = Field(
        default=SharingLevel.REGISTRY_ONLY,
        description="What the device's cameras share once confirmed (each can be changed).",
    )


class SiteIn(StrictModel):
    site_id: SiteIdText
    name: Name | None = None
    devices: list[DeviceIn] = Field(min_length=1, max_length=100)


class PlacementIn(StrictModel):
    """Where a camera is: by kecamatan / kelurahan / RW / RT, and/or a point."""

    kecamatan: Name | None = None
    kelurahan: Name | None = None
    rw: Annotated[str, Field(pattern=r"^\d{1,3}$")] | None = None
    rt: Annotated[str, Field(pattern=r"^\d{1,3}$")] | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    address: LongText | None = None

    @field_validator("kecamatan")
    @classmethod
    def _known_kecamatan(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # UnknownName is a ValueError: its message lists the city's kecamatan, not the input.
        spaced = " ".join(value.split())
        return known_name(spaced, KECAMATAN, what="kecamatan of the city", echo=False)

    @model_validator(mode="after")
    def _point_whole(self) -> PlacementIn:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give lat and lon together")
        return self


class CameraPatch(StrictModel):
    """What a tenant decides about one camera; only the fields given change."""

    confirmed: bool | None = Field(
        default=None, description="true: the camera is the tenant's and shares its level."
    )
    name: Name | None = None
    placement: PlacementIn | None = None
    sharing: SharingLevel | None = None

    @model_validator(mode="after")
    def _something(self) -> CameraPatch:
        if not self.model_fields_set:
            raise ValueError("nothing to change: give confirmed, name, placement or sharing")
        return self


# --- what a tenant gets ---------------------------------------------------------------------


class SiteInfo(BaseModel):
    site_id: str
    name: str | None
    devices: list[SiteDevice]
    cameras: int = Field(description="Cameras of the site in the registry.")


class RegisteredSite(BaseModel):
    site: SiteInfo
    site_yaml: str = Field(description="The edge agent's site file: no secret in it.")
    command: str = Field(description="The one command to run at the site.")
    secrets: list[str] = Field(description="Variables to set at the site (names only).")


class TenantCamera(BaseModel):
    """One of the tenant's cameras as the tenant sees it."""

    camera_id: str
    name: str
    site_id: str | None
    status: HealthState
    checked_at: datetime | None = Field(description="When its health was last checked.")
    confirmed: bool
    sharing: SharingLevel = Field(description="What the camera shares now.")
    location: Location
    site_type: SiteType
    device_id: str
    channel: int | None
    vendor: str | None
    model: str | None


class CameraPage(BaseModel):
    items: list[TenantCamera]
    next: str | None = None


class Revoked(BaseModel):
    revoked: list[str] = Field(description="The camera ids revoked.")


# --- helpers --------------------------------------------------------------------------------


async def sites_of(service: ApiService, caller: Caller) -> TenantSites:
    with topics_required("this tenant has no topics yet: the operator adds it (tilik tenants add)"):
        return await service.tenants.sites_of(caller.subject)


def _site_id(sites: TenantSites, record: CameraRecord, choice: CameraChoice | None) -> str | None:
    if choice is not None and choice.site_id is not None:
        return choice.site_id
    site = sites.site_of_address(record.address)
    return site.site_id if site is not None else None


def _camera(
    service: ApiService, sites: TenantSites, record: CameraRecord, choice: CameraChoice | None
) -> TenantCamera:
    # The registry's record with the latest choice applied: the caller sees its own writes
    # before the hub has republished the record.
    shown = chosen(record, choice) or record
    state = service.cameras.state(record.camera_id)
    return TenantCamera(
        camera_id=record.camera_id,
        name=shown.name,
        site_id=_site_id(sites, record, choice),
        status=state if state in HEALTH_STATES else "unknown",
        checked_at=service.cameras.checked_at(record.camera_id),
        confirmed=choice is not None and choice.confirmed,
        sharing=shown.sharing,
        location=shown.location,
        site_type=shown.site_type,
        device_id=shown.device_id,
        channel=shown.channel,
        vendor=shown.vendor,
        model=shown.model,
    )


def _cameras(service: ApiService, sites: TenantSites, tenant: str) -> list[TenantCamera]:
    """The tenant's cameras in the registry, less those it revoked, by camera id."""
    choices = service.tenants.choices.of_tenant(tenant)
    return [
        _camera(service, sites, record, choices.get(camera_id))
        for camera_id, record in sorted(service.cameras.owned_by(tenant).items())
        if not (camera_id in choices and choices[camera_id].revoked)
    ]


def _site_info(site: SiteConfig, cameras: list[TenantCamera]) -> SiteInfo:
    return SiteInfo(
        site_id=site.site_id,
        name=site.name,
        devices=site.devices,
        cameras=sum(camera.site_id == site.site_id for camera in cameras),
    )


def _registered(site: SiteConfig, cameras: list[TenantCamera]) -> RegisteredSite:
    return RegisteredSite(
        site=_site_info(site, cameras),
        site_yaml=site_yaml(site),
        command=run_command(site),
        secrets=secret_envs(site),
    )


async def _audit(
    service: ApiService, caller: Caller, action: str, subject: str, **details: str
) -> None:
    await service.audit.record(
        actor=caller.principal,
        action=action,
        subject=subject,
        client=caller.client,
        details={"tenant": caller.subject, **details},
    )


async def _revoke(
    service: ApiService, caller: Caller, sites: TenantSites, record: CameraRecord
) -> None:
    """The camera out of every view (the hub tombstones it on reading the choice), and no
    longer watched at its site (its edge agent reads the site's record)."""
    camera_id = record.camera_id
    known = service.tenants.choices.of(caller.subject, camera_id)
    await service.tenants.choices.choose(
        revocation(camera_id, caller.subject, actor=caller.principal, known=known)
    )
    site_id = _site_id(sites, record, known)
    if site_id is not None:
        await sites.mark_revoked(site_id, camera_id, revoked=True)
    await _audit(service, caller, "api.camera.revoke", camera_id)


# --- what a tenant does: the JSON routes below and the business's pages share these ---------


async def register(service: ApiService, caller: Caller, body: SiteIn) -> RegisteredSite:
    """Registers ``body`` as an edge site of the caller's tenant."""
    sites = await sites_of(service, caller)
    if body.site_id in sites.sites:
        raise Refused(
            status.HTTP_409_CONFLICT,
            "site_exists",
            "a site with this id exists; DELETE it first or pick another",
        )
    addresses = [device.address for device in body.devices]
    if len(set(addresses)) != len(addresses):
        raise Refused(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "same_address",
            "two devices of the site have the same address",
        )
    site = SiteConfig(
        site_id=body.site_id,
        tenant_id=caller.subject,
        name=body.name,
        devices=[
            SiteDevice(
                connector=device.kind,
                address=device.address,
                credential_ref=(
                    credential_ref(device.username, device.credential)
                    if device.credential
                    else None
                ),
                sharing=device.sharing,
            )
            for device in body.devices
        ],
        updated_at=utcnow(),
    )
    await sites.put(site)
    await _audit(service, caller, "api.site.register", site.site_id, devices=str(len(addresses)))
    return _registered(site, _cameras(service, sites, caller.subject))


async def sites_listed(service: ApiService, caller: Caller) -> list[SiteInfo]:
    sites = await sites_of(service, caller)
    cameras = _cameras(service, sites, caller.subject)
    return [_site_info(site, cameras) for _, site in sorted(sites.sites.items())]


async def registered_site(service: ApiService, caller: Caller, site_id: str) -> RegisteredSite:
    sites = await sites_of(service, caller)
    site = sites.sites.get(site_id)
    if site is None:
        raise _no_site()
    return _registered(site, _cameras(service, sites, caller.subject))


async def remove(service: ApiService, caller: Caller, site_id: str) -> Revoked:
    """Revokes every camera of the site, then removes the site."""
    sites = await sites_of(service, caller)
    if site_id not in sites.sites:
        raise _no_site()
    owned = service.cameras.owned_by(caller.subject)
    revoked = [
        c.camera_id for c in _cameras(service, sites, caller.subject) if c.site_id == site_id
    ]
    for camera_id in revoked:
        await _revoke(service, caller, sites, owned[camera_id])
    await sites.remove(site_id)
    await _audit(service, caller, "api.site.remove", site_id, cameras=str(len(revoked)))
    return Revoked(revoked=revoked)


async def cameras_listed(service: ApiService, caller: Caller) -> list[TenantCamera]:
    """The caller's cameras, by camera id, less those it revoked."""
    return _cameras(service, await sites_of(service, caller), caller.subject)


async def update(
    service: ApiService, caller: Caller, camera_id: str, body: CameraPatch
) -> TenantCamera | None:
    """The camera as chosen now; ``None`` for a revoked camera confirmed again (it returns once
    the hub republishes it)."""
    sites = await sites_of(service, caller)
    record = service.cameras.owned_by(caller.subject).get(camera_id)
    known = service.tenants.choices.of(caller.subject, camera_id)
    if record is None and (known is None or not known.revoked):
        raise _no_camera()
    revoked = known is not None and known.revoked
    if revoked and body.confirmed is not True:
        raise Refused(
            status.HTTP_409_CONFLICT,
            "revoked",
            "the camera is revoked: confirm it to take it back",
        )
    confirmed = body.confirmed if body.confirmed is not None else bool(known and known.confirmed)
    site = sites.site_of_address(record.address) if record is not None else None
    default = next(
        (d.sharing for d in site.devices if record is not None and d.address == record.address),
        None,
    ) if site is not None else None  # fmt: skip
    choice = CameraChoice(
        camera_id=camera_id,
        tenant_id=caller.subject,
        site_id=(known.site_id if known else None) or (site.site_id if site else None),
        confirmed=confirmed,
        revoked=False,
        name=body.name or (known.name if known else None),
        location=_placed(body.placement, known, record),
        sharing=body.sharing or (known.sharing if known else None) or default,
        updated_at=utcnow(),
        actor=caller.principal,
    )
    await service.tenants.choices.choose(choice)
    if revoked and choice.site_id is not None:
        # Watched at its site again.
        await sites.mark_revoked(choice.site_id, camera_id, revoked=False)
    await _audit(
        service,
        caller,
        "api.camera.update",
        camera_id,
        changed=",".join(sorted(body.model_fields_set)),
        sharing=(choice.sharing or SharingLevel.REGISTRY_ONLY).value,
        confirmed=str(confirmed).lower(),
    )
    if record is None:
        return None
    return _camera(service, sites, record, choice)


async def revoke(service: ApiService, caller: Caller, camera_id: str) -> Revoked:
    """The camera leaves every view; a later record from the site stays out until the tenant
    confirms it again."""
    record = service.cameras.owned_by(caller.subject).get(camera_id)
    known = service.tenants.choices.of(caller.subject, camera_id)
    if record is None or (known is not None and known.revoked):
        raise _no_camera()
    sites = await sites_of(service, caller)
    await _revoke(service, caller, sites, record)
    return Revoked(revoked=[camera_id])


# --- sites ----------------------------------------------------------------------------------


@router.post("/sites", response_model=RegisteredSite, status_code=status.HTTP_201_CREATED)
async def register_site(body: SiteIn, caller: TenantCaller, service: Service) -> RegisteredSite:
    """Registers an edge site; answers with its site file and the command to run there."""
    return await register(service, caller, body)


@router.get("/sites", response_model=list[SiteInfo])
async def list_sites(caller: TenantCaller, service: Service) -> list[SiteInfo]:
    return await sites_listed(service, caller)


@router.get("/sites/{site_id}", response_model=RegisteredSite)
async def get_site(site_id: SiteIdPath, caller: TenantCaller, service: Service) -> RegisteredSite:
    """The site with its site file and command again."""
    return await registered_site(service, caller, site_id)


@router.delete("/sites/{site_id}", response_model=Revoked)
async def remove_site(site_id: SiteIdPath, caller: TenantCaller, service: Service) -> Revoked:
    """Revokes every camera of the site, then removes the site."""
    return await remove(service, caller, site_id)


# --- cameras --------------------------------------------------------------------------------


@router.get("/cameras", response_model=CameraPage)
async def list_cameras(
    caller: TenantCaller,
    service: Service,
    site: Annotated[SiteIdText | None, Query(description="Only this site's cameras.")] = None,
    status_: Annotated[HealthState | None, Query(alias="status")] = None,
    confirmed: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: Annotated[
        str | None, Query(pattern=CAMERA_ID_PATTERN, description="`next` of the page before.")
    ] = None,
) -> CameraPage:
    """The tenant's cameras found at its sites, by camera id, with their health and whether the
    tenant confirmed them."""
    found = [
        camera
        for camera in await cameras_listed(service, caller)
        if (site is None or camera.site_id == site)
        and (status_ is None or camera.status == status_)
        and (confirmed is None or camera.confirmed is confirmed)
        and (after is None or camera.camera_id > after)
    ]
    items = found[:limit]
    return CameraPage(items=items, next=items[-1].camera_id if len(found) > limit else None)


@router.get("/cameras/{camera_id}", response_model=TenantCamera)
async def get_camera(
    camera_id: CameraIdPath, caller: TenantCaller, service: Service
) -> TenantCamera:
    sites = await sites_of(service, caller)
    record = service.cameras.owned_by(caller.subject).get(camera_id)
    choice = service.tenants.choices.of(caller.subject, camera_id)
    if record is None or (choice is not None and choice.revoked):
        raise _no_camera()
    return _camera(service, sites, record, choice)


@router.patch(
    "/cameras/{camera_id}",
    response_model=TenantCamera,
    responses={202: {"description": "A revoked camera confirmed again: it returns shortly."}},
)
async def update_camera(
    camera_id: CameraIdPath, body: CameraPatch, caller: TenantCaller, service: Service
) -> TenantCamera | JSONResponse:
    """Confirm, name, place or share one camera. A revoked camera comes back only when confirmed
    again (`{"confirmed": true}`), once the registry holds it again."""
    camera = await update(service, caller, camera_id, body)
    if camera is None:
        return JSONResponse(
            {"detail": "confirmed again: the camera returns once the hub republishes it"},
            status_code=status.HTTP_202_ACCEPTED,
        )
    return camera


@router.delete("/cameras/{camera_id}", response_model=Revoked)
async def revoke_camera(camera_id: CameraIdPath, caller: TenantCaller, service: Service) -> Revoked:
    """The camera leaves every view (the registry, the public catalog) within seconds; a later
    record from the site stays out until the tenant confirms it again."""
    return await revoke(service, caller, camera_id)


def _placed(
    placement: PlacementIn | None, known: CameraChoice | None, record: CameraRecord | None
) -> Location | None:
    """The location after ``placement``: the fields given replace those chosen before (or the
    site's)."""
    before = (known.location if known else None) or (record.location if record else None)
    if placement is None:
        return known.location if known else None
    base = before or Location()
    given = placement.model_dump(exclude_unset=True)
    area = base.area.model_copy(
        update={k: given[k] for k in ("kecamatan", "kelurahan", "rw", "rt") if k in given}
    )
    point = (
        GeoPoint(lat=placement.lat, lon=placement.lon)
        if placement.lat is not None and placement.lon is not None
        else base.point
    )
    return Location(
        area=AdminArea.model_validate(area.model_dump()),
        point=point,
        address=given.get("address", base.address),
    )
