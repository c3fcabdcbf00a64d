"""One ``Settings``: every ``TILIK_*`` variable is a field of it, and nothing else in Tilik reads
its configuration from the environment."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import ValidationError

from connectors.sdk.netpolicy import ProbePolicy
from core.settings import DEFAULT_PROBE_ALLOW, Settings

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "topics", "connectors", "hub", "api", "tilik")
#: modules that may read the environment themselves, and why
READS_ENVIRONMENT = {
    "core/settings.py": "the settings themselves",
    "core/secrets.py": "the variable an `env:` secret reference names",
    "core/localkafka/process.py": "JAVA_HOME, the platform's way to find Java",
}


def environment_reads(path: Path) -> list[int]:
    """Lines of ``path`` that read the environment: ``os.environ``/``os.getenv`` or a click
    ``envvar=``; handing the whole environment to a child process (``{**os.environ, …}``) is not
    a read."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    handed_on = {
        id(value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict)
        for key, value in zip(node.keys, node.values, strict=True)
        if key is None
    }
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in {"environ", "getenv", "environb"}
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            and id(node) not in handed_on
        ):
            lines.append(node.lineno)
        elif isinstance(node, ast.keyword) and node.arg in {"envvar", "auto_envvar_prefix"}:
            lines.append(node.value.lineno)
    return sorted(lines)


def test_no_module_reads_the_environment_outside_settings() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if str(path.relative_to(ROOT)) not in READS_ENVIRONMENT
        for line in environment_reads(path)
    ]
    assert not found, "read a Settings field instead (core/settings.py):\n" + "\n".join(found)


def test_the_environment_check_sees_reads_and_ignores_a_child_process_environment(
    tmp_path: Path,
) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import os\nimport click\n"
        "a = os.environ.get('TILIK_X')\n"
        "b = os.getenv('TILIK_Y')\n"
        "c = click.option('--z', envvar='TILIK_Z')\n"
        "child = {**os.environ, 'TILIK_BOOTSTRAP': 'x'}\n",
        encoding="utf-8",
    )
    assert environment_reads(module) == [3, 4, 5]


def test_the_probe_allow_list_is_a_setting_with_the_older_name_still_read() -> None:
    assert Settings.from_env({}).probe_allow == DEFAULT_PROBE_ALLOW
    wide = Settings.from_env({"TILIK_PROBE_ALLOW": "10.1.2.3/16, 127.0.0.1/32,"})
    assert wide.probe_allow == ("10.1.0.0/16", "127.0.0.1/32")
    legacy = Settings.from_env({"TILIK_ONVIF_PROBE_ALLOW": "192.168.1.0/24"})
    assert legacy.probe_allow == ("192.168.1.0/24",)
    both = {"TILIK_PROBE_ALLOW": "10.0.0.0/8", "TILIK_ONVIF_PROBE_ALLOW": "192.168.1.0/24"}
    assert Settings.from_env(both).probe_allow == ("10.0.0.0/8",)
    policy = ProbePolicy.default({"TILIK_PROBE_ALLOW": "10.0.0.0/8"})
    assert [str(n) for n in policy.allowed] == ["10.0.0.0/8"]
    with pytest.raises(ValidationError, match="not a network"):
        Settings.from_env({"TILIK_PROBE_ALLOW": "10.0.0.0/8,cameras.example"})


def test_the_kafka_cache_and_the_cache_dir_are_settings(tmp_path: Path) -> None:
    assert Settings.from_env({"HOME": "/h"}).cache_dir == Path("/h/.cache/tilik")
    assert Settings.from_env({"XDG_CACHE_HOME": "/c"}).cache_dir == Path("/c/tilik")
    assert Settings.from_env({"TILIK_CACHE_DIR": str(tmp_path)}).cache_dir == tmp_path
    assert Settings.from_env({"TILIK_KAFKA_CACHE": str(tmp_path)}).kafka_cache == tmp_path


def test_the_simulator_password_is_a_setting_never_shown() -> None:
    assert Settings.from_env({}).sim_password.get_secret_value() == "tilik-sim"
    legacy = Settings.from_env({"TILIK_SIM_ONVIF_PASSWORD": "Sandi-Lama-1"})
    assert legacy.sim_password.get_secret_value() == "Sandi-Lama-1"
    current = Settings.from_env(
        {"TILIK_SIM_PASSWORD": "Sandi-Baru-2", "TILIK_SIM_ONVIF_PASSWORD": "Sandi-Lama-1"}
    )
    assert current.sim_password.get_secret_value() == "Sandi-Baru-2"
    assert "Sandi-Baru-2" not in repr(current) and "Sandi-Baru-2" not in str(current)


def test_the_sasl_password_is_read_from_the_variable_its_setting_names() -> None:
    settings = Settings(sasl_password_env="KAFKA_PW")
    password = settings.sasl_password({"KAFKA_PW": "Rahasia-Kafka-5"})
    assert password is not None and password.get_secret_value() == "Rahasia-Kafka-5"
    assert settings.sasl_password({}) is None
    assert Settings().sasl_password({"KAFKA_PW": "x"}) is None


def test_a_bootstrap_found_in_a_client_config_is_not_a_configured_one(tmp_path: Path) -> None:
    config = tmp_path / "client.properties"
    config.write_text("bootstrap.servers=127.0.0.1:19092\nsecurity.protocol=PLAINTEXT\n")
    found = Settings.from_env({"TILIK_CLIENT_CONFIG": str(config)})
    assert found.bootstrap == "127.0.0.1:19092"
    assert found.configured_bootstrap() is None
    given = Settings.from_env({"TILIK_BOOTSTRAP": "127.0.0.1:29092"})
    assert given.configured_bootstrap() == "127.0.0.1:29092"


def test_every_variable_read_is_known_and_every_setting_is_described() -> None:
    names = Settings.env_names()
    assert {"TILIK_PROBE_ALLOW", "TILIK_ONVIF_PROBE_ALLOW", "TILIK_KAFKA_CACHE"} <= names
    assert {"TILIK_SIM_PASSWORD", "TILIK_SIM_ONVIF_PASSWORD", "TILIK_CACHE_DIR"} <= names
    assert not [name for name, field in Settings.model_fields.items() if not field.description]
