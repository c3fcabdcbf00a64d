"""Who is asking: every request but the public catalog's carries an API key (``Authorization:
Bearer tk_...``), checked against the keys topic; the key says whom it speaks for."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.service import ApiService, service_of
from topics.models import ApiKey, ApiKeyKind

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer tk_...`.")


@dataclass(frozen=True)
class Caller:
    """An authenticated request: the key it came with and the client's address."""

    key: ApiKey
    client: str | None

    @property
    def principal(self) -> str:
        """``agency:dishub (key-...)``: what audit records name as the actor."""
        who = (
            self.key.kind.value
            if self.key.subject is None
            else f"{self.key.kind.value}:{self.key.subject}"
        )
        return f"{who} ({self.key.key_id})"

    @property
    def subject(self) -> str:
        assert self.key.subject is not None
        return self.key.subject


def client_address(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


def _refused(reason: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, reason, headers={"WWW-Authenticate": "Bearer"}
    )


async def authenticated(
    request: Request,
    service: Annotated[ApiService, Depends(service_of)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    if credentials is None:
        raise _refused("an API key is required: Authorization: Bearer <key>")
    client = client_address(request)
    key = await checked_key(service, credentials.credentials, client)
    if key is None:
        # One answer for unknown, revoked, rotated and malformed keys: nothing to probe.
        raise _refused("the API key is not valid (unknown, rotated or revoked)")
    return Caller(key, client)


async def checked_key(service: ApiService, token: str, client: str | None) -> ApiKey | None:
    """The live key ``token`` is; a client that presented too many wrong keys lately is refused
    (429) before its key is checked, so guessing costs the service no scrypt."""
    address = client or "unknown"
    wait = service.failed_auth_limit.peek(address)
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many invalid API keys from this address; try again later",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    key = await service.keys.authenticate(token)
    if key is None:
        service.failed_auth_limit.take(address)
    return key


def of_kind(caller: Caller, kind: ApiKeyKind) -> Caller:
    """``caller``, if its key is of ``kind``; else 403."""
    if caller.key.kind is not kind:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"this is for {kind.value} keys only; the key given is for {caller.key.kind.value}",
        )
    return caller


def _kind(kind: ApiKeyKind) -> object:
    async def check(caller: Annotated[Caller, Depends(authenticated)]) -> Caller:
        return of_kind(caller, kind)

    return Depends(check)


AgencyCaller = Annotated[Caller, _kind(ApiKeyKind.AGENCY)]
OperatorCaller = Annotated[Caller, _kind(ApiKeyKind.OPERATOR)]
TenantCaller = Annotated[Caller, _kind(ApiKeyKind.TENANT)]
