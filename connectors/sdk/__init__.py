"""The connector contract: what a connector implements (config, check, discover, health, events)
and what the runtime does for it (Kafka, sharding, backoff, metrics)."""

from connectors.sdk.base import (
    CheckResult,
    Connector,
    ConnectorConfig,
    ConnectorMetrics,
    DeviceTarget,
    EventBatch,
    UnparsedEvent,
)
from connectors.sdk.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    DeviceDataError,
    FatalConnectorError,
    RetriableError,
)
from connectors.sdk.secrets import (
    CameraSecrets,
    CredentialRef,
    Credentials,
    RefusedReference,
    camera_secret_env,
)
from core.secrets import SecretRef, resolve_secret

__all__ = [
    "AuthenticationError",
    "CameraSecrets",
    "CheckResult",
    "ConfigurationError",
    "Connector",
    "ConnectorConfig",
    "ConnectorError",
    "ConnectorMetrics",
    "CredentialRef",
    "Credentials",
    "DeviceDataError",
    "DeviceTarget",
    "EventBatch",
    "FatalConnectorError",
    "RefusedReference",
    "RetriableError",
    "SecretRef",
    "UnparsedEvent",
    "camera_secret_env",
    "resolve_secret",
]
