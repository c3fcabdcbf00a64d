"""Secret references: configuration names where a secret is (``env:VAR``, ``file:/path``), never the secret.

Operators' configuration (a webhook's signing secret, the Kafka SASL password) holds a
``SecretRef``; ``resolve_secret`` reads it when the secret is needed. Errors name a
reference's kind and location only when it is a well-formed reference: anything else may be the
secret itself, given where a reference belongs, and is never repeated.

Camera credentials build on this grammar with a user name and a confined namespace
(``connectors.sdk.secrets``): they arrive in device records, which are input.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr
from pydantic_core import PydanticCustomError

__all__ = [
    "LOCATION_PATTERN",
    "MAX_SECRET_BYTES",
    "NOT_A_REF",
    "SecretLocation",
    "SecretRef",
    "SecretReferenceError",
    "parse_secret_ref",
    "read_secret_env",
    "read_secret_file",
    "resolve_secret",
]

#: a secret file is a password or ``user:password``: anything bigger is not one
MAX_SECRET_BYTES = 4096

_ENV_TARGET = r"[A-Za-z_][A-Za-z0-9_]*"
_FILE_TARGET = r"[^\x00-\x1f]{1,1024}"
_TARGETS = {"env": re.compile(_ENV_TARGET), "file": re.compile(_FILE_TARGET)}
_LOCATION = re.compile(r"(?P<scheme>env|file):(?P<target>.*)", re.DOTALL)
#: the JSON Schema pattern of a location (without anchors), for fields that embed one
LOCATION_PATTERN = rf"(?:env:{_ENV_TARGET}|file:{_FILE_TARGET})"

NOT_A_REF = "not a secret reference (expected env:VAR or file:PATH); the value is not shown"

# ``vault`` is a camera credential's location only (``connectors.sdk.secrets``): a sealed record
# opened by the connector runtime; ``parse_secret_ref`` never yields it.
Scheme = Literal["env", "file", "vault"]


class SecretReferenceError(ValueError):
    """A reference that is not one, or whose secret cannot be read. The message never holds a
    secret; ``not_a_reference`` tells text that is no reference (and so is never shown)."""

    def __init__(self, message: str, *, not_a_reference: bool = False) -> None:
        super().__init__(message)
        self.not_a_reference = not_a_reference


@dataclass(frozen=True)
class SecretLocation:
    """Where one secret is: an environment variable or a file (a well-formed reference)."""

    scheme: Scheme
    target: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.target}"


def parse_secret_ref(text: str, *, message: str = NOT_A_REF) -> SecretLocation:
    """``env:VAR`` / ``file:PATH``, or SecretReferenceError(``message``) that does not repeat the text."""
    match = _LOCATION.fullmatch(text)
    if match is not None:
        scheme: Scheme = "env" if match["scheme"] == "env" else "file"
        if _TARGETS[scheme].fullmatch(match["target"]):
            return SecretLocation(scheme, match["target"])
    raise SecretReferenceError(message, not_a_reference=True)


def _secret_ref_form(value: str) -> str:
    try:
        parse_secret_ref(value)
    except SecretReferenceError:
        raise PydanticCustomError("secret_ref", NOT_A_REF) from None
    return value


# A config field. The message of a refused value never holds it; a model holding one sets
# ``hide_input_in_errors`` so that pydantic's own rendering does not repeat it either.
SecretRef = Annotated[
    str,
    Field(
        description="`env:VAR` or `file:/path/to/secret`.",
        json_schema_extra={"pattern": f"^{LOCATION_PATTERN}$"},
    ),
    AfterValidator(_secret_ref_form),
]


def read_secret_file(path: str, location: SecretLocation) -> str:
    """A small regular file's text; never follows a link at the last step, never blocks on a FIFO."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise SecretReferenceError(
            f"secret reference {location}: cannot read file ({exc.strerror})"
        ) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SecretReferenceError(f"secret reference {location}: not a regular file")
        data = os.read(fd, MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise SecretReferenceError(
            f"secret reference {location}: cannot read file ({exc.strerror})"
        ) from None
    finally:
        os.close(fd)
    if len(data) > MAX_SECRET_BYTES:
        raise SecretReferenceError(
            f"secret reference {location}: file is larger than {MAX_SECRET_BYTES} bytes"
        )
    try:
        return data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise SecretReferenceError(f"secret reference {location}: file is not UTF-8") from None


def read_secret_env(location: SecretLocation, environ: Mapping[str, str] | None = None) -> str:
    """The value of the variable an ``env:`` location names (the process environment by default)."""
    env = os.environ if environ is None else environ
    if location.target not in env:
        raise SecretReferenceError(f"secret reference {location}: environment variable is not set")
    return env[location.target]


def resolve_secret(ref: str, *, environ: Mapping[str, str] | None = None) -> SecretStr:
    """Read the secret an operator's reference points to (anywhere the process can read).
    Errors name the reference, never the value."""
    location = parse_secret_ref(ref)
    if location.scheme == "env":
        return SecretStr(read_secret_env(location, environ))
    return SecretStr(read_secret_file(location.target, location))
