"""Process-wide settings, read once from the environment (``TILIK_*``) into a typed model.

This is the one place Tilik reads its configuration from the environment: every ``TILIK_*``
variable is a field below (``tilik`` code elsewhere takes a ``Settings``, or ``get_settings()``).
The only other variables read are secrets a reference names (``core.secrets``) and the
platform's own conventions (``HOME``/``XDG_CACHE_HOME`` here, ``JAVA_HOME``/``PATH`` to find Java).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from core.modeldoc import DEFAULT_SHOWN
from core.secrets import SecretReferenceError, resolve_secret

ENV_PREFIX = "TILIK_"
#: Older names still read for a field when its own variable is unset (first one set wins).
LEGACY_ENV: dict[str, tuple[str, ...]] = {
    "probe_allow": ("TILIK_ONVIF_PROBE_ALLOW",),
    "sim_password": ("TILIK_SIM_ONVIF_PASSWORD",),
}
#: Where connectors may connect by default: loopback and the RFC 1918 private ranges.
DEFAULT_PROBE_ALLOW = ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
# The local broker's admin client config, relative to the state dir (``tilik kafka start`` writes it).
LOCAL_ADMIN_CONFIG = Path("kafka") / "admin.properties"
#: Where camera credential references may point by default: variables named TILIK_CAMERA_SECRET_*.
DEFAULT_CAMERA_SECRETS_ENV_PREFIX = "TILIK_CAMERA_SECRET_"


class Settings(BaseModel):
    """Settings every Tilik process shares; each field maps to ``TILIK_<FIELD>`` in the environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bootstrap: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers, comma separated host:port."
    )
    state_dir: Path = Field(
        default=Path(".tilik"),
        description="Where local state lives: the local broker's data and logs, caches.",
    )
    replication_factor: int = Field(
        default=1, ge=1, description="Replication factor for catalog topics on this cluster."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: JSON lines unless stderr is a terminal."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="The lowest level logged."
    )
    client_config: Path | None = Field(
        default=None,
        description=(
            "Kafka client config file (bootstrap, principal, password, CA) this process connects "
            "with; unset: the local broker's admin file in the state dir, when there is one."
        ),
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description=(
            "How to reach the broker when no client config file is used; anything but "
            "PLAINTEXT makes these TILIK_SASL_*/TILIK_SSL_* settings the identity."
        ),
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        default=None, description="SASL mechanism for SASL_PLAINTEXT/SASL_SSL."
    )
    sasl_username: str | None = Field(
        default=None,
        description="Principal to connect as; when set, these TILIK_SASL_* settings replace any client config file.",
    )
    sasl_password_env: str | None = Field(
        default=None,
        description="Name of the environment variable holding the SASL password (never the password).",
    )
    ssl_cafile: Path | None = Field(
        default=None, description="CA bundle (PEM) for SSL/SASL_SSL set through these variables."
    )
    access_bootstrap: str | None = Field(
        default=None,
        description=(
            "The address `tilik access` writes into the client configs it issues (agencies' and "
            "sites' way in); default: the local broker's TLS listener, else the bootstrap."
        ),
    )
    access_ca_file: Path | None = Field(
        default=None,
        description="The CA (PEM) `tilik access` writes into issued client configs; default: the local broker's CA.",
    )
    camera_secrets_env_prefix: str = Field(
        default=DEFAULT_CAMERA_SECRETS_ENV_PREFIX,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{3,63}$",
        description=(
            "Camera credential references (`admin@env:VAR` in registry records and device "
            "configs) may only name environment variables starting with this prefix; keep no "
            "other secret under it."
        ),
    )
    camera_secrets_dir: Path | None = Field(
        default=None,
        description=(
            "Directory of camera secret files: `admin@file:NAME` reads NAME in it (an absolute "
            "path must lie inside it; `..` and symbolic links out of it are refused). Unset: "
            "file references are refused."
        ),
    )
    vault_key_file: Path | None = Field(
        default=None,
        description=(
            "The vault's key file (`tilik vault keygen`, mode 0600): the private keys that open "
            "sealed device credentials (`vault:<id>` references). Only the connector runtime and "
            "`tilik vault rotate` need it. Unset: `vault:` references do not resolve."
        ),
    )
    vault_public_key_file: Path | None = Field(
        default=None,
        description=(
            "The vault's public key file (`tilik vault public`): what `tilik api` seals a "
            "recorder's password to; it opens nothing. Default: the public keys of "
            "`TILIK_VAULT_KEY_FILE`, when that is set."
        ),
    )
    onvif_push_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#@]+/?$",
        description=(
            "Where cameras can reach this process's ONVIF notification endpoint "
            "(`http://10.20.0.5:8990`; port 0: any free port, advertised as bound). Set: cameras "
            "push their events there (WS-BaseNotification), falling back to PullPoint for those "
            "that cannot reach it. Unset: every camera is pulled (a socket each)."
        ),
    )
    onvif_push_listen: str | None = Field(
        default=None,
        pattern=r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+):\d{1,5}$",
        description=(
            "host:port the ONVIF notification endpoint listens on, when it differs from the "
            "push URL's (behind NAT or a port forward); default: the push URL's host and port."
        ),
    )
    onvif_event_delivery: Literal["auto", "push", "pull"] = Field(
        default="auto",
        description=(
            "How ONVIF cameras deliver events unless a device's config says otherwise: auto "
            "(push where the camera reaches the endpoint, PullPoint otherwise), push, or pull."
        ),
    )
    log_repeat_interval_s: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description=(
            "A warning or error repeated with the same cause is logged once per this many "
            "seconds, with the count of repeats suppressed meanwhile (0: log every one)."
        ),
    )

    probe_allow: tuple[str, ...] = Field(
        default=DEFAULT_PROBE_ALLOW,
        description=(
            "Networks connectors may reach (comma-separated CIDRs): onboarding and the watch "
            "service refuse any other address, so an onboarding request cannot make Tilik probe "
            "what it has no business probing (SSRF). `TILIK_ONVIF_PROBE_ALLOW` is read when "
            "this is unset. Default: loopback and the RFC 1918 private ranges."
        ),
    )
    cache_dir: Path = Field(
        default_factory=lambda: _user_cache_dir(os.environ),
        description="Where downloads are cached.",
        json_schema_extra={DEFAULT_SHOWN: "`$XDG_CACHE_HOME/tilik`, else `~/.cache/tilik`"},
    )
    kafka_cache: Path | None = Field(
        default=None,
        description=(
            "A directory holding (or to hold) the local broker's Kafka jars in `libs/`; "
            "default: `<cache_dir>/kafka/<Kafka version>`."
        ),
    )
    sim_password: SecretStr = Field(
        default=SecretStr("tilik-sim"),
        json_schema_extra={DEFAULT_SHOWN: "`tilik-sim`"},
        description=(
            "The password `tilik simulate` gives simulated devices unless `--password` says "
            "otherwise (`TILIK_SIM_ONVIF_PASSWORD` is read when this is unset)."
        ),
    )
    api_stream_url_template: str | None = Field(
        default=None,
        max_length=1024,
        pattern=r"^https?://[^{}]*\{camera_id\}[^{}]*$",
        description=(
            "The stream gateway's viewing URL of a public camera in `tilik api`'s public catalog, "
            "`{camera_id}` standing for the camera, e.g. "
            "`https://cctv.semarangkota.go.id/watch/{camera_id}`. Unset: no viewing URL."
        ),
    )
    api_public_rate_per_minute: int = Field(
        default=120,
        ge=1,
        le=1_000_000,
        description="Requests one client address may make to `tilik api`'s public catalog per minute.",
    )

    @field_validator("probe_allow", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part for part in (p.strip() for p in value.split(",")) if part]
        if not isinstance(value, list | tuple):
            return value
        networks = []
        for cidr in value:
            try:
                networks.append(str(ipaddress.ip_network(str(cidr).strip(), strict=False)))
            except ValueError:
                raise ValueError(f"not a network: {cidr!r}") from None
        return tuple(networks)

    @model_validator(mode="after")
    def _camera_namespace_holds_no_other_secret(self) -> Settings:
        if self.sasl_password_env and self.sasl_password_env.startswith(
            self.camera_secrets_env_prefix
        ):
            raise ValueError(
                "the SASL password variable must not be inside the camera secrets namespace "
                "(TILIK_CAMERA_SECRETS_ENV_PREFIX): a camera reference could then read it"
            )
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, str] = {}
        for name in cls.model_fields:
            for key in (ENV_PREFIX + name.upper(), *LEGACY_ENV.get(name, ())):
                if env.get(key):
                    values[name] = env[key]
                    break
        values.setdefault("cache_dir", str(_user_cache_dir(env)))
        settings = cls.model_validate(values)
        if "bootstrap" not in values:
            # Without TILIK_BOOTSTRAP the client config file says where the broker is.
            found = settings._bootstrap_of_client_config()
            if found:
                settings = settings.model_copy(update={"bootstrap": found})
                # Found, not configured: ``configured_bootstrap`` tells the two apart.
                settings.__pydantic_fields_set__.discard("bootstrap")
        return settings

    def configured_bootstrap(self) -> str | None:
        """The bootstrap given explicitly (``TILIK_BOOTSTRAP``), not one a client config file names."""
        return self.bootstrap if "bootstrap" in self.model_fields_set else None

    def client_config_file(self) -> Path | None:
        """The client config file in effect: TILIK_CLIENT_CONFIG, else the local admin's, if any."""
        if self.client_config is not None:
            return self.client_config
        local_admin = self.state_dir / LOCAL_ADMIN_CONFIG
        return local_admin if local_admin.is_file() else None

    def _bootstrap_of_client_config(self) -> str | None:
        from core.clientconfig import ClientConfig, ClientConfigError

        path = None if self.sasl_username else self.client_config_file()
        if path is None:
            return None
        try:
            return ClientConfig.load(path).bootstrap
        except ClientConfigError:
            # Reported where a client is made (topics.connection), not while reading settings.
            return None

    def sasl_password(self, environ: Mapping[str, str] | None = None) -> SecretStr | None:
        """The SASL password from the variable ``sasl_password_env`` names; None when either is unset."""
        if not self.sasl_password_env:
            return None
        try:
            return resolve_secret(f"env:{self.sasl_password_env}", environ=environ)
        except SecretReferenceError:
            return None

    @classmethod
    def env_names(cls) -> set[str]:
        """Every environment variable these settings read (used to check compose files)."""
        legacy = {key for keys in LEGACY_ENV.values() for key in keys}
        return {ENV_PREFIX + name.upper() for name in cls.model_fields} | legacy


def _user_cache_dir(environ: Mapping[str, str]) -> Path:
    """The XDG base directory for caches, Tilik's subdirectory in it."""
    base = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".cache")
    return Path(base) / "tilik"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
