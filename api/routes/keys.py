"""API keys over HTTP: the operator issues, rotates, revokes and lists them; every key holder may
rotate its own. A key's secret is in the one answer that made it, and nowhere else."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import BaseModel, Field

from api.auth import Caller, OperatorCaller, authenticated
from api.keys import Issued, UnknownKey
from api.service import ApiService, service_of
from topics.models import API_KEY_ID_PATTERN, ApiKey, ApiKeyKind, ShortText, StrictModel

router = APIRouter(tags=["keys"])

KeyId = Annotated[str, Path(pattern=API_KEY_ID_PATTERN)]
Service = Annotated[ApiService, Depends(service_of)]


class KeyInfo(BaseModel):
    """A key as shown: whom it speaks for and its history, never its secret or hash."""

    key_id: str
    kind: ApiKeyKind
    subject: str | None
    label: str | None
    created_at: datetime
    updated_at: datetime
    revoked_at: datetime | None
    actor: str

    @classmethod
    def of(cls, record: ApiKey) -> KeyInfo:
        return cls.model_validate(record.model_dump(exclude={"secret_hash"}))


class IssuedKey(BaseModel):
    key: KeyInfo
    token: str = Field(description="The key itself, shown this once: keep it secret.")

    @classmethod
    def of(cls, issued: Issued) -> IssuedKey:
        return cls(key=KeyInfo.of(issued.record), token=issued.key.token)


class NewKeyRequest(StrictModel):
    kind: ApiKeyKind
    subject: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,40}$")] | None = None
    label: ShortText | None = None


@router.get("/me", response_model=KeyInfo)
async def whoami(caller: Annotated[Caller, Depends(authenticated)]) -> KeyInfo:
    """The key this request came with."""
    return KeyInfo.of(caller.key)


@router.post("/me/rotate", response_model=IssuedKey)
async def rotate_own(
    caller: Annotated[Caller, Depends(authenticated)], service: Service
) -> IssuedKey:
    """A new secret for the key this request came with; the old one stops working at once."""
    return await _rotate(caller, service, caller.key.key_id)


@router.get("/operator/keys", response_model=list[KeyInfo])
async def list_keys(caller: OperatorCaller, service: Service) -> list[KeyInfo]:
    return [KeyInfo.of(record) for record in service.keys.records()]


@router.post("/operator/keys", response_model=IssuedKey, status_code=status.HTTP_201_CREATED)
async def issue_key(body: NewKeyRequest, caller: OperatorCaller, service: Service) -> IssuedKey:
    try:
        issued = await service.keys.issue(
            body.kind, body.subject, actor=caller.principal, label=body.label
        )
    except ValueError as exc:
        # The record's own rule (an operator key has no subject, ...), worded by the model.
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, _first_reason(exc)) from None
    await _audit(service, caller, "api.key.issue", issued.record)
    return IssuedKey.of(issued)


@router.post("/operator/keys/{key_id}/rotate", response_model=IssuedKey)
async def rotate_key(key_id: KeyId, caller: OperatorCaller, service: Service) -> IssuedKey:
    return await _rotate(caller, service, key_id)


@router.delete("/operator/keys/{key_id}", response_model=KeyInfo)
async def revoke_key(key_id: KeyId, caller: OperatorCaller, service: Service) -> KeyInfo:
    """The key stops working at once, on every instance as soon as it reads the change."""
    try:
        record = await service.keys.revoke(key_id, actor=caller.principal)
    except UnknownKey as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    await _audit(service, caller, "api.key.revoke", record)
    return KeyInfo.of(record)


async def _rotate(caller: Caller, service: ApiService, key_id: str) -> IssuedKey:
    try:
        issued = await service.keys.rotate(key_id, actor=caller.principal)
    except UnknownKey as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    await _audit(service, caller, "api.key.rotate", issued.record)
    return IssuedKey.of(issued)


async def _audit(service: ApiService, caller: Caller, action: str, record: ApiKey) -> None:
    await service.audit.record(
        actor=caller.principal,
        action=action,
        subject=record.key_id,
        client=caller.client,
        details={"kind": record.kind.value, "for": record.subject or "operator"},
    )


def _first_reason(exc: ValueError) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(str(e.get("msg")) for e in exc.errors())
    return str(exc)
