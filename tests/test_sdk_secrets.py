"""Credential references are confined to the camera secrets namespace, refused (and audited)
before any connection otherwise, and no error or log line ever repeats a value given in a
reference's place."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from click.testing import CliRunner
from pydantic import ValidationError
from sdk_helpers import TopicTail, eventually, running, unique_connector
from structlog.testing import capture_logs

from connectors.onvif.cli import discover_onvif
from connectors.onvif.inventory import parse_inventory
from connectors.sdk.errors import ConfigurationError
from connectors.sdk.example.connector import VENDOR, ExampleConfig
from connectors.sdk.example.simulator import running_recorder
from connectors.sdk.onboard import OnboardOptions, onboard
from connectors.sdk.runtime import RuntimeOptions, WatchService
from connectors.sdk.secrets import (
    CameraSecrets,
    Credentials,
    RefusedReference,
    camera_secret_env,
)
from connectors.sdk.simulator import run_loopback_site
from core.secrets import SecretReferenceError, resolve_secret
from core.settings import DEFAULT_CAMERA_SECRETS_ENV_PREFIX, Settings, get_settings
from hub.routing.loader import RoutesError, load_routes
from topics.admin import apply_catalog
from topics.catalog import AUDIT, CAMERA_REGISTRY, CAMERA_STATUS, all_topics
from topics.client import CatalogProducer
from topics.examples import camera_record
from topics.identity import camera_id, device_id
from topics.models import AuditRecord, CameraRecord

PLANTED = "hunter2-Zq9x"
# A secret of the process that is not a camera's: the webhook signing secret's variable.
WEBHOOK_ENV = "TILIK_TEST_WEBHOOK_SECRET"

# Values given where a reference belongs: the secret itself, user:password, half a reference.
NOT_REFERENCES = [
    PLANTED,
    f"admin:{PLANTED}",
    f"admin@{PLANTED}",
    f"{PLANTED}@",
    f"env:{PLANTED}",
    f"admin:{PLANTED}@env:TILIK_CAMERA_SECRET_X",
    f"file:{PLANTED}\n",
    f"admin@env:{PLANTED} ",
]


@pytest.fixture
def camera_namespace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A camera secrets directory configured through the environment, as a deployment does."""
    directory = tmp_path / "camera-secrets"
    directory.mkdir()
    monkeypatch.setenv("TILIK_CAMERA_SECRETS_DIR", str(directory))
    get_settings.cache_clear()
    yield directory
    monkeypatch.delenv("TILIK_CAMERA_SECRETS_DIR")
    get_settings.cache_clear()


# --- settings ---------------------------------------------------------------------------------


def test_the_namespace_settings_have_safe_defaults_and_read_the_environment(tmp_path: Path):
    defaults = Settings.from_env({})
    assert defaults.camera_secrets_env_prefix == DEFAULT_CAMERA_SECRETS_ENV_PREFIX
    assert DEFAULT_CAMERA_SECRETS_ENV_PREFIX == "TILIK_CAMERA_SECRET_"
    assert defaults.camera_secrets_dir is None  # file references are refused until configured
    configured = Settings.from_env(
        {
            "TILIK_CAMERA_SECRETS_ENV_PREFIX": "CAMSECRET_",
            "TILIK_CAMERA_SECRETS_DIR": str(tmp_path),
        }
    )
    assert configured.camera_secrets_env_prefix == "CAMSECRET_"
    assert configured.camera_secrets_dir == tmp_path


def test_the_namespace_cannot_cover_the_sasl_password():
    with pytest.raises(ValidationError, match="camera secrets namespace"):
        Settings.from_env(
            {
                "TILIK_CAMERA_SECRETS_ENV_PREFIX": "KAFKA_",
                "TILIK_SASL_PASSWORD_ENV": "KAFKA_PASSWORD",
            }
        )


# --- environment variables ------------------------------------------------------------------


