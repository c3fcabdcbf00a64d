"""Who may do what on which topic: every principal's role, declared once beside the topic catalog.

A role is a SCRAM user and the grants (Kafka ACLs) it holds. The same declaration is applied to a
broker (``tilik access apply``, ``topics.access.broker``), rendered in the published docs (the
role x topic table in ``docs/access.md`` and ``tilik topics docs``) and checked by the tests that
prove each refusal. The broker's ``StandardAuthorizer`` refuses whatever no grant allows.

| role | principal | may |
|---|---|---|
| operator | ``tilik-admin`` | everything: the only super user |
| hub | ``tilik-hub`` | read the shared topics, tenants' ingest topics and their choices, write alerts, dispatches, dead letters, audit, and (ingest) tenants' records into registry, status, events and removals |
| connector | ``tilik-connector`` | write registry, status, device events (city-reachable devices); read sealed credentials and network grants |
| agency | ``agency-<id>`` | read its dispatch topic, write its acknowledgement topic |
| tenant | ``tenant-<id>`` | write its ingest topics, read its site configuration |
| api | ``tilik-api`` | its keys, agencies' dispatches and acknowledgements, registry, status, tenants' sites and camera choices; write sealed credentials, network grants |

Consumer groups: each role has its own group prefix (``tilik-hub``, ``tilik-connector``,
``tilik-api``, ``agency-<id>.``, ``tenant-<id>.``); hub workers' app ids must start with
``tilik-hub`` because Faust names the group and the internal topics after the app id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from core.localkafka.security import ADMIN_USER
from topics.catalog import (
    ACK_PREFIX,
    ALERTS,
    API_KEYS,
    AUDIT,
    CAMERA_CHOICES,
    CAMERA_REGISTRY,
    CAMERA_REMOVALS,
    CAMERA_STATUS,
    CAMERA_WATCH,
    DEAD_LETTERS,
    DEVICE_EVENTS,
    NETWORK_GRANTS,
    SEALED_CREDENTIALS,
    TopicSpec,
    ack_spec,
    dispatch_spec,
    tenant_topics,
)

DISPATCH_PREFIX = "tilik.dispatch."
HUB_USER = "tilik-hub"
CONNECTOR_USER = "tilik-connector"
API_USER = "tilik-api"
AGENCY_USER_PREFIX = "agency-"
TENANT_USER_PREFIX = "tenant-"
# Hub workers' app ids (their consumer group and internal topics) start with this.
HUB_APP_PREFIX = HUB_USER
CONNECTOR_GROUP_PREFIX = CONNECTOR_USER
# Agency and tenant ids are parts of principal, topic and group names: no dots, so that one id's
# group prefix (``agency-<id>.``) can never cover another id's groups.
AGENCY_ID_PATTERN = r"^[a-z][a-z0-9-]{1,30}$"
TENANT_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,40}$"


class RoleKind(StrEnum):
    OPERATOR = "operator"
    HUB = "hub"
    CONNECTOR = "connector"
    API = "api"
    AGENCY = "agency"
    TENANT = "tenant"


class Resource(StrEnum):
    TOPIC = "TOPIC"
    GROUP = "GROUP"


class Pattern(StrEnum):
    LITERAL = "LITERAL"
    PREFIXED = "PREFIXED"


class Operation(StrEnum):
    """Kafka ACL operations a grant may name (READ and WRITE imply DESCRIBE)."""

    READ = "READ"
    WRITE = "WRITE"
    CREATE = "CREATE"
    DESCRIBE = "DESCRIBE"
    DESCRIBE_CONFIGS = "DESCRIBE_CONFIGS"


@dataclass(frozen=True, order=True)
class Binding:
    """One Kafka ACL: ALLOW ``operation`` on a resource pattern to ``principal`` from any host."""

    principal: str
    resource: Resource
    name: str
    pattern: Pattern
    operation: Operation

    def describe(self) -> str:
        pattern = "*" if self.pattern is Pattern.PREFIXED else ""
        return f"{self.operation.value} {self.resource.value.lower()} {self.name}{pattern}"


@dataclass(frozen=True)
class Grant:
    """Operations on one topic or group, or on every name starting with ``name`` (prefixed)."""

    resource: Resource
    name: str
    pattern: Pattern
    operations: tuple[Operation, ...]
    why: str

    def covers(self, resource: Resource, name: str) -> bool:
        if resource is not self.resource:
            return False
        return name == self.name if self.pattern is Pattern.LITERAL else name.startswith(self.name)


def read(spec: TopicSpec, why: str) -> Grant:
    return Grant(Resource.TOPIC, spec.name, Pattern.LITERAL, (Operation.READ,), why)


def write(spec: TopicSpec, why: str) -> Grant:
    return Grant(Resource.TOPIC, spec.name, Pattern.LITERAL, (Operation.WRITE,), why)


def topics_under(prefix: str, operations: tuple[Operation, ...], why: str) -> Grant:
    return Grant(Resource.TOPIC, prefix, Pattern.PREFIXED, operations, why)


def groups_under(prefix: str, why: str) -> Grant:
    return Grant(Resource.GROUP, prefix, Pattern.PREFIXED, (Operation.READ,), why)


@dataclass(frozen=True)
class Role:
    """A principal and what it may do. ``subject`` is the agency or tenant id, if any."""

    kind: RoleKind
    user: str
    summary: str
    grants: tuple[Grant, ...] = ()
    super_user: bool = False
    subject: str | None = None

    @property
    def principal(self) -> str:
        return f"User:{self.user}"

    def bindings(self) -> set[Binding]:
        return {
            Binding(self.principal, grant.resource, grant.name, grant.pattern, operation)
            for grant in self.grants
            for operation in grant.operations
        }

    def allows(self, resource: Resource, name: str, operation: Operation) -> bool:
        """Whether the broker lets this role do ``operation`` (DESCRIBE follows READ and WRITE)."""
        if self.super_user:
            return True
        implied = {operation}
        if operation is Operation.DESCRIBE:
            implied |= {Operation.READ, Operation.WRITE}
        return any(
            grant.covers(resource, name) and implied & set(grant.operations)
            for grant in self.grants
        )


def operator_role() -> Role:
    return Role(
        RoleKind.OPERATOR,
        ADMIN_USER,
        "The city operator (admin): everything, the only super user; manages topics and access.",
        super_user=True,
    )


def hub_role(tenants: Iterable[str] = ()) -> Role:
    return Role(
        RoleKind.HUB,
        HUB_USER,
        "Hub workers: read the shared topics, write alerts, dispatches, dead letters and audit.",
        (
            read(CAMERA_REGISTRY, "health and rules know every camera"),
            write(CAMERA_REGISTRY, "the ingest agent republishes tenants' cameras"),
            read(CAMERA_CHOICES, "the ingest domain applies tenants' choices to their cameras"),
            write(CAMERA_REMOVALS, "a camera its tenant revokes is marked removed"),
            read(CAMERA_STATUS, "health folds in check results"),
            write(CAMERA_STATUS, "the ingest agent republishes tenants' camera health"),
            read(DEVICE_EVENTS, "rules turn events into alerts"),
            write(DEVICE_EVENTS, "the ingest agent republishes tenants' shared events"),
            write(ALERTS, "raises alerts"),
            topics_under(
                DISPATCH_PREFIX,
                (Operation.READ, Operation.WRITE),
                "routes alerts to every agency; webhook delivery reads them back",
            ),
            topics_under(
                ACK_PREFIX,
                (Operation.READ, Operation.WRITE),
                "acknowledgements stop escalation; a webhook's answer is written for its agency",
            ),
            write(DEAD_LETTERS, "refused input and failed deliveries"),
            write(AUDIT, "rule and route changes"),
            *(
                read(spec, "the ingest agent republishes it, stamping the owner from the topic")
                for tenant in sorted(tenants)
                for spec in tenant_topics(tenant).ingest
            ),
            topics_under(
                HUB_APP_PREFIX,
                (Operation.READ, Operation.WRITE, Operation.CREATE, Operation.DESCRIBE_CONFIGS),
                "internal topics and table changelogs, created by the workers",
            ),
            groups_under(HUB_APP_PREFIX, "workers sharing an app id share the work"),
        ),
    )


def connector_role() -> Role:
    return Role(
        RoleKind.CONNECTOR,
        CONNECTOR_USER,
        "City-side connector runtimes and onboarding: the registry, status and device events of "
        "devices the city reaches.",
        (
            read(CAMERA_REGISTRY, "each runtime watches its share of the registry"),
            write(CAMERA_REGISTRY, "onboarding publishes cameras"),
            read(CAMERA_REMOVALS, "onboarding does not register a removed camera again"),
            write(CAMERA_REMOVALS, "removing a camera"),
            read(CAMERA_WATCH, "onboarding asks whether the runtime watches what it published"),
            write(CAMERA_WATCH, "each runtime says whether it watches its cameras"),
            write(CAMERA_STATUS, "health checks"),
            write(DEVICE_EVENTS, "normalised device events"),
            write(DEAD_LETTERS, "malformed device input"),
            write(AUDIT, "who onboarded which camera"),
            read(SEALED_CREDENTIALS, "the runtime opens `vault:` credential references"),
            read(NETWORK_GRANTS, "a business's recorder is reached within its tenant's networks"),
            groups_under(CONNECTOR_GROUP_PREFIX, "runtimes of one connector share the registry"),
        ),
    )


def api_role(tenants: Iterable[str] = ()) -> Role:
    return Role(
        RoleKind.API,
        API_USER,
        "The HTTP API (`tilik api`): its keys, agencies' inboxes and acknowledgements, the public "
        "camera catalog and tenants' site configuration.",
        (
            read(API_KEYS, "authenticates every request from the keys it serves from memory"),
            write(API_KEYS, "issues, rotates and revokes keys"),
            read(CAMERA_REGISTRY, "the public catalog and a business's own cameras"),
            read(CAMERA_STATUS, "camera health in the public catalog and for their owners"),
            read(CAMERA_CHOICES, "a tenant's choices, served back with its cameras"),
            write(CAMERA_CHOICES, "a tenant confirms, names, places, shares or revokes a camera"),
            topics_under(
                DISPATCH_PREFIX,
                (Operation.READ,),
                "each agency's inbox; the key says which agency, the API reads only that topic",
            ),
            topics_under(
                ACK_PREFIX,
                (Operation.READ, Operation.WRITE),
                "an agency acknowledges on its own topic, the one its key names; read back for "
                "the inbox's status",
            ),
            write(AUDIT, "every change made over HTTP"),
            write(
                SEALED_CREDENTIALS,
                "seals a registered recorder's password (to the vault's public key: it cannot "
                "open one)",
            ),
            read(NETWORK_GRANTS, "which networks each tenant's recorders may be probed on"),
            write(NETWORK_GRANTS, "the operator grants a tenant networks over HTTP"),
            *(
                grant
                for tenant in sorted(tenants)
                for grant in (
                    read(tenant_topics(tenant).site_config, f"`{tenant}`'s sites, served back"),
                    write(tenant_topics(tenant).site_config, f"`{tenant}` registers its sites"),
                )
            ),
            groups_under(API_USER, "API instances"),
        ),
    )


def agency_user(agency: str) -> str:
    return f"{AGENCY_USER_PREFIX}{agency}"


def tenant_user(tenant: str) -> str:
    return f"{TENANT_USER_PREFIX}{tenant}"


def agency_role(agency: str) -> Role:
    user = agency_user(agency)
    return Role(
        RoleKind.AGENCY,
        user,
        f"Dispatch agency `{agency}`: its own dispatches, its own acknowledgements.",
        (
            read(dispatch_spec(agency), "alerts routed to this agency, and no other's"),
            write(ack_spec(agency), "acknowledgements; the topic tells the hub who wrote them"),
            groups_under(f"{user}.", "the agency's consumer groups"),
        ),
        subject=agency,
    )


def tenant_role(tenant: str) -> Role:
    user = tenant_user(tenant)
    topics = tenant_topics(tenant)
    return Role(
        RoleKind.TENANT,
        user,
        f"Private tenant `{tenant}`'s sites (edge agents): its own ingest topics and site "
        "configuration, nothing shared.",
        (
            *(write(spec, "what the tenant's sites onboard and observe") for spec in topics.ingest),
            read(topics.site_config, "the sites' configuration"),
            groups_under(f"{user}.", "the tenant's consumer groups"),
        ),
        subject=tenant,
    )


def service_roles(tenants: Iterable[str] = ()) -> list[Role]:
    """The roles with one fixed principal each, besides the operator."""
    tenants = sorted(set(tenants))
    return [hub_role(tenants), connector_role(), api_role(tenants)]


def declared_roles(agencies: Iterable[str] = (), tenants: Iterable[str] = ()) -> list[Role]:
    """Every role of a city with these agencies and tenants."""
    tenants = sorted(set(tenants))
    return [
        operator_role(),
        *service_roles(tenants),
        *(agency_role(agency) for agency in sorted(set(agencies))),
        *(tenant_role(tenant) for tenant in tenants),
    ]


def is_managed(principal: str) -> bool:
    """Principals whose ACLs ``tilik access`` owns (and removes when not declared)."""
    user = principal.removeprefix("User:")
    return principal.startswith("User:") and (
        user in (HUB_USER, CONNECTOR_USER, API_USER)
        or user.startswith((AGENCY_USER_PREFIX, TENANT_USER_PREFIX))
    )


def role_of_user(user: str, tenants: Iterable[str] = ()) -> Role | None:
    """The declared role of a SCRAM user name, or ``None`` for a principal Tilik does not manage."""
    if user == ADMIN_USER:
        return operator_role()
    for role in service_roles(tenants):
        if role.user == user:
            return role
    if user.startswith(AGENCY_USER_PREFIX):
        return agency_role(user.removeprefix(AGENCY_USER_PREFIX))
    if user.startswith(TENANT_USER_PREFIX):
        return tenant_role(user.removeprefix(TENANT_USER_PREFIX))
    return None
