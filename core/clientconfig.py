"""Kafka client config files: who a client is (principal, password, CA) and where the broker is.

The file is a Java ``.properties`` file in the form every Kafka client documents, so an agency's
Java, Python or Go consumer can use what ``tilik access`` wrote, and Tilik itself reads the same
file (``TILIK_CLIENT_CONFIG``, or the local broker's admin file in the state dir)::

    bootstrap.servers=127.0.0.1:9094
    security.protocol=SASL_SSL
    sasl.mechanism=SCRAM-SHA-512
    sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="agency-dishub" password="...";
    ssl.truststore.type=PEM
    ssl.truststore.certificates=-----BEGIN CERTIFICATE-----\\nMII...\\n-----END CERTIFICATE-----\\n

A file holding a password is created with mode 0600 and never rewritten in place. The password
is kept out of ``repr`` and every message this module raises.
"""

from __future__ import annotations

import contextlib
import os
import re
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SECURITY_PROTOCOLS: tuple[SecurityProtocol, ...] = (
    "PLAINTEXT",
    "SSL",
    "SASL_PLAINTEXT",
    "SASL_SSL",
)
SCRAM_MECHANISM = "SCRAM-SHA-512"
SECRET_FILE_MODE = 0o600
_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}
_JAAS_OPTION = re.compile(r'(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"')


class ClientConfigError(ValueError):
    """A client config file is missing, unreadable or incomplete; the message names the file, never a secret."""


@dataclass(frozen=True)
class ClientConfig:
    """One principal's way to a broker. ``password`` never appears in ``repr``."""

    bootstrap: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_pem: str | None = field(default=None, repr=False)
    source: Path | None = None

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def principal(self) -> str:
        """The Kafka principal this config authenticates as (``User:<name>``), for messages."""
        return f"User:{self.username}" if self.username else "User:ANONYMOUS"

    def with_bootstrap(self, bootstrap: str) -> ClientConfig:
        return ClientConfig(
            bootstrap,
            self.security_protocol,
            self.mechanism,
            self.username,
            self.password,
            self.ca_pem,
            self.source,
        )

    def ssl_context(self) -> ssl.SSLContext:
        """Verifies the broker against the file's CA, else against the system trust store."""
        if self.ca_pem:
            return ssl.create_default_context(cadata=self.ca_pem)
        return ssl.create_default_context()

    def kafka_options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka and kafka-python clients (they share these names)."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
        }
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        if self.uses_sasl:
            if not (self.mechanism and self.username and self.password):
                raise ClientConfigError(
                    f"{self._where()}: {self.security_protocol} needs sasl.mechanism and a "
                    "username and password in sasl.jaas.config"
                )
            options["sasl_mechanism"] = self.mechanism
            options["sasl_plain_username"] = self.username
            options["sasl_plain_password"] = self.password
        return options

    def render(self, comment: str = "") -> str:
        """The ``.properties`` text of this config (Java clients read it as it is)."""
        lines = [f"# {line}" if line else "#" for line in comment.splitlines()]
        entries: list[tuple[str, str]] = [
            ("bootstrap.servers", self.bootstrap),
            ("security.protocol", self.security_protocol),
        ]
        if self.uses_sasl and self.mechanism:
            module = _LOGIN_MODULES.get(self.mechanism, _LOGIN_MODULES[SCRAM_MECHANISM])
            entries += [
                ("sasl.mechanism", self.mechanism),
                (
                    "sasl.jaas.config",
                    f'{module} required username="{_jaas_escape(self.username or "")}" '
                    f'password="{_jaas_escape(self.password or "")}";',
                ),
            ]
        if self.uses_tls and self.ca_pem:
            entries += [
                ("ssl.truststore.type", "PEM"),
                ("ssl.truststore.certificates", self.ca_pem),
            ]
        lines += [f"{key}={_escape_value(value)}" for key, value in entries]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str, source: Path | None = None) -> ClientConfig:
        where = str(source) if source is not None else "client config"
        values = parse_properties(text)
        bootstrap = values.get("bootstrap.servers", "").strip()
        if not bootstrap:
            raise ClientConfigError(f"{where}: no bootstrap.servers")
        protocol = values.get("security.protocol", "PLAINTEXT").strip().upper()
        if protocol not in SECURITY_PROTOCOLS:
            raise ClientConfigError(f"{where}: unknown security.protocol {protocol!r}")
        mechanism = values.get("sasl.mechanism", "").strip().upper() or None
        jaas = dict(_JAAS_OPTION.findall(values.get("sasl.jaas.config", "")))
        username = _jaas_unescape(jaas["username"]) if "username" in jaas else None
        password = _jaas_unescape(jaas["password"]) if "password" in jaas else None
        ca_pem = values.get("ssl.truststore.certificates") or None
        location = values.get("ssl.truststore.location")
        if ca_pem is None and location:
            if values.get("ssl.truststore.type", "PEM").upper() != "PEM":
                raise ClientConfigError(f"{where}: only a PEM truststore can be read here")
            ca_path = Path(location)
            if not ca_path.is_absolute() and source is not None:
                ca_path = source.parent / ca_path
            try:
                ca_pem = ca_path.read_text(encoding="ascii")
            except OSError as exc:
                raise ClientConfigError(
                    f"{where}: cannot read the CA {ca_path} ({exc.strerror})"
                ) from None
        config = cls(
            bootstrap=bootstrap,
            security_protocol=protocol,
            mechanism=mechanism,
            username=username,
            password=password,
            ca_pem=ca_pem,
            source=source,
        )
        if config.uses_sasl and not (mechanism and username and password):
            raise ClientConfigError(
                f"{where}: {protocol} needs sasl.mechanism and a username and password in "
                "sasl.jaas.config"
            )
        return config

    @classmethod
    def load(cls, path: Path) -> ClientConfig:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ClientConfigError(
                f"cannot read the Kafka client config {path} ({exc.strerror})"
            ) from None
        return cls.parse(text, source=path)

    def _where(self) -> str:
        return str(self.source) if self.source is not None else "client config"


