"""Adding, rotating and revoking principals: the engine behind ``tilik access``.

``add`` creates the principal's SCRAM credential, its topics (an agency's dispatch and
acknowledgement topics, a tenant's ingest and site topics) and its ACLs, then writes its client
config file once (0600) and hands the password back to be shown once. ``rotate`` replaces the
password; ``revoke`` deletes the credential and every ACL. Open connections of a revoked or
rotated principal end within the broker's re-authentication bound (``connections.max.reauth.ms``).

Every change is an ``AuditRecord`` on the audit topic. No password reaches a record, a log line
or an error message: only the client config file and the caller hold it.
"""

from __future__ import annotations

import asyncio
import getpass
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import structlog
from kafka.admin import KafkaAdminClient

from core.clientconfig import SCRAM_MECHANISM, ClientConfig, write_secret_file
from core.localkafka.security import new_password
from core.settings import Settings, get_settings
from topics.access import broker
from topics.access.broker import AclPlan
from topics.access.roles import Role, RoleKind, role_of_user, service_roles
from topics.admin import AdminError, admin_client, apply_catalog
from topics.catalog import AUDIT, TopicSpec, ack_spec, dispatch_spec, tenant_topics
from topics.client import CatalogProducer
from topics.connection import client_identity
from topics.models import AuditRecord, utcnow

log = structlog.get_logger(__name__)

T = TypeVar("T")


class AccessError(AdminError):
    """An access change that cannot be made as asked (e.g. adding a principal that exists)."""


@dataclass(frozen=True)
class Issued:
    """A principal's new credential: the client config (with the password) and where it was written."""

    role: Role
    config: ClientConfig = field(repr=False)
    path: Path

    @property
    def password(self) -> str:
        assert self.config.password is not None
        return self.config.password


@dataclass(frozen=True)
class PrincipalState:
    role: Role
    has_credential: bool
    acls: int


@dataclass(frozen=True)
class Issuer:
    """Where issued client configs point: the address and CA principals use to reach the broker."""

    bootstrap: str
    ca_pem: str | None

    def client_config(self, user: str, password: str) -> ClientConfig:
        return ClientConfig(
            bootstrap=self.bootstrap,
            security_protocol="SASL_SSL" if self.ca_pem else "SASL_PLAINTEXT",
            mechanism=SCRAM_MECHANISM,
            username=user,
            password=password,
            ca_pem=self.ca_pem,
        )


def default_issuer(settings: Settings | None = None) -> Issuer:
    """``TILIK_ACCESS_BOOTSTRAP``/``TILIK_ACCESS_CA_FILE``, else the local broker's TLS listener
    and CA, else the operator's own bootstrap (loopback, without TLS)."""
    settings = settings or get_settings()
    bootstrap = settings.access_bootstrap
    ca_file = settings.access_ca_file
    if bootstrap is None or ca_file is None:
        from core.localkafka import LocalKafka

        local = LocalKafka(settings.state_dir)
        layout = local.layout
        if layout is not None and layout.tls_bootstrap is not None:
            bootstrap = bootstrap or layout.tls_bootstrap
            ca_file = ca_file or local.tls_files.ca
    ca_pem = ca_file.read_text(encoding="ascii") if ca_file is not None else None
    return Issuer(bootstrap or client_identity(settings).bootstrap, ca_pem)


