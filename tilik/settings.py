"""Process-wide settings, read once from the environment (``TILIK_*``) into a typed model."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ENV_PREFIX = "TILIK_"


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
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password_env: str | None = Field(
        default=None,
        description="Name of the environment variable holding the SASL password (never the password).",
    )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, str] = {}
        for name in cls.model_fields:
            key = ENV_PREFIX + name.upper()
            if key in env and env[key] != "":
                values[name] = env[key]
        return cls.model_validate(values)

    @classmethod
    def env_names(cls) -> set[str]:
        """Every environment variable these settings read (used to check compose files)."""
        return {ENV_PREFIX + name.upper() for name in cls.model_fields}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
