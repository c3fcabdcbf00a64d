"""The catalog: every Tilik topic declared once (name, key, payload model, partitions, retention).

`tilik topics apply` creates and reconciles topics from these declarations, the typed producer
and consumer validate against them, and `tilik topics docs` renders them to JSON Schema and
AsyncAPI. A breaking change to a payload is a new topic version, never an edit in place.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from topics.models import (
    Agency,
    Alert,
    AlertAck,
    ApiKey,
    AuditRecord,
    CameraChoice,
    CameraRecord,
    CameraRemoval,
    CameraStatus,
    DeadLetter,
    DeviceEvent,
    Dispatch,
    NetworkGrant,
    SealedCredential,
    SiteConfig,
    WatchReport,
)

DAY_MS = 24 * 60 * 60 * 1000
SCHEMA_HEADER = "tilik-schema"
SCHEMA_VERSION_HEADER = "tilik-schema-version"
CONTENT_TYPE_HEADER = "content-type"
CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class TopicSpec:
    """One topic of the catalog."""

    name: str
    value_model: type[BaseModel]
    key: str  # which field of the payload is the record key, documented for consumers
    description: str
    partitions: int
    cleanup_policy: Literal["delete", "compact", "compact,delete"] = "delete"
    retention_ms: int = 7 * DAY_MS
    schema_version: int = 1
    extra_configs: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name.endswith(f".v{self.schema_version}"):
            raise ValueError(
                f"topic {self.name} must end with its schema version .v{self.schema_version}"
            )

    @property
    def schema_id(self) -> str:
        """Schema id carried in every message's header: `<Model>/v<version>`."""
        return f"{self.value_model.__name__}/v{self.schema_version}"

    def configs(self) -> dict[str, str]:
        """Broker topic configs this declaration owns (and `topics apply` reconciles)."""
        configs = {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
        }
        if "compact" in self.cleanup_policy:
            # Keep tombstones a day so every consumer sees a revocation before it disappears.
            configs.setdefault("delete.retention.ms", str(DAY_MS))
            configs.setdefault("min.compaction.lag.ms", "0")
        configs.update(self.extra_configs)
        return configs


# v2: `connector_config` on every record (the whole config a device is watched with), which a
# v1 consumer refusing unknown fields would refuse (docs/catalog.md, "Versions").
CAMERA_REGISTRY = TopicSpec(
    name="tilik.cameras.registry.v2",
    value_model=CameraRecord,
    key="camera_id",
    description=(
        "Every camera the hub knows, one record per camera id (compacted: the latest record wins; "
        "a tombstone, a null value, removes or revokes the camera)."
    ),
    partitions=12,
    cleanup_policy="compact",
    retention_ms=-1,
    schema_version=2,
)

#: the registry before v2, read once by ``tilik connectors upgrade-registry`` to carry its cameras over
CAMERA_REGISTRY_V1 = TopicSpec(
    name="tilik.cameras.registry.v1",
    value_model=CameraRecord,
    key="camera_id",
    description="The camera registry before v2 (records without `connector_config`).",
    partitions=12,
    cleanup_policy="compact",
    retention_ms=-1,
)

CAMERA_REMOVALS = TopicSpec(
    name="tilik.cameras.removed.v1",
    value_model=CameraRemoval,
    key="camera_id",
    description=(
        "Cameras removed by their owner or an operator (compacted). Onboarding and scans do not "
        "register a removed camera again unless told to readmit it; a tombstone readmits."
    ),
    partitions=3,
    cleanup_policy="compact",
    retention_ms=-1,
)

CAMERA_CHOICES = TopicSpec(
    name="tilik.cameras.choices.v1",
    value_model=CameraChoice,
    key="camera_id",
    description=(
        "Tenants' choices about their cameras (compacted, keyed by the city's camera id): "
        "confirmed, name, placement, sharing, revoked. Written by `tilik api` for the tenant a "
        "key names; the hub's ingest domain applies them to the registry at once."
    ),
    partitions=3,
    cleanup_policy="compact",
    retention_ms=-1,
)

