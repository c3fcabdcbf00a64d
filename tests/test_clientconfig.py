"""Kafka client config files: the form Java clients read, the password kept out of sight."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.clientconfig import ClientConfig, ClientConfigError, parse_properties, write_secret_file
from core.settings import Settings
from topics.connection import ConnectionConfigError, client_identity, connection_config

PASSWORD = 'p4ss=wo:rd#"quoted\\'
CA = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"


def agency_config(**changes: object) -> ClientConfig:
    values: dict[str, object] = {
        "bootstrap": "kafka.example:9094",
        "security_protocol": "SASL_SSL",
        "mechanism": "SCRAM-SHA-512",
        "username": "agency-dishub",
        "password": PASSWORD,
        "ca_pem": CA,
    }
    values.update(changes)
    return ClientConfig(**values)  # type: ignore[arg-type]


def test_a_config_survives_rendering_and_parsing_and_its_repr_hides_the_password() -> None:
    config = agency_config()
    text = config.render("issued for a test\nsecond line")
    assert text.startswith("# issued for a test\n# second line\n")
    assert ClientConfig.parse(text) == config
    assert PASSWORD not in repr(config)
    properties = parse_properties(text)
    # What a Java client reads: the JAAS line and the PEM truststore.
    assert properties["sasl.jaas.config"].startswith(
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="agency-dishub"'
    )
    assert properties["ssl.truststore.certificates"] == CA


def test_java_properties_syntax_is_understood() -> None:
    text = "! comment\nkey1 : value one\nkey2 value\\\n    continued\nkey3=a\\=b\\u0041\n"
    assert parse_properties(text) == {"key1": "value one", "key2": "valuecontinued", "key3": "a=bA"}


def test_a_truststore_file_is_read_beside_the_config(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text(CA)
    path = tmp_path / "client.properties"
    path.write_text(
        "bootstrap.servers=h:1\nsecurity.protocol=SSL\nssl.truststore.type=PEM\n"
        "ssl.truststore.location=ca.pem\n"
    )
    assert ClientConfig.load(path).ca_pem == CA


def test_incomplete_or_missing_files_are_named_without_the_password(tmp_path: Path) -> None:
    text = agency_config(username=None).render()
    with pytest.raises(ClientConfigError, match=r"needs sasl\.mechanism") as refused:
        ClientConfig.parse(text, tmp_path / "x.properties")
    assert PASSWORD not in str(refused.value)
    with pytest.raises(ClientConfigError, match="cannot read the Kafka client config"):
        ClientConfig.load(tmp_path / "missing.properties")


def test_secret_files_are_private_and_written_once(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "agency.properties"
    write_secret_file(path, "first")
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        write_secret_file(path, "second")
    write_secret_file(path, "third", replace=True)
    assert path.read_text() == "third" and path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["agency.properties"]


def test_the_client_config_file_gives_identity_and_bootstrap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "hub.properties"
    write_secret_file(
        path,
        agency_config(
            username="tilik-hub", ca_pem=None, security_protocol="SASL_PLAINTEXT"
        ).render(),
    )
    for name in ("TILIK_BOOTSTRAP", "TILIK_SASL_USERNAME", "TILIK_SECURITY_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env({"TILIK_CLIENT_CONFIG": str(path)})
    assert settings.bootstrap == "kafka.example:9094"
    options = connection_config(settings=settings)
    assert options["sasl_plain_username"] == "tilik-hub"
    assert options["sasl_plain_password"] == PASSWORD
    # An explicit bootstrap points the same principal elsewhere.
    moved = Settings.from_env({"TILIK_CLIENT_CONFIG": str(path), "TILIK_BOOTSTRAP": "other:1"})
    assert client_identity(moved).bootstrap == "other:1"
    assert client_identity(moved).username == "tilik-hub"


def test_the_local_admin_file_is_found_in_the_state_dir(tmp_path: Path) -> None:
    admin = tmp_path / "kafka" / "admin.properties"
    write_secret_file(
        admin,
        agency_config(
            username="tilik-admin", ca_pem=None, security_protocol="SASL_PLAINTEXT"
        ).render(),
    )
    settings = Settings.from_env({"TILIK_STATE_DIR": str(tmp_path)})
    assert client_identity(settings).username == "tilik-admin"
    assert (
        Settings.from_env({"TILIK_STATE_DIR": str(tmp_path / "none")}).client_config_file() is None
    )


def test_a_missing_client_config_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConnectionConfigError, match=r"missing\.properties"):
        connection_config(settings=Settings(client_config=tmp_path / "missing.properties"))
