"""How every Tilik Kafka client connects: where the broker is and which principal the client is.

The identity comes from the first of:

1. ``TILIK_SASL_USERNAME`` with ``TILIK_SASL_MECHANISM``, ``TILIK_SECURITY_PROTOCOL`` and the
   password in the environment variable ``TILIK_SASL_PASSWORD_ENV`` names;
2. a client config file (``core.clientconfig``): ``TILIK_CLIENT_CONFIG``, else the local broker's
   admin file in the state dir, which ``tilik kafka start`` writes, so every ``tilik`` command on
   that host finds it without being told;
3. nothing: PLAINTEXT, which only a broker started with ``--insecure`` accepts.

aiokafka and kafka-python take the same option names, so one function serves the typed
producer/consumer and the admin client alike; the hub's Faust app gets the same identity as
broker credentials (``hub.app``). A password is never kept in a settings object or a log line.

Refusals are translated here into one-line errors that name the principal and never the password:
``AuthenticationRefused`` (wrong, rotated or revoked credentials) and ``AuthorizationRefused``
(the principal's ACLs do not allow the operation).

Because every client is built through here, this is also where the client libraries' defects
are worked around (``topics.kafka_workarounds``) before any client exists.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.clientconfig import ClientConfig, ClientConfigError
from core.settings import Settings, get_settings
from topics import kafka_workarounds


class KafkaSetupError(Exception):
    """Root of what the operator must fix to reach, authenticate to or administer Kafka.

    The message is one line that says what to do and holds no secret; the CLI prints it as it is.
    """


DIAGNOSE_TIMEOUT_S = 15.0


class ConnectionConfigError(KafkaSetupError, ValueError):
    """The Kafka security settings are incomplete (e.g. SASL without a user or password)."""


class KafkaAccessError(KafkaSetupError, RuntimeError):
    """The broker refused this client; the message is one line naming the principal, never a secret."""


class AuthenticationRefused(KafkaAccessError):
    """The broker did not accept the credentials: wrong, rotated or revoked."""


class AuthorizationRefused(KafkaAccessError):
    """The principal authenticated but its ACLs do not allow the operation."""


def client_identity(settings: Settings | None = None) -> ClientConfig:
    """Who this process connects as and where to; see the module docstring for the order."""
    settings = settings or get_settings()
    if settings.sasl_username or settings.security_protocol != "PLAINTEXT":
        return _identity_from_settings(settings)
    path = settings.client_config_file()
    if path is None:
        return ClientConfig(bootstrap=settings.bootstrap)
    try:
        identity = ClientConfig.load(path)
    except ClientConfigError as exc:
        raise ConnectionConfigError(str(exc)) from None
    # An explicit TILIK_BOOTSTRAP (or one the settings were given) points the same identity elsewhere.
    if "bootstrap" in settings.model_fields_set:
        identity = identity.with_bootstrap(settings.bootstrap)
    return identity


def _identity_from_settings(settings: Settings) -> ClientConfig:
    ca_pem = None
    if settings.ssl_cafile is not None:
        try:
            ca_pem = settings.ssl_cafile.read_text(encoding="ascii")
        except OSError as exc:
            raise ConnectionConfigError(
                f"cannot read TILIK_SSL_CAFILE {settings.ssl_cafile} ({exc.strerror})"
            ) from None
    password = None
    if settings.security_protocol.startswith("SASL_"):
        if not settings.sasl_mechanism or not settings.sasl_username:
            raise ConnectionConfigError(
                f"{settings.security_protocol} needs TILIK_SASL_MECHANISM and TILIK_SASL_USERNAME"
            )
        secret = settings.sasl_password()
        if secret is None:
            raise ConnectionConfigError(
                "SASL needs TILIK_SASL_PASSWORD_ENV naming a set environment variable "
                f"(now: {settings.sasl_password_env!r})"
            )
        password = secret.get_secret_value()
    return ClientConfig(
        bootstrap=settings.bootstrap,
        security_protocol=settings.security_protocol,
        mechanism=settings.sasl_mechanism,
        username=settings.sasl_username,
        password=password,
        ca_pem=ca_pem,
    )


def connection_config(
    bootstrap: str | None = None, *, settings: Settings | None = None
) -> dict[str, Any]:
    """Keyword arguments for an aiokafka or kafka-python client: bootstrap plus security options."""
    kafka_workarounds.install()
    identity = client_identity(settings)
    if bootstrap:
        identity = identity.with_bootstrap(bootstrap)
    try:
        return identity.kafka_options()
    except ClientConfigError as exc:
        raise ConnectionConfigError(str(exc)) from None


def principal_of(options: dict[str, Any]) -> str:
    """The principal a set of client options authenticates as, for messages (``User:<name>``)."""
    username = options.get("sasl_plain_username")
    return f"User:{username}" if username else "User:ANONYMOUS"


def authentication_refused(options: dict[str, Any], detail: str = "") -> AuthenticationRefused:
    """The one-line error for credentials the broker did not accept."""
    mechanism = options.get("sasl_mechanism") or options.get("security_protocol", "PLAINTEXT")
    reason = f" ({detail})" if detail else ""
    return AuthenticationRefused(
        f"Kafka at {options.get('bootstrap_servers')} refused the credentials of "
        f"{principal_of(options)} ({mechanism}){reason}: they are wrong, rotated or revoked; "
        "check TILIK_CLIENT_CONFIG or ask the operator for a new client config"
    )


def authorization_refused(options: dict[str, Any], what: str) -> AuthorizationRefused:
    """The one-line error for an operation the principal's ACLs do not allow."""
    return AuthorizationRefused(f"{principal_of(options)} is not allowed to {what}")


