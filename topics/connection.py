"""How every Tilik Kafka client connects: bootstrap address and SASL/SSL settings from ``Settings``.

aiokafka and kafka-python take the same option names, so one function serves the typed
producer/consumer and the admin client alike. The SASL password is read from the environment
variable that the settings name, so it never sits in a settings object or a log line.

Because every client is built through here, this is also where the client libraries' defects
are worked around (``topics.kafka_workarounds``) before any client exists.
"""

from __future__ import annotations

import os
from typing import Any

from tilik.settings import Settings, get_settings
from topics import kafka_workarounds


class ConnectionConfigError(ValueError):
    """The Kafka security settings are incomplete (e.g. SASL without a user or password)."""


def connection_config(
    bootstrap: str | None = None, *, settings: Settings | None = None
) -> dict[str, Any]:
    """Keyword arguments for an aiokafka or kafka-python client: bootstrap plus security options."""
    kafka_workarounds.install()
    settings = settings or get_settings()
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap or settings.bootstrap,
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        # The system trust store; a private CA is configured through the usual SSL_CERT_FILE.
        from aiokafka.helpers import create_ssl_context

        config["ssl_context"] = create_ssl_context()
    if settings.security_protocol.startswith("SASL_"):
        if not settings.sasl_mechanism or not settings.sasl_username:
            raise ConnectionConfigError(
                f"{settings.security_protocol} needs TILIK_SASL_MECHANISM and TILIK_SASL_USERNAME"
            )
        if not settings.sasl_password_env or settings.sasl_password_env not in os.environ:
            raise ConnectionConfigError(
                "SASL needs TILIK_SASL_PASSWORD_ENV naming a set environment variable "
                f"(now: {settings.sasl_password_env!r})"
            )
        config["sasl_mechanism"] = settings.sasl_mechanism
        config["sasl_plain_username"] = settings.sasl_username
        config["sasl_plain_password"] = os.environ[settings.sasl_password_env]
    return config
