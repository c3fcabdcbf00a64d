"""The connector contract, modelled on Kafka Connect / Airbyte / Singer.

An author writes a ``ConnectorConfig`` subclass (typed, validated) and a ``Connector`` subclass
with four operations against *one* device or account:

- ``check()``: can I reach it and authenticate? (raises a ``ConnectorError`` otherwise)
- ``discover()``: the cameras behind it (an NVR's channels each become a ``CameraRecord``)
- ``health()``: one ``CameraStatus`` per camera
- ``events()``: an async stream of normalised ``DeviceEvent`` (and ``UnparsedEvent`` for input a
  parser does not know or cannot read, which the runtime keeps in the dead letters; the stream
  goes on with the next input)

Resumable state is an opaque JSON-able dict: the connector updates ``self.state``; the runtime
stores it and hands it back on restart. Everything else (Kafka, sharding across processes,
concurrency limits, backoff, metrics) is the runtime's job, not the connector's.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from connectors.sdk.channels import ChannelMap
from connectors.sdk.placement import CameraPlacement, config_values_from_record
from connectors.sdk.secrets import CredentialRef, Credentials
from topics.models import (
    CameraRecord,
    CameraStatus,
    DeadLetterKind,
    DeviceEvent,
    Location,
    Owner,
    OwnerKind,
    SharingLevel,
    SiteType,
)


class ConnectorConfig(BaseModel):
    """Config for one device or account. Subclasses add their fields; unknown fields are errors.

    Validation errors never repeat the value given (it may be a password where a reference belongs).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    address: str = Field(description="host:port of the device or platform endpoint.")
    credential_ref: CredentialRef | None = Field(
        default=None,
        description=(
            "Where the credentials are (`admin@env:TILIK_CAMERA_SECRET_LOBBY`), never the "
            "password itself."
        ),
    )
    scheme: str = Field(
        default="http", pattern=r"^https?$", description="How to reach the device: http or https."
    )
    timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="Seconds one request to the device may take."
    )
    max_response_bytes: int = Field(
        default=2 * 1024 * 1024,
        gt=0,
        description="Largest answer read from the device; a larger one is refused while reading.",
    )
    owner: Owner = Field(
        default_factory=lambda: Owner(kind=OwnerKind.MUNICIPAL, id="city"),
        description=(
            "Who owns the cameras (a private business is a tenant); places only cameras the "
            "registry does not know yet."
        ),
    )
    location: Location = Field(
        default_factory=Location,
        description=(
            "Where the cameras are: administrative path and coordinates; places only cameras "
            "the registry does not know yet."
        ),
    )
    site_type: SiteType = Field(
        default=SiteType.OTHER,
        description="What kind of place it is; places only cameras the registry does not know yet.",
    )
    sharing: SharingLevel = Field(
        default=SharingLevel.REGISTRY_ONLY,
        description=(
            "What the owner shares with the city (docs/sharing.md); places only cameras the "
            "registry does not know yet."
        ),
    )
    cameras: list[CameraPlacement] = Field(
        default_factory=list,
        max_length=1024,
        description=(
            "Decisions about cameras of this device (`channel` or `camera_id`, or neither for "
            "all of them): name, owner, location, site_type, sharing. Onboarding changes a known "
            "camera's placement only through an entry here."
        ),
    )

    def credentials(self) -> Credentials | None:
        if self.credential_ref is None:
            return None
        return Credentials.from_ref(self.credential_ref, owner=self.owner.id)

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.address}"


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    latency_ms: float
    detail: str = ""


@dataclass(frozen=True)
class UnparsedEvent:
    """Device input the connector could not map to the taxonomy: kept raw, with its source.

    ``kind`` is ``unknown_event`` for a well-formed event no parser knows, ``device_input`` for
    input that could not be read (a malformed stream part, a value out of range): the dead letter
    says which.
    """

    device_id: str
    vendor_topic: str
    payload: str
    reason: str
    camera_id: str | None = None
    kind: DeadLetterKind = DeadLetterKind.UNKNOWN_EVENT

    @property
    def error_type(self) -> str:
        """The dead letter's ``error_type``: the SDK error such input raises, or ``UnparsedEvent``."""
        return "DeviceDataError" if self.kind is DeadLetterKind.DEVICE_INPUT else "UnparsedEvent"


EventBatch = list[DeviceEvent | UnparsedEvent]

ConfigT = TypeVar("ConfigT", bound=ConnectorConfig)


class Connector(abc.ABC, Generic[ConfigT]):
    """One connector instance serves one device or account described by ``config``."""

    #: entry-point name, e.g. ``onvif``
    name: ClassVar[str]
    #: the config model the runtime validates raw config against
    config_model: ClassVar[type[ConnectorConfig]]
    version: ClassVar[str] = "0.0.0"
    #: a device on a private network: its address must be inside the probe allow-list
    #: (``connectors.sdk.netpolicy``); a connector for a cloud platform sets this to False
    private_network: ClassVar[bool] = True
    #: ``module:attribute`` of the click command serving simulated devices for this connector
    #: (``tilik simulate NAME``; see ``connectors.sdk.simulator.simulator_command``). A string, so
    #: loading the connector never imports its simulator.
    simulator: ClassVar[str | None] = None

    def __init__(self, config: ConfigT, *, state: dict[str, Any] | None = None) -> None:
        self.config = config
        self.state: dict[str, Any] = dict(state or {})
        #: the device's channel references, each to its registry camera: set by the watching
        #: runtime from the records it watches (``connectors.sdk.channels``), by ``discover``
        #: from the device's answer; events resolve their channel through it
        self.channels = ChannelMap()

    @classmethod
    def config_from_record(cls, record: CameraRecord) -> ConnectorConfig:
        """Config to watch the device behind a registry record: the config onboarding proved
        (the record's ``connector_config``) with the record's own fields over it; a config field
        named like a record field (``address``, ``camera_id``, ``name``, ...) takes its value.
        A ``ValueError`` (pydantic's) when the record makes no valid config."""
        return cls.config_model.model_validate(config_values_from_record(cls.config_model, record))

    @abc.abstractmethod
    async def check(self) -> CheckResult:
        """Reach and authenticate; raise AuthenticationError / RetriableError / ConfigurationError."""

    @abc.abstractmethod
    async def discover(self) -> list[CameraRecord]:
        """Every camera behind this device or account, with a stable camera id each."""

    @abc.abstractmethod
    async def health(self) -> list[CameraStatus]:
        """One status per camera; a device that cannot be reached yields `offline` statuses."""

    @abc.abstractmethod
    def events(self) -> AsyncIterator[DeviceEvent | UnparsedEvent]:
        """Normalised events until ``close()``; reconnects on its own, raising only what it can't handle."""

    async def close(self) -> None:
        """Release sockets and subscriptions (called on shutdown and on partition revocation)."""


@dataclass
class ConnectorMetrics:
    """Counters the runtime keeps per connector; exposed by the runtime, not the connector."""

    devices: int = 0
    cameras: int = 0
    checks_ok: int = 0
    checks_failed: int = 0
    cameras_discovered: int = 0
    health_checks: int = 0
    # How long the last complete health round over every watched device took.
    health_round_s: float = 0.0
    statuses: int = 0
    events: int = 0
    unparsed: int = 0
    dead_letters: int = 0
    retries: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def count_error(self, error: BaseException) -> None:
        name = type(error).__name__
        self.errors[name] = self.errors.get(name, 0) + 1