async def diagnose_refusal(options: dict[str, Any]) -> AuthenticationRefused | None:
    """Why a client could not start: an ``AuthenticationRefused`` when the broker refused its SASL
    credentials, else ``None`` (unreachable, or nothing wrong with the credentials).

    aiokafka only logs the SASL failure and raises a generic "unable to bootstrap"; one direct
    connection to the first bootstrap address shows which it was.
    """
    from aiokafka.conn import create_conn
    from aiokafka.errors import KafkaError

    if not str(options.get("security_protocol", "")).startswith("SASL_"):
        return None
    servers = options["bootstrap_servers"]
    first = (servers if isinstance(servers, str) else ",".join(servers)).split(",")[0].strip()
    host, _, port = first.rpartition(":")
    connection_options = {
        key: options[key]
        for key in (
            "security_protocol",
            "ssl_context",
            "sasl_mechanism",
            "sasl_plain_username",
            "sasl_plain_password",
        )
        if key in options
    }
    try:
        connection = await asyncio.wait_for(
            create_conn(host, int(port), **connection_options), DIAGNOSE_TIMEOUT_S
        )
    except (KafkaError, OSError, TimeoutError) as exc:
        if _is_authentication_failure(exc):
            return authentication_refused(options)
        return None
    connection.close()
    return None


async def start_client(client: Any, options: dict[str, Any]) -> None:
    """Start an aiokafka producer or consumer built from ``options``; refused credentials become
    one ``AuthenticationRefused`` (aiokafka reports them only as "unable to bootstrap")."""
    from aiokafka.errors import KafkaConnectionError

    try:
        await client.start()
    except KafkaConnectionError:
        await client.stop()
        refusal = await diagnose_refusal(options)
        if refusal is not None:
            raise refusal from None
        raise


def diagnose_refusal_sync(options: dict[str, Any]) -> AuthenticationRefused | None:
    """``diagnose_refusal`` for blocking code (kafka-python clients), on a thread of its own so it
    works whether or not the caller's thread runs an event loop."""
    found: list[AuthenticationRefused | None] = [None]

    def probe() -> None:
        found[0] = asyncio.run(diagnose_refusal(options))

    worker = threading.Thread(target=probe, name="tilik-kafka-diagnose", daemon=True)
    worker.start()
    worker.join(DIAGNOSE_TIMEOUT_S)
    return found[0]


def refused_operation(
    exc: BaseException, options: dict[str, Any], action: str
) -> AuthorizationRefused | None:
    """The one-line error for an authorization refusal from aiokafka or kafka-python, else ``None``.

    ``action`` says what was attempted, e.g. ``"write to tilik.alerts.v2"``.
    """
    name = type(exc).__name__
    if name == "GroupAuthorizationFailedError":
        return authorization_refused(options, f"{action} (its consumer group is not allowed)")
    if name.endswith(("AuthorizationFailedError", "AuthorizationFailed")):
        return authorization_refused(options, action)
    return None


@contextmanager
def refusal_named(options: dict[str, Any], action: str) -> Iterator[None]:
    """Around an aiokafka call: the broker refusing ``action`` by ACL becomes the one-line
    ``AuthorizationRefused``; any other broker error goes on as it is."""
    from aiokafka.errors import BrokerResponseError

    try:
        yield
    except BrokerResponseError as exc:
        refused = refused_operation(exc, options, action)
        if refused is not None:
            raise refused from None
        raise


def _is_authentication_failure(exc: BaseException) -> bool:
    names = {
        "SaslAuthenticationFailedError",
        "SaslAuthenticationFailed",
        "AuthenticationFailedError",
    }
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__name__ in names:
            return True
        seen = seen.__cause__ or seen.__context__
    return False