def default_config_path(role: Role, settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    return settings.state_dir / "access" / f"{role.user}.properties"


class AccessAdmin:
    """Access changes on one broker, made as the operator (the client's own principal)."""

    def __init__(
        self,
        bootstrap: str | None = None,
        *,
        settings: Settings | None = None,
        issuer: Issuer | None = None,
        actor: str | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.bootstrap = bootstrap
        self._issuer = issuer
        identity = client_identity(self.settings)
        self.actor = actor or f"{identity.username or 'anonymous'} ({_os_user()})"

    @property
    def issuer(self) -> Issuer:
        if self._issuer is None:
            self._issuer = default_issuer(self.settings)
        return self._issuer

    async def _admin(self, work: Callable[[KafkaAdminClient], T]) -> T:
        def run() -> T:
            with admin_client(self.bootstrap, settings=self.settings) as client:
                return work(client)

        return await asyncio.to_thread(run)

    async def add(self, role: Role, *, out: Path | None = None) -> Issued:
        """A new principal: topics, credential, ACLs and its client config file at ``out``."""
        path = out or default_config_path(role, self.settings)
        if path.exists():
            raise AccessError(f"{path} exists; give another --out or remove it first")
        if await self._admin(lambda client: broker.has_credential(client, role.user)):
            raise AccessError(
                f"{role.principal} exists; `rotate` gives it a new password, `revoke` removes it"
            )
        specs = own_topics(role)
        if specs:
            await asyncio.to_thread(
                apply_catalog, specs, bootstrap=self.bootstrap, settings=self.settings
            )
        password = new_password()
        plan = await self._admin(lambda client: _create(client, role, password))
        issued = self._write(role, password, path, replace=False)
        await self._audit(
            "access.add",
            role,
            {"acls": str(len(plan.create)), "topics": ",".join(s.name for s in specs)},
        )
        log.info("principal added", principal=role.principal, acls=len(plan.create))
        return issued

    async def ensure(
        self, role: Role, *, out: Path | None = None, rotate: bool = True
    ) -> Issued | None:
        """``add`` unless the principal exists with its client config at ``out``: then nothing
        (``None``); an existing principal whose file is missing is rotated into a new one, or,
        with ``rotate=False`` (the principal may be in use elsewhere), refused."""
        path = out or default_config_path(role, self.settings)
        exists = await self._admin(lambda client: broker.has_credential(client, role.user))
        if exists and path.exists():
            return None
        if exists and not rotate:
            raise AccessError(
                f"{role.principal} exists on {self.bootstrap} but its client config is not at "
                f"{path}; rotating it would cut off whoever uses it now. Put its client config "
                "there, or rotate it on purpose with `tilik access service rotate`"
            )
        if exists:
            return await self.rotate(role, out=path)
        return await self.add(role, out=path)

    async def provision(
        self, out_dir: Path, services: list[Role], *, rotate: bool = True
    ) -> list[Path]:
        """Everything a fresh cluster needs before Tilik's services start: the catalog, each
        service's principal with its client config at ``<out_dir>/<kind>/client.properties``
        (kept when it exists; see ``ensure`` for ``rotate``) and every ACL the declaration
        grants. Returns the config files."""
        await asyncio.to_thread(apply_catalog, bootstrap=self.bootstrap, settings=self.settings)
        paths = []
        for role in services:
            path = out_dir / role.kind.value / "client.properties"
            await self.ensure(role, out=path, rotate=rotate)
            paths.append(path)
        await self.apply()
        return paths

    async def rotate(self, role: Role, *, out: Path | None = None) -> Issued:
        """A new password for an existing principal; its old client config stops working."""
        if not await self._admin(lambda client: broker.has_credential(client, role.user)):
            raise AccessError(f"{role.principal} does not exist; `add` creates it")
        password = new_password()
        await self._admin(lambda client: broker.set_password(client, role.user, password))
        issued = self._write(
            role, password, out or default_config_path(role, self.settings), replace=True
        )
        await self._audit("access.rotate", role, {})
        log.info("principal rotated", principal=role.principal)
        return issued

    async def revoke(self, role: Role) -> int:
        """Delete the credential and every ACL; returns how many ACLs were removed."""

        def revoke_on(client: KafkaAdminClient) -> tuple[bool, int]:
            # ACLs first: authorization is checked on every request, so access ends at once.
            removed = broker.remove_acls(client, role.principal)
            had_credential = broker.delete_credential(client, role.user)
            _follow_tenants(client, role)
            return had_credential, removed

        had_credential, removed = await self._admin(revoke_on)
        if not had_credential and not removed:
            raise AccessError(f"{role.principal} has no credential and no ACLs")
        default_config_path(role, self.settings).unlink(missing_ok=True)
        await self._audit(
            "access.revoke", role, {"acls": str(removed), "credential": str(had_credential)}
        )
        log.info("principal revoked", principal=role.principal, acls=removed)
        return removed

    async def apply(self, *, dry_run: bool = False) -> AclPlan:
        """Reconcile every managed principal's ACLs with the declaration."""
        plan = await self._admin(lambda client: broker.reconcile(client, dry_run=dry_run))
        if not dry_run and not plan.empty:
            await self._audit_change(
                "access.apply",
                "acls",
                {"created": str(len(plan.create)), "deleted": str(len(plan.delete))},
            )
        return plan

    async def list(self, kinds: set[RoleKind] | None = None) -> list[PrincipalState]:
        """Principals with a credential or ACLs, with the number of ACLs each holds."""

        def gather(client: KafkaAdminClient) -> list[PrincipalState]:
            found = broker.principals(client)
            acls = broker.broker_acls(client)
            counts: dict[str, int] = {}
            for acl in acls:
                counts[acl.principal] = counts.get(acl.principal, 0) + 1
            users = set(found.users) | {p.removeprefix("User:") for p in counts}
            states = []
            for user in sorted(users):
                role = role_of_user(user, found.tenants)
                if role is None or (kinds is not None and role.kind not in kinds):
                    continue
                states.append(
                    PrincipalState(role, user in found.users, counts.get(role.principal, 0))
                )
            return states

        return await self._admin(gather)

    def _write(self, role: Role, password: str, path: Path, *, replace: bool) -> Issued:
        config = self.issuer.client_config(role.user, password)
        write_secret_file(
            path,
            config.render(
                f"Kafka client config of {role.principal} ({role.kind.value}), issued by "
                "`tilik access`.\nKeep it secret: it holds the password. Java clients read it as "
                "it is; Tilik reads it through TILIK_CLIENT_CONFIG."
            ),
            replace=replace,
        )
        return Issued(role, config, path)

    async def _audit(self, action: str, role: Role, details: dict[str, str]) -> None:
        await self._audit_change(action, role.principal, {"role": role.kind.value, **details})

    async def _audit_change(self, action: str, subject: str, details: dict[str, str]) -> None:
        record = AuditRecord(
            audit_id=f"aud-{uuid.uuid4().hex[:24]}",
            at=utcnow(),
            actor=self.actor,
            action=action,
            subject=subject,
            details=details,
        )
        async with CatalogProducer(
            self.bootstrap, client_id="tilik-access", settings=self.settings
        ) as producer:
            await producer.send(AUDIT, record)


def own_topics(role: Role) -> list[TopicSpec]:
    """The topics that exist for one agency or tenant, made when it is added."""
    if role.subject is None:
        return []
    if role.kind is RoleKind.AGENCY:
        return [dispatch_spec(role.subject), ack_spec(role.subject)]
    if role.kind is RoleKind.TENANT:
        return tenant_topics(role.subject).all
    return []


def _create(client: KafkaAdminClient, role: Role, password: str) -> AclPlan:
    broker.set_password(client, role.user, password)
    if role.kind in (RoleKind.HUB, RoleKind.API):
        # Their grants depend on the tenants that exist.
        role = next(
            r for r in service_roles(broker.principals(client).tenants) if r.kind is role.kind
        )
    plan = broker.grant_role(client, role)
    _follow_tenants(client, role)
    return plan


def _follow_tenants(client: KafkaAdminClient, changed: Role) -> None:
    # The hub reads each tenant's ingest topics and the API writes each tenant's site
    # configuration: their grants follow the tenants.
    if changed.kind is RoleKind.TENANT:
        for role in service_roles(broker.principals(client).tenants):
            broker.grant_role(client, role)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
