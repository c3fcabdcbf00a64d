"""Process-wide settings, read once from the environment (``TILIK_*``) into a typed model."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ENV_PREFIX = "TILIK_"
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
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    client_config: Path | None = Field(
        default=None,
        description=(
            "Kafka client config file (bootstrap, principal, password, CA) this process connects "
            "with; unset: the local broker's admin file in the state dir, when there is one."
        ),
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
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
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, str] = {}
        for name in cls.model_fields:
            key = ENV_PREFIX + name.upper()
            if key in env and env[key] != "":
                values[name] = env[key]
        settings = cls.model_validate(values)
        if "bootstrap" not in values:
            # Without TILIK_BOOTSTRAP the client config file says where the broker is.
            found = settings._bootstrap_of_client_config()
            if found:
                settings = settings.model_copy(update={"bootstrap": found})
        return settings

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

    @classmethod
    def env_names(cls) -> set[str]:
        """Every environment variable these settings read (used to check compose files)."""
        return {ENV_PREFIX + name.upper() for name in cls.model_fields}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