CAMERA_WATCH = TopicSpec(
    name="tilik.cameras.watch.v1",
    value_model=WatchReport,
    key="camera_id",
    description=(
        "Whether the runtime owning a camera watches it, per registry record version "
        "(compacted): the credential reference resolved there, or why not."
    ),
    partitions=12,
    cleanup_policy="compact",
    retention_ms=-1,
)

CAMERA_STATUS = TopicSpec(
    name="tilik.cameras.status.v1",
    value_model=CameraStatus,
    key="camera_id",
    description="Health check results: online, offline, unauthorized or degraded, with latency and reason.",
    partitions=12,
    retention_ms=3 * DAY_MS,
)

# v2: new event kinds (alarm input, face, abandoned and removed objects, fire, temperature, audio,
# fight) and attributes (every object class, alarm input, temperature), which a v1 consumer
# validating against the v1 enums and refusing unknown fields would refuse (docs/catalog.md).
DEVICE_EVENTS = TopicSpec(
    name="tilik.events.device.v2",
    value_model=DeviceEvent,
    key="camera_id",
    description="Device and analytics events normalised to one taxonomy, with stable event ids.",
    partitions=24,
    retention_ms=7 * DAY_MS,
    schema_version=2,
)

# v2: new alert categories (fire, alarm, suspicious object, violence); an alert travels inside
# every dispatch too, so the dispatch topics move with it (docs/catalog.md, "Versions").
ALERTS = TopicSpec(
    name="tilik.alerts.v2",
    value_model=Alert,
    key="camera_id",
    description="Alert lifecycle states (opened, updated, resolved) raised by the hub's rules.",
    partitions=12,
    retention_ms=30 * DAY_MS,
    schema_version=2,
)

# v2: the `processing_failed` kind (a valid record whose processing raised), which a v1 consumer
# validating the kind against the v1 enum would refuse (docs/catalog.md, "Versions").
DEAD_LETTERS = TopicSpec(
    name="tilik.deadletter.v2",
    value_model=DeadLetter,
    key="source_topic or source_device",
    description=(
        "Input that was refused (invalid messages, malformed device data, unknown vendor events), "
        "records whose processing failed, and dispatches that exhausted their retries, each with "
        "its source and the reason."
    ),
    partitions=3,
    retention_ms=30 * DAY_MS,
    schema_version=2,
)

AUDIT = TopicSpec(
    name="tilik.audit.v1",
    value_model=AuditRecord,
    key="subject",
    description="Who did what: onboarding, sharing changes, revocations, replays, rule and route changes.",
    partitions=3,
    retention_ms=365 * DAY_MS,
)


API_KEYS = TopicSpec(
    name="tilik.api.keys.v1",
    value_model=ApiKey,
    key="key_id",
    description=(
        "API keys of `tilik api` (compacted): whom each key speaks for and a salted scrypt hash "
        "of its secret, never the secret; a revoked key keeps its record without a hash. Read "
        "and written only by the API and the operator."
    ),
    partitions=1,
    cleanup_policy="compact",
    retention_ms=-1,
)


SEALED_CREDENTIALS = TopicSpec(
    name="tilik.credentials.sealed.v1",
    value_model=SealedCredential,
    key="credential_id",
    description=(
        "Device credentials encrypted at rest (compacted, keyed by credential id, the `<id>` of "
        "a `vault:<id>` credential reference). Written by the API (which seals to the vault's "
        "public key and cannot open them), read only by the connector runtime, which opens them "
        "with the vault key file (docs/vault.md)."
    ),
    partitions=1,
    cleanup_policy="compact",
    retention_ms=-1,
)

NETWORK_GRANTS = TopicSpec(
    name="tilik.api.network_grants.v1",
    value_model=NetworkGrant,
    key="tenant_id",
    description=(
        "Networks the operator lets the city probe for a tenant's recorders, beyond the public "
        "internet (compacted, keyed by tenant id; docs/vault.md). Read and written by the API."
    ),
    partitions=1,
    cleanup_policy="compact",
    retention_ms=-1,
)


def dispatch_topic_name(agency: str) -> str:
    return f"tilik.dispatch.{agency}.v{ALERTS.schema_version}"


