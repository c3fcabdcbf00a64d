"""Credential references: configs and registry records name where a secret is, never the secret itself."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.sdk.errors import ConfigurationError

SecretRef = Annotated[
    str,
    Field(
        pattern=r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$",
        description="`env:VAR` or `file:/path/to/secret`.",
    ),
]

CredentialRef = Annotated[
    str,
    Field(
        pattern=r"^([^@:\s/]{1,64}@)?(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$",
        description=(
            "`USER@env:VAR` / `USER@file:/path` (the secret is the password), or `env:VAR` / "
            "`file:/path` whose secret is `user:password`. Never the password itself."
        ),
    ),
]


def resolve_secret(ref: str, *, environ: dict[str, str] | None = None) -> SecretStr:
    """Read the secret a reference points to. Errors name the reference, never the value."""
    env = os.environ if environ is None else environ
    scheme, _, target = ref.partition(":")
    if scheme == "env":
        if target not in env:
            raise ConfigurationError(f"secret reference {ref}: environment variable is not set")
        return SecretStr(env[target])
    if scheme == "file":
        path = Path(target)
        try:
            return SecretStr(path.read_text(encoding="utf-8").rstrip("\r\n"))
        except OSError as exc:
            raise ConfigurationError(
                f"secret reference {ref}: cannot read file ({exc.strerror})"
            ) from None
    raise ConfigurationError(f"secret reference {ref!r} must start with env: or file:")


class Credentials(BaseModel):
    """A user name and password resolved for one device; the password never renders."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str
    password: SecretStr

    @classmethod
    def from_ref(cls, credential_ref: str, *, environ: dict[str, str] | None = None) -> Credentials:
        """Resolve a ``CredentialRef``; errors name the reference, never the secret."""
        username, at, secret_ref = credential_ref.rpartition("@")
        if not at:
            username, secret_ref = "", credential_ref
        secret = resolve_secret(secret_ref, environ=environ).get_secret_value()
        if username:
            return cls(username=username, password=SecretStr(secret))
        user, colon, password = secret.partition(":")
        if not colon or not user:
            raise ConfigurationError(
                f"credential reference {credential_ref}: the secret must be `user:password`"
            )
        return cls(username=user, password=SecretStr(password))

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=SecretStr('**********'))"
