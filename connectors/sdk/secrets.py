"""Camera credential references: registry records and device configs name where a camera's
credentials are, never the credentials themselves.

A *credential reference* (``CredentialRef``) is ``USER@env:VAR`` / ``USER@file:NAME`` (the secret
is the password) or ``env:VAR`` / ``file:NAME`` (the secret is ``user:password``): the secret
reference grammar of ``core.secrets`` with a user name. ``vault:ID`` names a credential sealed in
the vault (``connectors.sdk.vault``; its secret is ``user:password``), which resolves only where
a vault source runs (``connectors.sdk.sealed``: the connector runtime with the key file) and only
for a device of the tenant it was sealed for. Credential references arrive in registry
records and device configs, which are input, so they are confined to the camera secrets namespace
(``CameraSecrets``: variables named with ``TILIK_CAMERA_SECRETS_ENV_PREFIX``, files inside
``TILIK_CAMERA_SECRETS_DIR``). A reference outside it is refused (``RefusedReference``) before any
secret is read or any device contacted: a forged record must not make a connector answer a
device's challenge with another of the process's secrets.

Operators' own references (``SecretRef``, ``resolve_secret``: a webhook's signing secret) are
not confined and live in ``core.secrets``. Errors name a reference's kind and location only when
it is a well-formed reference. Anything else may be the secret itself and is never repeated.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr
from pydantic_core import PydanticCustomError

from connectors.sdk.errors import ConfigurationError
from connectors.sdk.sealed import vault_secret
from core.secrets import (
    LOCATION_PATTERN,
    SecretLocation,
    SecretReferenceError,
    parse_secret_ref,
    read_secret_env,
    read_secret_file,
)
from core.settings import get_settings
from topics.models import CREDENTIAL_ID_PATTERN, AuditRecord, utcnow

__all__ = [
    "CameraSecrets",
    "CredentialRef",
    "Credentials",
    "RefusedReference",
    "camera_secret_env",
    "parse_credential_ref",
]

_USER = r"[^@:\s/]{1,64}"
_WITH_USER = re.compile(rf"(?P<user>{_USER})@(?P<location>.*)", re.DOTALL)
_VAULT_ID = CREDENTIAL_ID_PATTERN.removeprefix("^").removesuffix("$")
_VAULT = re.compile(rf"vault:(?P<id>{_VAULT_ID})")

NOT_A_CREDENTIAL_REF = (
    "not a credential reference (expected USER@env:VAR or USER@file:NAME); the value is not shown"
)

Refusal = Literal[
    "not_a_reference",
    "outside_env_prefix",
    "file_references_disabled",
    "outside_secrets_dir",
    "link_out_of_secrets_dir",
]


class RefusedReference(ConfigurationError):
    """A credential reference this process will not resolve: not a reference at all, or one
    outside the camera secrets namespace. ``scheme`` (``env``, ``file``, or ``none`` for text
    that is no reference) and ``refusal`` are safe to log and publish; the text given is not."""

    def __init__(
        self, message: str, *, scheme: str, refusal: Refusal, device: str | None = None
    ) -> None:
        super().__init__(message, device=device)
        self.scheme = scheme
        self.refusal = refusal

    def audit_record(self, *, actor: str, subject: str, details: dict[str, str]) -> AuditRecord:
        """The audit trail of the refusal: which device, which kind of reference, why."""
        return AuditRecord(
            audit_id=f"aud-{uuid.uuid4().hex[:24]}",
            at=utcnow(),
            actor=actor,
            action="credential_ref_refused",
            subject=subject,
            details={**details, "scheme": self.scheme, "refusal": self.refusal},
        )


def parse_credential_ref(text: str) -> tuple[str | None, SecretLocation]:
    """(user name or None, location) of a credential reference; RefusedReference otherwise."""
    with_user = _WITH_USER.fullmatch(text)
    user, rest = (with_user["user"], with_user["location"]) if with_user else (None, text)
    vault = _VAULT.fullmatch(rest)
    if vault is not None:
        return user, SecretLocation("vault", vault["id"])
    try:
        return user, parse_secret_ref(rest, message=NOT_A_CREDENTIAL_REF)
    except SecretReferenceError:
        raise RefusedReference(
            NOT_A_CREDENTIAL_REF, scheme="none", refusal="not_a_reference"
        ) from None


def _credential_ref_form(value: str) -> str:
    try:
        parse_credential_ref(value)
    except RefusedReference:
        raise PydanticCustomError("credential_ref", NOT_A_CREDENTIAL_REF) from None
    return value


# A config field. The message of a refused value never holds it; a model holding one sets
# ``hide_input_in_errors`` so that pydantic's own rendering does not repeat it either.
CredentialRef = Annotated[
    str,
    Field(
        description=(
            "`USER@env:VAR` / `USER@file:NAME` (the secret is the password), or `env:VAR` / "
            "`file:NAME` whose secret is `user:password`, or `vault:ID` (a credential sealed in "
            "the vault). Never the password itself; only variables and files of the camera "
            "secrets namespace resolve."
        ),
        json_schema_extra={"pattern": f"^(?:{_USER}@)?(?:{LOCATION_PATTERN}|vault:{_VAULT_ID})$"},
    ),
    AfterValidator(_credential_ref_form),
]


def _inside(path: str, root: str) -> bool:
    return path != root and os.path.commonpath([path, root]) == root


@dataclass(frozen=True)
class CameraSecrets:
    """The namespace camera credential references may point into."""

    env_prefix: str
    directory: Path | None = None

    @classmethod
    def configured(cls) -> CameraSecrets:
        """The namespace of this process's settings (``TILIK_CAMERA_SECRETS_*``)."""
        settings = get_settings()
        return cls(settings.camera_secrets_env_prefix, settings.camera_secrets_dir)

    def confine(self, credential_ref: str) -> tuple[str | None, SecretLocation]:
        """The parsed reference, or RefusedReference when it leaves the namespace. Reads no secret."""
        username, location = parse_credential_ref(credential_ref)
        if location.scheme == "vault":
            # The vault is a namespace of its own: a sealed record opens only for its tenant.
            return username, location
        if location.scheme == "env":
            name = location.target
            if not (name.startswith(self.env_prefix) and len(name) > len(self.env_prefix)):
                raise RefusedReference(
                    f"secret reference {location}: the variable is outside the camera secrets "
                    f"namespace (names start with {self.env_prefix}; "
                    "TILIK_CAMERA_SECRETS_ENV_PREFIX)",
                    scheme="env",
                    refusal="outside_env_prefix",
                )
        else:
            self._file_path(location)
        return username, location

    def _file_path(self, location: SecretLocation) -> str:
        """The resolved path of a file reference inside the secrets directory."""
        if self.directory is None:
            raise RefusedReference(
                f"secret reference {location}: file references are disabled "
                "(set TILIK_CAMERA_SECRETS_DIR)",
                scheme="file",
                refusal="file_references_disabled",
            )
        root = os.path.realpath(self.directory)
        given = os.path.join(self.directory, location.target)
        if ".." in Path(location.target).parts or not (
            _inside(os.path.abspath(given), os.path.abspath(self.directory))
            or _inside(os.path.abspath(given), root)
        ):
            raise RefusedReference(
                f"secret reference {location}: outside the camera secrets directory "
                "(TILIK_CAMERA_SECRETS_DIR)",
                scheme="file",
                refusal="outside_secrets_dir",
            )
        resolved = os.path.realpath(given)
        if not _inside(resolved, root):
            raise RefusedReference(
                f"secret reference {location}: a link out of the camera secrets directory",
                scheme="file",
                refusal="link_out_of_secrets_dir",
            )
        return resolved

    def read(
        self,
        location: SecretLocation,
        environ: dict[str, str] | None = None,
        *,
        owner: str | None = None,
    ) -> str:
        """The secret at a location already confined by ``confine`` (a vault one: for a device of
        ``owner``)."""
        if location.scheme == "vault":
            return vault_secret(location.target, owner=owner)
        try:
            if location.scheme == "env":
                return read_secret_env(location, environ)
            return read_secret_file(self._file_path(location), location)
        except SecretReferenceError as exc:
            raise ConfigurationError(str(exc)) from None

    def credentials(
        self,
        credential_ref: str,
        *,
        environ: dict[str, str] | None = None,
        owner: str | None = None,
    ) -> Credentials:
        """Resolve a ``CredentialRef`` inside the namespace for a device of ``owner``; errors
        never hold the secret."""
        username, location = self.confine(credential_ref)
        secret = self.read(location, environ, owner=owner)
        if username:
            return Credentials(username=username, password=SecretStr(secret))
        user, colon, password = secret.partition(":")
        if not colon or not user:
            raise ConfigurationError(
                f"credential reference {location}: the secret must be `user:password`"
            )
        return Credentials(username=user, password=SecretStr(password))


def camera_secret_env(name: str) -> str:
    """The variable ``name`` inside the configured camera secrets namespace (``NAME`` -> ``PREFIX_NAME``)."""
    return CameraSecrets.configured().env_prefix + name


class Credentials(BaseModel):
    """A user name and password resolved for one device; the password never renders."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    username: str
    password: SecretStr

    @classmethod
    def from_ref(
        cls,
        credential_ref: str,
        *,
        environ: dict[str, str] | None = None,
        secrets: CameraSecrets | None = None,
        owner: str | None = None,
    ) -> Credentials:
        """Resolve a ``CredentialRef`` in ``secrets`` (default: the configured camera namespace)
        for a device of ``owner`` (a ``vault:`` reference opens only for its tenant)."""
        namespace = secrets if secrets is not None else CameraSecrets.configured()
        return namespace.credentials(credential_ref, environ=environ, owner=owner)

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=SecretStr('**********'))"
