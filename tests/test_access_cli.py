"""``tilik access`` end to end: issued client configs work through TLS, every change is audited,
``apply`` reconciles ACLs, and no planted password reaches a topic, a log line or an error message."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from click.testing import CliRunner
from conftest import Principals
from kafka.admin import ACL, ACLOperation, ACLPermissionType, ResourcePattern, ResourceType

from core.clientconfig import ClientConfig
from core.localkafka import LocalKafka
from core.settings import Settings
from tilik.cli import cli
from topics.access.manage import AccessAdmin, Issuer
from topics.access.roles import agency_role, tenant_role
from topics.admin import admin_client
from topics.catalog import AUDIT, CAMERA_REGISTRY, dispatch_spec, tenant_topics
from topics.client import CatalogProducer, read_table
from topics.connection import AuthenticationRefused, AuthorizationRefused, connection_config
from topics.examples import example
from topics.models import AuditRecord, DeviceEvent, Dispatch

pytestmark = pytest.mark.kafka
TILIK = str(Path(sys.executable).parent / "tilik")


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def tilik(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TILIK, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def issuing_env(session_broker: LocalKafka, kafka_principals: Principals) -> dict[str, str]:
    """What makes `tilik access` issue client configs for the TLS listener."""
    layout = session_broker.layout
    assert layout is not None and layout.tls_bootstrap is not None
    return {
        "TILIK_ACCESS_BOOTSTRAP": layout.tls_bootstrap,
        "TILIK_ACCESS_CA_FILE": str(session_broker.tls_files.ca),
    }


def test_an_added_agency_reads_its_dispatches_through_tls_with_the_issued_config(
    issuing_env: dict[str, str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    name = unique("cli")
    config_path = tmp_path / "agency.properties"
    added = tilik("access", "agency", "add", name, "--out", str(config_path), env=issuing_env)
    assert added.returncode == 0, added.stderr
    issued = ClientConfig.load(config_path)
    assert issued.password is not None
    # Shown once, written once, readable by its owner only.
    assert added.stdout.count(issued.password) == 1
    assert issued.password not in added.stderr
    assert config_path.stat().st_mode & 0o777 == 0o600
    assert (issued.security_protocol, issued.bootstrap) == (
        "SASL_SSL",
        issuing_env["TILIK_ACCESS_BOOTSTRAP"],
    )
    assert issued.ca_pem and "BEGIN CERTIFICATE" in issued.ca_pem

    dispatch = example(Dispatch, seed=name).model_copy(update={"agency": name})

    async def publish() -> None:
        async with CatalogProducer(kafka_bootstrap) as operator:
            await operator.send(dispatch_spec(name), dispatch)

    asyncio.run(publish())
    as_agency = {"TILIK_CLIENT_CONFIG": str(config_path), "TILIK_BOOTSTRAP": ""}
    tail = tilik(
        "tail", "dispatch", "--agency", name, "--from-beginning", "--max", "1",
        "--timeout", "30", "--json", env=as_agency,
    )  # fmt: skip
    assert tail.returncode == 0, tail.stderr
    assert dispatch.dispatch_id in tail.stdout
    refused = tilik("tail", "registry", "--max", "1", "--timeout", "10", env=as_agency)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        f"Error: User:agency-{name} is not allowed to read {CAMERA_REGISTRY.name}"
    )

    again = tilik("access", "agency", "add", name, "--out", str(tmp_path / "again.properties"))
    assert again.returncode == 1 and f"User:agency-{name} exists" in again.stderr
    listed = tilik("access", "agency", "list")
    assert name in listed.stdout and "User:agency-" + name in listed.stdout

    revoked = tilik("access", "agency", "revoke", name)
    assert revoked.returncode == 0, revoked.stderr
    assert "3 ACL(s) removed" in revoked.stdout
    assert name not in tilik("access", "agency", "list").stdout
    after = tilik(
        "tail", "dispatch", "--agency", name, "--max", "1", "--timeout", "10", env=as_agency
    )
    assert after.returncode == 1
    last = after.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"Error: Kafka at {issued.bootstrap} refused the credentials of User:agency-{name}"
    )
    assert issued.password not in after.stderr


def test_apply_removes_acls_the_declaration_does_not_grant_and_leaves_others_alone(
    kafka_principals: Principals, kafka_bootstrap: str, tmp_path: Path
) -> None:
    name = unique("ap")
    access = AccessAdmin(kafka_bootstrap, actor="tests", issuer=Issuer(kafka_bootstrap, None))
    issued = asyncio.run(access.add(agency_role(name), out=tmp_path / "agency.properties"))
    stray = ACL(
        f"User:agency-{name}",
        "*",
        ACLOperation.READ,
        ACLPermissionType.ALLOW,
        ResourcePattern(ResourceType.TOPIC, CAMERA_REGISTRY.name),
    )
    unmanaged = ACL(
        f"User:city-{name}",
        "*",
        ACLOperation.READ,
        ACLPermissionType.ALLOW,
        ResourcePattern(ResourceType.TOPIC, CAMERA_REGISTRY.name),
    )
    with admin_client(kafka_bootstrap) as client:
        assert not client.create_acls([stray, unmanaged])["failed"]
    as_agency = Settings(client_config=issued.path)
    asyncio.run(read_table(CAMERA_REGISTRY, settings=as_agency, timeout_s=60))

    planned = CliRunner().invoke(cli, ["access", "apply", "--dry-run"])
    assert planned.exit_code == 0, planned.output
    assert f"- User:agency-{name} READ topic {CAMERA_REGISTRY.name}" in planned.output
    assert f"city-{name}" not in planned.output
    applied = CliRunner().invoke(cli, ["access", "apply"])
    assert applied.exit_code == 0, applied.output
    with pytest.raises(AuthorizationRefused):
        asyncio.run(read_table(CAMERA_REGISTRY, settings=as_agency, timeout_s=60))
    with admin_client(kafka_bootstrap) as client:
        remaining, _ = client.describe_acls(_principal_filter(f"User:city-{name}"))
    assert len(remaining) == 1
    again = CliRunner().invoke(cli, ["access", "apply"])
    assert "no changes" in again.output


def _principal_filter(principal: str):  # type: ignore[no-untyped-def]
    from kafka.admin import ACLFilter, ACLResourcePatternType, ResourcePatternFilter

    return ACLFilter(
        principal=principal,
        host=None,
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )


@pytest.mark.slow
def test_planted_credentials_appear_in_no_topic_log_line_or_error_message(
    kafka_principals: Principals,
    kafka_bootstrap: str,
    session_broker: LocalKafka,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    agency, tenant = unique("sa"), unique("st")
    access = AccessAdmin(kafka_bootstrap, actor="tests", issuer=Issuer(kafka_bootstrap, None))
    errors: list[str] = []

    async def exercise() -> list[str]:
        first = await access.add(agency_role(agency), out=tmp_path / "agency.properties")
        rotated = await access.rotate(agency_role(agency), out=tmp_path / "rotated.properties")
        site = await access.add(tenant_role(tenant), out=tmp_path / "tenant.properties")
        # The old password is refused, the site writes what it may and is refused the rest.
        for settings, spec in (
            (Settings(client_config=first.path), tenant_topics(tenant).events),
            (Settings(client_config=site.path), CAMERA_REGISTRY),
        ):
            try:
                async with CatalogProducer(settings=settings) as producer:
                    await producer.send(spec, example(spec.value_model))
            except (AuthenticationRefused, AuthorizationRefused) as exc:
                errors.append(str(exc))
        async with CatalogProducer(settings=Settings(client_config=site.path)) as producer:
            await producer.send(tenant_topics(tenant).events, example(DeviceEvent, seed=tenant))
        await access.revoke(agency_role(agency))
        await access.revoke(tenant_role(tenant))
        return [first.password, rotated.password, site.password]

    passwords = asyncio.run(exercise())
    assert len(errors) == 2 and len(set(passwords)) == 3

    planted = [p.encode() for p in passwords]
    records = asyncio.run(everything_on_the_broker(kafka_bootstrap))
    assert records, "the broker's topics were read"
    for topic, blob in records:
        for password in planted:
            assert password not in blob, f"a planted password is on {topic}"
    captured = capsys.readouterr()
    texts = {
        "stdout": captured.out,
        "stderr": captured.err,
        "logs": "\n".join(r.getMessage() for r in caplog.records),
        "errors": "\n".join(errors),
        "broker log": session_broker.log_tail(100_000),
    }
    for where, text in texts.items():
        for password in passwords:
            assert password not in text, f"a planted password is in the {where}"

    audit = [
        record
        for topic, blob in records
        if topic == AUDIT.name
        for record in [_audit(blob)]
        if record is not None
    ]
    trail = {(r.action, r.subject) for r in audit}
    assert {
        ("access.add", f"User:agency-{agency}"),
        ("access.rotate", f"User:agency-{agency}"),
        ("access.revoke", f"User:agency-{agency}"),
        ("access.add", f"User:tenant-{tenant}"),
        ("access.revoke", f"User:tenant-{tenant}"),
    } <= trail


def _audit(blob: bytes) -> AuditRecord | None:
    try:
        return AuditRecord.model_validate_json(blob.split(b"\x00", 1)[0])
    except ValueError:
        return None


async def everything_on_the_broker(bootstrap: str) -> list[tuple[str, bytes]]:
    """Every record of every topic, as (topic, value followed by key and headers)."""
    consumer = AIOKafkaConsumer(**connection_config(bootstrap), group_id=None)
    await consumer.start()
    found: list[tuple[str, bytes]] = []
    try:
        await consumer._client.force_metadata_update()
        topics = await consumer.topics()
        partitions = [
            TopicPartition(topic, p)
            for topic in sorted(topics)
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if end[tp] > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, batch in batches.items():
                for record in batch:
                    headers = b"".join(k.encode() + b"=" + (v or b"") for k, v in record.headers)
                    blob = (record.value or b"") + b"\x00" + (record.key or b"") + headers
                    found.append((tp.topic, blob))
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return found
