"""What the connector runtime needs to watch the recorders businesses registered over HTTP: their
sealed credentials (opened with the vault's key file) and the networks the operator granted each
tenant, so that the runtime checks such a recorder's address against the same policy the API
admitted it under (``netpolicy.tenant_policy``), not against the city's own private ranges."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from connectors.sdk.netpolicy import ProbePolicy, tenant_policy
from connectors.sdk.sealed import SealedCredentials
from connectors.sdk.secrets import parse_credential_ref
from connectors.sdk.watched import WatchedCamera
from core.lifecycle import Lifecycle
from topics.catalog import NETWORK_GRANTS
from topics.follow import FollowedTable
from topics.models import NetworkGrant, OwnerKind


def vault_id(credential_ref: str | None) -> str | None:
    """The credential id of a ``vault:`` reference; None for any other (or none)."""
    if credential_ref is None:
        return None
    _, location = parse_credential_ref(credential_ref)
    return location.target if location.scheme == "vault" else None


class TenantRecorders(Lifecycle):
    """The sealed credentials (the vault source) and the tenants' network grants, followed."""

    def __init__(self, key_file: Path, *, bootstrap: str | None = None) -> None:
        self.sealed = SealedCredentials(key_file, bootstrap=bootstrap)
        self.grants = FollowedTable(
            NETWORK_GRANTS, NetworkGrant, component="connector.grants", bootstrap=bootstrap
        )

    async def start(self) -> None:
        await asyncio.gather(self.sealed.start(), self.grants.start())

    async def stop(self) -> None:
        await asyncio.gather(self.sealed.stop(), self.grants.stop())

    def policy_for(self, camera: WatchedCamera, default: ProbePolicy) -> ProbePolicy:
        """A business's registered recorder (a private owner's, its credential in the vault): its
        tenant's policy; any other device: ``default``."""
        owner = camera.owner
        if (
            owner is None
            or owner.kind is not OwnerKind.PRIVATE
            or vault_id(camera.credential_ref) is None
        ):
            return default
        grant = self.grants.rows.get(owner.id)
        return tenant_policy(grant.networks if grant is not None else ())

    async def catch_up(self, camera: WatchedCamera) -> None:
        """Catch up with both topics once when the record's credential is not in view: it is
        sealed (and its network granted) before the camera is registered, but another view may
        be behind."""
        credential = vault_id(camera.credential_ref)
        if credential is None or self.sealed.holds(credential):
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.gather(self.sealed.catch_up(), self.grants.view.sync())
