"""A business registers a recorder the city reaches (``POST /tenant/recorders``), and the operator
grants a tenant networks besides the public internet (``/operator/tenants/{id}/networks``)."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import BaseModel, Field, SecretStr

from api.auth import Caller, OperatorCaller, TenantCaller
from api.recorders import (
    USERNAME,
    Recorder,
    RecorderKind,
    RecorderRefused,
    RegisteredRecorder,
    register_recorder,
)
from api.service import ApiService, service_of
from connectors.sdk.errors import ConfigurationError
from connectors.sdk.vault import VaultRecipient, read_public_file
from topics.access.roles import TENANT_ID_PATTERN
from topics.models import Channel, Networks, StrictModel

router = APIRouter(tags=["recorders"])

Service = Annotated[ApiService, Depends(service_of)]
TenantId = Annotated[str, Path(pattern=TENANT_ID_PATTERN)]


class RecorderRequest(StrictModel):
    """A recorder the city can reach: its address, kind and login. The password is sealed and
    never shown again, in an answer, a topic or a log."""

    site_id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    kind: RecorderKind
    host: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="The recorder's IP address (host names are refused)."
    )
    port: Annotated[int, Field(ge=1, le=65535)]
    scheme: Literal["http", "https"] = "http"
    username: Annotated[str, Field(pattern=f"^{USERNAME.pattern}$")]
    password: Annotated[SecretStr, Field(min_length=1, max_length=256)]


class FoundCamera(BaseModel):
    camera_id: str
    name: str
    channel: Channel | None
    device_id: str
    vendor: str | None
    model: str | None


class RegisteredAnswer(BaseModel):
    site_id: str
    address: str
    connector: str
    credential_ref: str = Field(description="`vault:<id>`: where the sealed password is.")
    cameras: list[FoundCamera]


class NetworksRequest(StrictModel):
    networks: Networks


class GrantedNetworks(BaseModel):
    tenant_id: str
    networks: list[str]


@router.post(
    "/tenant/recorders",
    response_model=RegisteredAnswer,
    status_code=status.HTTP_201_CREATED,
    responses={
        422: {"description": "address refused, credentials refused, unreachable"},
        429: {"description": "too many registrations from this tenant"},
    },
)
async def add_recorder(
    body: RecorderRequest, caller: TenantCaller, service: Service
) -> RegisteredAnswer:
    """Probe the recorder (within the tenant's allowed networks), seal its password, and answer
    with the cameras found. Refusals are 422 with `problem`: `address_refused`,
    `credentials_refused`, `unreachable` or `device_error`, and a reason; more than a few
    registrations a minute from one tenant are 429."""
    wait = service.recorder_limit.take(caller.subject)
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many recorder registrations from this tenant; try again later",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    recorder = Recorder(
        tenant_id=caller.subject,
        site_id=body.site_id,
        kind=body.kind,
        host=body.host,
        port=body.port,
        username=body.username,
        password=body.password,
        scheme=body.scheme,
    )
    try:
        registered = await register_recorder(
            recorder,
            policy=service.grants.policy(caller.subject),
            recipient=_recipient(service),
            producer=service.producer,
            actor=caller.principal,
        )
    except RecorderRefused as refused:
        await _audit(
            service,
            caller,
            "api.recorder.refused",
            recorder.address,
            {"problem": refused.problem, "site": body.site_id},
        )
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            {"problem": refused.problem, "reason": refused.reason},
        ) from None
    await _audit(
        service,
        caller,
        "api.recorder.register",
        registered.credential_id,
        {
            "site": body.site_id,
            "address": registered.address,
            "connector": registered.connector,
            "cameras": str(len(registered.records)),
        },
    )
    return _answer(body.site_id, registered)


def _recipient(service: ApiService) -> VaultRecipient:
    """The vault key the password is sealed to, read at each use (a rotation needs no restart)."""
    settings = service.settings
    path = settings.vault_public_key_file or settings.vault_key_file
    if path is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "recorders cannot be registered here: no vault key is configured "
            "(TILIK_VAULT_PUBLIC_KEY_FILE)",
        )
    try:
        return read_public_file(path)
    except ConfigurationError:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "recorders cannot be registered here: the vault key file is unusable",
        ) from None


def _answer(site_id: str, registered: RegisteredRecorder) -> RegisteredAnswer:
    return RegisteredAnswer(
        site_id=site_id,
        address=registered.address,
        connector=registered.connector,
        credential_ref=registered.credential_ref,
        cameras=[
            FoundCamera.model_validate(record, from_attributes=True)
            for record in registered.records
        ],
    )


@router.get("/operator/tenants/{tenant_id}/networks", response_model=GrantedNetworks)
async def granted_networks(
    tenant_id: TenantId, caller: OperatorCaller, service: Service
) -> GrantedNetworks:
    """The networks granted to the tenant's recorders besides the public internet."""
    return GrantedNetworks(tenant_id=tenant_id, networks=service.grants.networks(tenant_id))


@router.put("/operator/tenants/{tenant_id}/networks", response_model=GrantedNetworks)
async def grant_networks(
    tenant_id: TenantId, body: NetworksRequest, caller: OperatorCaller, service: Service
) -> GrantedNetworks:
    """Replace the networks granted to the tenant's recorders (a VPN range); `[]` takes them back."""
    grant = await service.grants.grant(tenant_id, body.networks, actor=caller.principal)
    await _audit(
        service, caller, "api.tenant.networks", tenant_id, {"networks": ",".join(grant.networks)}
    )
    return GrantedNetworks(tenant_id=tenant_id, networks=grant.networks)


async def _audit(
    service: ApiService, caller: Caller, action: str, subject: str, details: dict[str, str]
) -> None:
    await service.audit.record(
        actor=caller.principal,
        action=action,
        subject=subject,
        client=caller.client,
        details={"tenant": caller.key.subject or "operator", **details},
    )