def dispatch_spec(agency: str) -> TopicSpec:
    return TopicSpec(
        name=dispatch_topic_name(agency),
        value_model=Dispatch,
        key="alert.camera_id",
        description=(
            f"Alerts routed to `{agency}`. At-least-once: drop a repeat by `idempotency_key`."
        ),
        partitions=6,
        retention_ms=30 * DAY_MS,
        # a dispatch carries the alert, so the alerts' version (v2: new categories)
        schema_version=ALERTS.schema_version,
    )


DISPATCH = {agency.value: dispatch_spec(agency.value) for agency in Agency}

ACK_PREFIX = "tilik.acks."


def ack_topic_name(agency: str) -> str:
    return f"{ACK_PREFIX}{agency}.v1"


def ack_spec(agency: str) -> TopicSpec:
    """An agency's own acknowledgement topic: only its principal may write it, so an
    acknowledgement's topic says which agency sent it (the payload's word is not taken for it)."""
    return TopicSpec(
        name=ack_topic_name(agency),
        value_model=AlertAck,
        key="alert_id",
        description=(
            f"`{agency}` acknowledges alerts here; an acknowledgement stops escalation. Only "
            f"`{agency}`'s principal (and the hub, for webhook answers) may write it; one naming "
            "another agency is dead-lettered."
        ),
        # A few acknowledgements a minute per agency: one partition (the hub watches each one).
        partitions=1,
        retention_ms=30 * DAY_MS,
    )


def agency_of_ack_topic(topic: str) -> str | None:
    """The agency whose acknowledgement topic ``topic`` is, or ``None``."""
    if topic.startswith(ACK_PREFIX) and topic.endswith(".v1"):
        return topic[len(ACK_PREFIX) : -len(".v1")] or None
    return None


def agency_of_topic(topic: str) -> str | None:
    """The agency whose dispatch or acknowledgement topic ``topic`` is, or ``None``."""
    prefix, suffix = dispatch_topic_name("<agency>").split("<agency>")
    if topic.startswith(prefix) and topic.endswith(suffix):
        return topic[len(prefix) : -len(suffix)] or None
    return agency_of_ack_topic(topic)


ACKS = {agency.value: ack_spec(agency.value) for agency in Agency}


def all_topics(agencies: list[str] | None = None) -> list[TopicSpec]:
    """The whole shared catalog, optionally with a city's own agency list instead of the defaults.

    Each agency has a dispatch and an acknowledgement topic. A tenant's topics
    (``tenant_topics``) are made when the tenant is added (``tilik access tenant add``).
    """
    names = agencies if agencies is not None else list(DISPATCH)
    return [
        CAMERA_REGISTRY,
        CAMERA_REMOVALS,
        CAMERA_CHOICES,
        CAMERA_WATCH,
        CAMERA_STATUS,
        DEVICE_EVENTS,
        ALERTS,
        *(dispatch_spec(a) for a in names),
        *(ack_spec(a) for a in names),
        DEAD_LETTERS,
        AUDIT,
        API_KEYS,
        SEALED_CREDENTIALS,
        NETWORK_GRANTS,
    ]


TENANT_PREFIX = "tilik.tenant."


@dataclass(frozen=True)
class TenantTopics:
    """One private tenant's topics: what its sites' edge agents write, and their configuration.

    The hub's ingest agent republishes the records into the shared topics, stamping the owner
    from the topic they came from, never from the payload.
    """

    tenant: str
    cameras: TopicSpec
    status: TopicSpec
    events: TopicSpec
    site_config: TopicSpec

    @property
    def ingest(self) -> tuple[TopicSpec, TopicSpec, TopicSpec]:
        """The topics the tenant's sites write."""
        return (self.cameras, self.status, self.events)

    @property
    def all(self) -> list[TopicSpec]:
        return [*self.ingest, self.site_config]


