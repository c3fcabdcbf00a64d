"""The connector SDK: the contract a connector implements (config, check, discover, health, events),
what the runtime does for it (Kafka, sharding, backoff, metrics), and the plumbing every device
connector needs, once:

- ``DeviceHttp``: the device HTTP client (digest/basic auth, bounded answers, errors translated);
- ``VendorConnector``: a camera or recorder with an HTTP API and a multipart event stream, whose
  subclass supplies only the wire format (identity, channels, stream paths, one part's events);
- ``EventMapper`` with one ``EventRule`` table row per vendor event code (``VendorEvent`` in,
  ``DeviceEvent`` or ``UnparsedEvent`` out);
- ``MultipartStreamParser`` (stream framing), ``reconnecting`` with ``Backoff``, the ``key=value``
  line parser, hardened XML (``connectors.sdk.xmlsafe``) and untrusted-value readers
  (``connectors.sdk.devicedata``).

``tilik connectors new`` generates a package built on these (``connectors.sdk.example``).
"""

from connectors.sdk.base import (
    CheckResult,
    Connector,
    ConnectorConfig,
    ConnectorMetrics,
    EventBatch,
    UnparsedEvent,
)
from connectors.sdk.devicedata import aware_time, decimal, device_json, device_model, finite_float
from connectors.sdk.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    DeviceDataError,
    FatalConnectorError,
    RetriableError,
)
from connectors.sdk.http import DeviceHttp
from connectors.sdk.keyvalue import indexed_values, parse_key_values
from connectors.sdk.mapping import (
    DeviceContext,
    EventMapper,
    EventRule,
    VendorEvent,
    flatten_json,
    flatten_xml,
)
from connectors.sdk.multipart import (
    DiscardedPart,
    MultipartStreamParser,
    Part,
    boundary_from_content_type,
)
from connectors.sdk.reconnect import reconnecting
from connectors.sdk.secrets import (
    CameraSecrets,
    CredentialRef,
    Credentials,
    RefusedReference,
    camera_secret_env,
)
from connectors.sdk.vendor import (
    ChannelInfo,
    DeviceIdentity,
    StreamPath,
    VendorConfig,
    VendorConnector,
)
from connectors.sdk.watched import DeviceTarget, WatchedCamera
from core.backoff import Backoff
from core.secrets import SecretRef, resolve_secret

__all__ = [
    "AuthenticationError",
    "Backoff",
    "CameraSecrets",
    "ChannelInfo",
    "CheckResult",
    "ConfigurationError",
    "Connector",
    "ConnectorConfig",
    "ConnectorError",
    "ConnectorMetrics",
    "CredentialRef",
    "Credentials",
    "DeviceContext",
    "DeviceDataError",
    "DeviceHttp",
    "DeviceIdentity",
    "DeviceTarget",
    "DiscardedPart",
    "EventBatch",
    "EventMapper",
    "EventRule",
    "FatalConnectorError",
    "MultipartStreamParser",
    "Part",
    "RefusedReference",
    "RetriableError",
    "SecretRef",
    "StreamPath",
    "UnparsedEvent",
    "VendorConfig",
    "VendorConnector",
    "VendorEvent",
    "WatchedCamera",
    "aware_time",
    "boundary_from_content_type",
    "camera_secret_env",
    "decimal",
    "device_json",
    "device_model",
    "finite_float",
    "flatten_json",
    "flatten_xml",
    "indexed_values",
    "parse_key_values",
    "reconnecting",
    "resolve_secret",
]
