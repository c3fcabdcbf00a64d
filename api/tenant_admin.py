"""The operator's side of tenants (``tilik tenants``): adding a business with everything it needs,
listing them, and removing one with everything it had.

- **add**: the tenant's principal, topics, ACLs and client config (``tilik access tenant add``'s
  own ``AccessAdmin.add``), then its API key (the key store ``tilik keys`` uses), shown once.
- **list**: each tenant principal with its sites and its cameras in the registry.
- **remove**: every camera of the tenant revoked (the hub tombstones each and marks it removed),
  its sites' configuration tombstoned, its API keys revoked, its principal removed.

Each step is an ``AuditRecord``: ``access.add``/``access.revoke`` (by ``AccessAdmin``),
``api.key.issue``/``api.key.revoke``, ``api.camera.revoke`` per camera and ``tenant.remove``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from api.audit import AuditTrail
from api.keys import Issued, KeyStore
from topics.access.manage import AccessAdmin
from topics.access.manage import Issued as IssuedPrincipal
from topics.access.roles import RoleKind, tenant_role
from topics.catalog import CAMERA_CHOICES, CAMERA_REGISTRY, tenant_topics
from topics.choices import revocation
from topics.client import CatalogProducer, read_table
from topics.models import ApiKeyKind, CameraChoice, CameraRecord, OwnerKind


@dataclass(frozen=True)
class AddedTenant:
    principal: IssuedPrincipal
    key: Issued


@dataclass(frozen=True)
class TenantSummary:
    tenant: str
    has_credential: bool
    sites: int
    cameras: int


@dataclass(frozen=True)
class RemovedTenant:
    cameras: list[str]
    sites: list[str]
    keys: list[str]
    acls: int


async def add_tenant(
    tenant: str,
    *,
    access: AccessAdmin,
    producer: CatalogProducer,
    out: Path | None = None,
    label: str | None = None,
) -> AddedTenant:
    """The tenant's principal (with topics, ACLs, client config at ``out``) and its API key."""
    principal = await access.add(tenant_role(tenant), out=out)
    async with KeyStore(producer=producer, component="tenants-cli") as store:
        await store.ready.wait()
        issued = await store.issue(ApiKeyKind.TENANT, tenant, actor=access.actor, label=label)
    await AuditTrail(producer).record(
        actor=access.actor, action="api.key.issue", subject=issued.record.key_id, client="cli",
        details={"kind": ApiKeyKind.TENANT.value, "for": tenant},
    )  # fmt: skip
    return AddedTenant(principal, issued)


async def _owned(producer: CatalogProducer) -> dict[str, dict[str, CameraRecord]]:
    registry = await read_table(CAMERA_REGISTRY, component="tenants-cli", producer=producer)
    owned: dict[str, dict[str, CameraRecord]] = {}
    for camera_id, record in registry.items():
        if isinstance(record, CameraRecord) and record.owner.kind is OwnerKind.PRIVATE:
            owned.setdefault(record.owner.id, {})[camera_id] = record
    return owned


async def list_tenants(*, access: AccessAdmin, producer: CatalogProducer) -> list[TenantSummary]:
    states = await access.list({RoleKind.TENANT})
    owned = await _owned(producer)
    summaries = []
    for state in states:
        tenant = state.role.subject
        assert tenant is not None
        try:
            sites = await read_table(
                tenant_topics(tenant).site_config, component="tenants-cli", timeout_s=30
            )
        except LookupError:  # its topics are gone
            sites = {}
        summaries.append(
            TenantSummary(tenant, state.has_credential, len(sites), len(owned.get(tenant, {})))
        )
    return summaries


async def remove_tenant(
    tenant: str, *, access: AccessAdmin, producer: CatalogProducer
) -> RemovedTenant:
    """Everything of the tenant revoked (module docstring), cameras first: the hub still reads
    the tenant's choices and tombstones each camera whatever happens to the principal."""
    actor = access.actor
    audit = AuditTrail(producer)
    choices = {
        camera_id: choice
        for camera_id, choice in (
            await read_table(CAMERA_CHOICES, component="tenants-cli", producer=producer)
        ).items()
        if isinstance(choice, CameraChoice) and choice.tenant_id == tenant
    }
    cameras = sorted(
        {
            *(await _owned(producer)).get(tenant, {}),
            *(c for c, v in choices.items() if not v.revoked),
        }
    )
    for camera_id in cameras:
        await producer.send(
            CAMERA_CHOICES, revocation(camera_id, tenant, actor=actor, known=choices.get(camera_id))
        )
        await audit.record(
            actor=actor, action="api.camera.revoke", subject=camera_id, client="cli",
            details={"tenant": tenant},
        )  # fmt: skip
    sites_topic = tenant_topics(tenant).site_config
    try:
        sites = sorted(await read_table(sites_topic, component="tenants-cli", timeout_s=30))
    except LookupError:
        sites = []
    for site_id in sites:
        await producer.send(sites_topic, None, key=site_id)
    async with KeyStore(producer=producer, component="tenants-cli") as store:
        await store.ready.wait()
        keys = [
            record.key_id
            for record in store.records()
            if record.kind is ApiKeyKind.TENANT
            and record.subject == tenant
            and record.revoked_at is None
        ]
        for key_id in keys:
            await store.revoke(key_id, actor=actor)
            await audit.record(actor=actor, action="api.key.revoke", subject=key_id, client="cli")
    acls = await access.revoke(tenant_role(tenant))
    await audit.record(
        actor=actor, action="tenant.remove", subject=f"tenant:{tenant}", client="cli",
        details={"cameras": str(len(cameras)), "sites": str(len(sites)), "keys": str(len(keys))},
    )  # fmt: skip
    return RemovedTenant(cameras, sites, keys, acls)