def tenant_topics(tenant: str) -> TenantTopics:
    base = f"{TENANT_PREFIX}{tenant}"
    return TenantTopics(
        tenant=tenant,
        cameras=TopicSpec(
            name=f"{base}.cameras.v2",
            value_model=CameraRecord,
            key="camera_id",
            description=(
                f"Cameras `{tenant}`'s sites onboard (compacted; a tombstone revokes). Written "
                "only by the tenant's principal; the hub's ingest agent republishes them."
            ),
            partitions=3,
            cleanup_policy="compact",
            retention_ms=-1,
            # the registry's payload, so the registry's version (v2: `connector_config`)
            schema_version=CAMERA_REGISTRY.schema_version,
        ),
        status=TopicSpec(
            name=f"{base}.status.v1",
            value_model=CameraStatus,
            key="camera_id",
            description=f"Health of `{tenant}`'s cameras, checked at its sites.",
            partitions=3,
            retention_ms=3 * DAY_MS,
        ),
        events=TopicSpec(
            name=f"{base}.events.v{DEVICE_EVENTS.schema_version}",
            value_model=DeviceEvent,
            key="camera_id",
            description=f"Device events of `{tenant}`'s cameras, normalised at its sites.",
            partitions=6,
            retention_ms=7 * DAY_MS,
            # the shared events' payload, so their version (v2: new kinds and attributes)
            schema_version=DEVICE_EVENTS.schema_version,
        ),
        site_config=TopicSpec(
            name=f"{base}.sites.v1",
            value_model=SiteConfig,
            key="site_id",
            description=(
                f"Configuration of `{tenant}`'s sites for their edge agents (compacted). "
                "Readable only by the tenant's principal."
            ),
            partitions=1,
            cleanup_policy="compact",
            retention_ms=-1,
        ),
    )


def tenant_of_topic(topic: str) -> str | None:
    """The tenant whose ingest topic ``topic`` is (the owner of what arrives on it), or ``None``."""
    if not topic.startswith(TENANT_PREFIX):
        return None
    tenant = topic.removeprefix(TENANT_PREFIX).split(".", 1)[0]
    if not tenant or topic not in {spec.name for spec in tenant_topics(tenant).ingest}:
        return None
    return tenant


def tenants_with_topics(topic_names: Iterable[str]) -> list[str]:
    """The tenants all of whose ingest topics are among ``topic_names``."""
    names = set(topic_names)
    found = {tenant for name in names if (tenant := tenant_of_topic(name)) is not None}
    return sorted(
        tenant for tenant in found if all(s.name in names for s in tenant_topics(tenant).ingest)
    )


def iter_payload_models() -> Iterator[type[BaseModel]]:
    """Every payload model of the catalog, a tenant's topics included."""
    seen: set[type[BaseModel]] = set()
    for spec in [*all_topics(), *tenant_topics("any").all]:
        if spec.value_model not in seen:
            seen.add(spec.value_model)
            yield spec.value_model


def get_spec(name: str) -> TopicSpec:
    """Look up a topic by full name or a short alias (`registry`, `events`, `dispatch.dishub`, `acks.dishub`)."""
    by_name = {spec.name: spec for spec in all_topics()}
    if name in by_name:
        return by_name[name]
    aliases = {
        "registry": CAMERA_REGISTRY,
        "cameras": CAMERA_REGISTRY,
        "removed": CAMERA_REMOVALS,
        "choices": CAMERA_CHOICES,
        "watch": CAMERA_WATCH,
        "status": CAMERA_STATUS,
        "events": DEVICE_EVENTS,
        "alerts": ALERTS,
        "dlq": DEAD_LETTERS,
        "deadletter": DEAD_LETTERS,
        "audit": AUDIT,
        "keys": API_KEYS,
        "sealed": SEALED_CREDENTIALS,
        "grants": NETWORK_GRANTS,
    }
    if name in aliases:
        return aliases[name]
    if name.startswith("dispatch."):
        agency = name.removeprefix("dispatch.")
        return DISPATCH.get(agency) or dispatch_spec(agency)
    if name.startswith("acks."):
        return ack_spec(name.removeprefix("acks."))
    acknowledging = agency_of_ack_topic(name)
    if acknowledging is not None:
        return ack_spec(acknowledging)
    if name.startswith(TENANT_PREFIX):
        for spec in tenant_topics(name.removeprefix(TENANT_PREFIX).split(".")[0]).all:
            if spec.name == name:
                return spec
    raise KeyError(f"no topic {name!r} in the catalog")
