"""Kafka connection options from settings: security fields mapped, the SASL password read from its variable."""

from __future__ import annotations

import pytest

from core.settings import Settings
from topics.connection import ConnectionConfigError, connection_config


def test_plaintext_uses_the_given_or_configured_bootstrap(tmp_path):
    # A state dir without a local admin, and no client config: an --insecure broker.
    settings = Settings(bootstrap="10.0.0.1:9092", state_dir=tmp_path)
    assert connection_config(settings=settings) == {
        "bootstrap_servers": "10.0.0.1:9092",
        "security_protocol": "PLAINTEXT",
    }
    assert connection_config("127.0.0.1:1", settings=settings)["bootstrap_servers"] == "127.0.0.1:1"


def test_sasl_ssl_reads_the_password_from_the_named_variable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KAFKA_PW", "s3cret-value")
    settings = Settings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="hub",
        sasl_password_env="KAFKA_PW",
    )
    config = connection_config(settings=settings)
    assert config["sasl_mechanism"] == "SCRAM-SHA-512"
    assert config["sasl_plain_username"] == "hub"
    assert config["sasl_plain_password"] == "s3cret-value"
    assert config["ssl_context"] is not None
    assert "s3cret-value" not in repr(settings)


def test_incomplete_sasl_settings_name_what_is_missing_without_secrets(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.delenv("KAFKA_PW", raising=False)
    settings = Settings(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="hub",
        sasl_password_env="KAFKA_PW",
    )
    with pytest.raises(ConnectionConfigError, match="TILIK_SASL_PASSWORD_ENV"):
        connection_config(settings=settings)
    with pytest.raises(ConnectionConfigError, match="TILIK_SASL_MECHANISM"):
        connection_config(settings=Settings(security_protocol="SASL_SSL"))
