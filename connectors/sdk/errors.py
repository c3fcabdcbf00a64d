"""Connector errors, named by what the runtime does next.

    ConnectorError
    ├── ConfigurationError      stop: the config is wrong; a person must fix it
    ├── AuthenticationError     skip this device, report it `unauthorized`, retry slowly
    ├── RetriableError          back off and retry this device (timeouts, refused, 5xx)
    ├── DeviceDataError         skip this input: record it in the dead letters, keep going
    └── FatalConnectorError     stop this connector instance

Lower-level errors (the HTTP wire's, zeep, lxml, OSError) are translated at the connector's boundary with
``raise … from exc``. Messages never contain credentials.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Root of every connector error."""

    retriable: bool = False

    def __init__(self, message: str, *, device: str | None = None) -> None:
        super().__init__(message)
        self.device = device


class ConfigurationError(ConnectorError):
    """The connector's config is invalid or incomplete; retrying will not help."""


class AuthenticationError(ConnectorError):
    """The device refused the credentials (wrong password, locked account, clock skew)."""

    retriable = True


class RetriableError(ConnectorError):
    """A transient failure: the runtime backs off and tries the device again."""

    retriable = True


class DeviceDataError(ConnectorError):
    """The device sent input that cannot be used (malformed, oversized, hostile XML)."""

    def __init__(
        self,
        message: str,
        *,
        device: str | None = None,
        payload: bytes | str | None = None,
    ) -> None:
        super().__init__(message, device=device)
        self.payload = payload


class FatalConnectorError(ConnectorError):
    """The connector instance cannot go on."""