def test_a_camera_variable_resolves(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TILIK_CAMERA_SECRET_LOBBY", PLANTED)
    monkeypatch.setenv("TILIK_CAMERA_SECRET_NVR", f"operator:{PLANTED}")
    lobby = Credentials.from_ref("admin@env:TILIK_CAMERA_SECRET_LOBBY")
    assert (lobby.username, lobby.password.get_secret_value()) == ("admin", PLANTED)
    nvr = Credentials.from_ref("env:TILIK_CAMERA_SECRET_NVR")
    assert (nvr.username, nvr.password.get_secret_value()) == ("operator", PLANTED)
    assert camera_secret_env("LOBBY") == "TILIK_CAMERA_SECRET_LOBBY"


@pytest.mark.parametrize(
    "ref",
    [
        f"admin@env:{WEBHOOK_ENV}",
        f"env:{WEBHOOK_ENV}",
        "admin@env:HOME",
        "admin@env:TILIK_CAMERA_SECRET_",
    ],
)
def test_a_variable_outside_the_namespace_is_refused(ref: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(WEBHOOK_ENV, f"admin:{PLANTED}")
    monkeypatch.setenv("TILIK_CAMERA_SECRET_", PLANTED)
    with pytest.raises(RefusedReference) as refused:
        Credentials.from_ref(ref)
    assert refused.value.scheme == "env"
    assert refused.value.refusal == "outside_env_prefix"
    assert "outside the camera secrets namespace" in str(refused.value)
    assert PLANTED not in str(refused.value)


# --- files ----------------------------------------------------------------------------------


def test_a_file_in_the_secrets_directory_resolves(camera_namespace: Path):
    (camera_namespace / "lobby").write_text(f"{PLANTED}\n")
    (camera_namespace / "site").mkdir()
    (camera_namespace / "site" / "nvr").write_text(f"operator:{PLANTED}")
    # Kubernetes secret volumes are links inside the directory: those are followed.
    (camera_namespace / "current").symlink_to(camera_namespace / "site")
    assert Credentials.from_ref("admin@file:lobby").password.get_secret_value() == PLANTED
    absolute = Credentials.from_ref(f"admin@file:{camera_namespace / 'lobby'}")
    assert absolute.password.get_secret_value() == PLANTED
    nvr = Credentials.from_ref("file:current/nvr")
    assert (nvr.username, nvr.password.get_secret_value()) == ("operator", PLANTED)


def test_file_references_are_refused_without_a_secrets_directory(tmp_path: Path):
    secret = tmp_path / "secret"
    secret.write_text(PLANTED)
    with pytest.raises(RefusedReference) as refused:
        Credentials.from_ref(f"admin@file:{secret}")
    assert (refused.value.scheme, refused.value.refusal) == ("file", "file_references_disabled")
    assert "TILIK_CAMERA_SECRETS_DIR" in str(refused.value)


@pytest.mark.parametrize(
    ("name", "refusal"),
    [
        ("../outside", "outside_secrets_dir"),
        ("site/../../outside", "outside_secrets_dir"),
        ("{outside}", "outside_secrets_dir"),
        ("/etc/hostname", "outside_secrets_dir"),
        ("escape", "link_out_of_secrets_dir"),
        ("hop/outside", "link_out_of_secrets_dir"),
    ],
)
def test_traversal_and_links_out_of_the_secrets_directory_are_refused(
    camera_namespace: Path, name: str, refusal: str
):
    outside = camera_namespace.parent / "outside"
    outside.write_text(f"admin:{PLANTED}")
    (camera_namespace / "site").mkdir()
    (camera_namespace / "escape").symlink_to(outside)
    (camera_namespace / "hop").symlink_to(camera_namespace.parent)
    ref = f"admin@file:{name.format(outside=outside)}"
    with pytest.raises(RefusedReference) as refused:
        Credentials.from_ref(ref)
    assert (refused.value.scheme, refused.value.refusal) == ("file", refusal)
    assert PLANTED not in str(refused.value)


def test_a_secrets_file_that_is_not_a_small_regular_file_is_not_read(camera_namespace: Path):
    os.mkfifo(camera_namespace / "fifo")  # a writer-less FIFO would block an ordinary read
    (camera_namespace / "huge").write_text("x" * 10_000)
    (camera_namespace / "folder").mkdir()
    for name, problem in [
        ("fifo", "not a regular file"),
        ("huge", "larger than"),
        ("folder", "not a regular file"),
        ("missing", "cannot read file"),
    ]:
        with pytest.raises(ConfigurationError, match=problem):
            Credentials.from_ref(f"admin@file:{name}")


# --- errors never repeat a value given in a reference's place -----------------------------


@pytest.mark.parametrize("given", NOT_REFERENCES)
def test_resolving_a_non_reference_names_no_value(given: str):
    with capture_logs() as logs:
        with pytest.raises(RefusedReference) as camera:
            Credentials.from_ref(given)
        with pytest.raises(SecretReferenceError) as operator:
            resolve_secret(given)
    assert camera.value.scheme == "none" and operator.value.not_a_reference
    for caught in (camera.value, operator.value):
        assert "not a" in str(caught) and "reference" in str(caught)
        assert PLANTED not in str(caught)
    assert PLANTED not in repr(logs)


@pytest.mark.parametrize("given", NOT_REFERENCES)
def test_a_config_with_a_password_for_a_reference_is_invalid_without_repeating_it(given: str):
    with pytest.raises(ValidationError) as caught:
        ExampleConfig(address="127.0.0.1:80", credential_ref=given)
    assert PLANTED not in str(caught.value)
    assert PLANTED not in str([err["msg"] for err in caught.value.errors()])
    assert "not a credential reference" in str(caught.value)


def test_an_inventory_row_and_a_webhook_with_a_password_for_a_reference_repeat_nothing():
    with pytest.raises(ConfigurationError) as inventory:
        parse_inventory(f"address,credential_ref\n127.0.0.1:80,admin:{PLANTED}\n", fmt="csv")
    routes = (
        "agencies:\n  - id: polisi\n    name: Polisi\n    webhook:\n"
        f"      url: https://polisi.example/hook\n      secret_ref: {PLANTED}\n"
        "routes: []\n"
    )
    with pytest.raises(RoutesError) as webhook:
        load_routes(routes)
    for error in (inventory.value, webhook.value):
        assert PLANTED not in str(error)
        assert PLANTED not in str(error.__cause__ or "")
    assert "not a credential reference" in str(inventory.value)
    assert "not a secret reference" in str(webhook.value)


@pytest.mark.parametrize(
    "options",
    [
        ["--credential-ref", PLANTED],
        ["--credential-ref", f"admin:{PLANTED}"],
        ["--credential-ref", f"admin@{PLANTED}"],
        ["--username", "admin", "--password-env", PLANTED],
        ["--credential-ref", f"admin@env:{WEBHOOK_ENV}"],
    ],
)
def test_discover_refuses_a_bad_reference_before_probing_and_repeats_no_value(
    options: list[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(WEBHOOK_ENV, PLANTED)
    with capture_logs() as logs:
        result = CliRunner().invoke(
            discover_onvif, ["--hosts", "127.0.0.1:9", "--dry-run", "--timeout", "1", *options]
        )
    assert PLANTED not in result.output
    assert PLANTED not in repr(logs)
    assert result.exit_code != 0
    assert "reference" in result.output
    assert "probed" not in result.output  # refused before any device was probed


# --- the runtime and onboarding, on a real broker ------------------------------------------


class ChallengingDevice:
    """Whoever runs an allowed address: answers every request with a Digest challenge and keeps
    what it was sent (a connector answering the challenge would hand it a digest of the secret)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._challenge)
        return app

    async def _challenge(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.headers))
        nonce = uuid.uuid4().hex
        challenge = f'Digest realm="cam", qop="auth", nonce="{nonce}", algorithm=MD5'
        return web.Response(status=401, headers={"WWW-Authenticate": challenge})


@pytest.fixture
async def challenging_device() -> AsyncIterator[tuple[ChallengingDevice, str]]:
    device = ChallengingDevice()
    async with run_loopback_site(device.app()) as port:
        yield device, f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def catalog(kafka_bootstrap: str) -> str:
    apply_catalog(all_topics(), bootstrap=kafka_bootstrap, replication_factor=1)
    return kafka_bootstrap


def _serial() -> str:
    return "EXV-" + uuid.uuid4().hex[:10].upper()


def _forged(connector: str, address: str, credential_ref: str, serial: str = "") -> CameraRecord:
    serial = serial or _serial()
    return camera_record(serial).model_copy(
        update={
            "camera_id": camera_id(vendor=VENDOR, serial=serial, channel=1),
            "connector": connector,
            "device_id": device_id(vendor=VENDOR, serial=serial),
            "address": address,
            "credential_ref": credential_ref,
        }
    )


@pytest.mark.kafka
@pytest.mark.timeout(120)
async def test_forged_registry_references_are_refused_before_any_connection_and_audited(
    catalog: str,
    camera_namespace: Path,
    challenging_device: tuple[ChallengingDevice, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attacker, address = challenging_device
    monkeypatch.setenv(WEBHOOK_ENV, PLANTED)
    elsewhere = camera_namespace.parent / "other-secret"
    elsewhere.write_text(PLANTED)
    connector = unique_connector()
    forged = {
        "env": _forged(connector.name, address, f"admin@env:{WEBHOOK_ENV}"),
        "file": _forged(connector.name, address, f"admin@file:{elsewhere}"),
        "none": _forged(connector.name, address, f"admin:{PLANTED}"),
    }
    audit = await TopicTail(catalog, AUDIT).start()
    statuses = await TopicTail(catalog, CAMERA_STATUS).start()
    try:
        async with running_recorder(channels=1) as recorder:
            serial, port = recorder.serial, recorder.port
            # A record inside the namespace, on the same registry, is watched as usual.
            monkeypatch.setenv("TILIK_CAMERA_SECRET_TEST_GOOD", recorder.password)
            good = _forged(
                connector.name,
                f"127.0.0.1:{port}",
                "admin@env:TILIK_CAMERA_SECRET_TEST_GOOD",
                serial=serial,
            )
            async with CatalogProducer(catalog) as producer:
                await producer.send_batch(CAMERA_REGISTRY, [*forged.values(), good])
            service = WatchService(
                connector,
                bootstrap=catalog,
                options=RuntimeOptions(group_id=uuid.uuid4().hex, health_interval_s=0.5),
            )
            with capture_logs() as logs:
                async with running(service):
                    refusals = await audit.wait_for(
                        lambda _k, v: (
                            isinstance(v, AuditRecord)
                            and v.action == "credential_ref_refused"
                            and v.details.get("connector") == connector.name
                        ),
                        count=3,
                    )
                    assert await eventually(lambda: good.device_id in service.watched_devices)
                    assert await statuses.wait_for(
                        lambda _k, v: getattr(v, "camera_id", None) == good.camera_id
                    )
                    # Nothing was sent to the forged records' address, not even a first request.
                    assert attacker.requests == []
                    assert set(service.watched_devices) == {good.device_id}
    finally:
        await audit.stop()
        await statuses.stop()

    by_device = {v.subject: v for _, v in refusals if isinstance(v, AuditRecord)}
    for scheme, record in forged.items():
        entry = by_device[record.device_id]
        assert entry.details["scheme"] == scheme
        assert entry.details["address"] == address
        assert entry.details["cameras"] == record.camera_id
        assert entry.actor == f"connector.{connector.name}"
    refused_logs = [e for e in logs if e["event"] == "device cannot be watched"]
    assert {e["device"] for e in refused_logs} == {r.device_id for r in forged.values()}
    published = [str(v) for tail in (audit, statuses) for _, v in tail.values]
    for text in (*published, repr(logs)):
        assert PLANTED not in text


@pytest.mark.kafka
@pytest.mark.timeout(60)
async def test_onboarding_refuses_and_audits_a_reference_outside_the_namespace(
    catalog: str,
    challenging_device: tuple[ChallengingDevice, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attacker, address = challenging_device
    monkeypatch.setenv(WEBHOOK_ENV, PLANTED)
    connector = unique_connector()
    audit = await TopicTail(catalog, AUDIT).start()
    try:
        with capture_logs() as logs:
            async with CatalogProducer(catalog) as producer:
                summary = await onboard(
                    connector,
                    [{"address": address, "credential_ref": f"admin@env:{WEBHOOK_ENV}"}],
                    producer=producer,
                    options=OnboardOptions(actor="operator-ani"),
                )
        refusals = await audit.wait_for(
            lambda _k, v: (
                isinstance(v, AuditRecord) and v.details.get("connector") == connector.name
            )
        )
    finally:
        await audit.stop()
    assert attacker.requests == []  # the device never got to challenge anyone
    assert "outside the camera secrets namespace" in summary.failed[address].reason
    [(_, entry)] = refusals
    assert isinstance(entry, AuditRecord)
    assert (entry.action, entry.actor, entry.subject) == (
        "credential_ref_refused",
        "operator-ani",
        address,
    )
    assert (entry.details["scheme"], entry.details["refusal"]) == ("env", "outside_env_prefix")
    assert PLANTED not in f"{summary.as_dict()} {entry} {logs}"


@pytest.mark.kafka
@pytest.mark.timeout(60)
def test_the_onboard_command_reports_a_password_for_a_reference_without_repeating_it(
    catalog: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.sdk.cli import connectors as connectors_cli

    connector = unique_connector()
    monkeypatch.setattr("connectors.sdk.registry.load_connector", lambda _name: connector)
    config = tmp_path / "devices.yaml"
    config.write_text(yaml.safe_dump([{"address": "127.0.0.1:9", "credential_ref": PLANTED}]))
    result = CliRunner().invoke(
        connectors_cli, ["onboard", connector.name, "--config", str(config), "--bootstrap", catalog]
    )
    assert result.exit_code == 1, result.output
    assert "not a credential reference" in result.output
    assert PLANTED not in result.output


def test_the_namespace_can_be_given_explicitly(tmp_path: Path):
    (tmp_path / "cam").write_text(PLANTED)
    namespace = CameraSecrets("SITE_CAM_", tmp_path)
    creds = namespace.credentials("admin@file:cam")
    assert creds.password.get_secret_value() == PLANTED
    env = {"SITE_CAM_A": PLANTED, "TILIK_CAMERA_SECRET_A": PLANTED}
    assert namespace.credentials("admin@env:SITE_CAM_A", environ=env).username == "admin"
    with pytest.raises(RefusedReference):
        namespace.credentials("admin@env:TILIK_CAMERA_SECRET_A", environ=env)