def write_secret_file(path: Path, text: str, *, replace: bool = False) -> None:
    """Write a file only its owner can read (0600), atomically.

    ``replace=False`` refuses to touch an existing file: a password is written once, not
    overwritten by a second run that could not show the first one's password any more.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not replace and path.exists():
        raise FileExistsError(f"{path} exists; it is not overwritten")
    handle, staged_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    staged = Path(staged_name)
    try:
        os.fchmod(handle, SECRET_FILE_MODE)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        if replace:
            staged.replace(path)
        else:
            # link() fails if the name was taken meanwhile: never two writers of one password file.
            os.link(staged, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            staged.unlink()


def parse_properties(text: str) -> dict[str, str]:
    """Java ``.properties``: ``key=value`` / ``key: value``, ``#`` comments, ``\\`` escapes and continuations."""
    values: dict[str, str] = {}
    logical = ""
    for raw in text.splitlines():
        line = raw.lstrip()
        if not logical and (not line or line[0] in "#!"):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1:
            logical += line[:-1]
            continue
        logical += line
        key, value = _split_pair(logical)
        values[_unescape(key)] = _unescape(value)
        logical = ""
    if logical:
        key, value = _split_pair(logical)
        values[_unescape(key)] = _unescape(value)
    return values


def _split_pair(line: str) -> tuple[str, str]:
    # The key ends at the first unescaped '=', ':' or blank; one separator and blanks follow.
    index = 0
    while index < len(line) and line[index] not in "=: \t":
        index += 2 if line[index] == "\\" else 1
    key = line[:index]
    rest = line[index:].lstrip(" \t")
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(" \t")
    return key, rest


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f"}


def _unescape(text: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != "\\" or index + 1 == len(text):
            out.append(char)
            index += 1
            continue
        nxt = text[index + 1]
        if nxt == "u" and index + 6 <= len(text):
            out.append(chr(int(text[index + 2 : index + 6], 16)))
            index += 6
            continue
        out.append(_ESCAPES.get(nxt, nxt))
        index += 2
    return "".join(out)


def _escape_value(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return escaped.replace("\t", "\\t")


def _jaas_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _jaas_unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)
